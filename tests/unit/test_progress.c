/*
 * Unit tests of the progress line (kps_progress_format): counts, percentage,
 * rate and ETA, and the ETA of a vanishing rate, which must not convert an
 * out-of-range double to long (the sanitize lane's fuzzer found inspect
 * doing so for a file with hostile run times; docs/testing.md).
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "kpsweep/progress.h"
#include "tests/tap.h"

int main(void) {
  char buf[256];
  kps_progress_format(buf, sizeof buf, 50, 200, 0.0, 3);
  tap_ok(strcmp(buf, "50/200 points (25.0%), failed 3") == 0, "no rate: no ETA (%s)", buf);
  kps_progress_format(buf, sizeof buf, 0, 7200, 1.0, 0);
  tap_ok(strstr(buf, "ETA 2:00:00") != NULL, "7200 points at 1/s: ETA 2:00:00 (%s)", buf);
  kps_progress_format(buf, sizeof buf, 10, 10, 5.0, 0);
  tap_ok(strstr(buf, "ETA 0:00:00") != NULL, "done: ETA 0:00:00 (%s)", buf);
  /* ETAs of 100 years (3155760000 s) and more are summarised. */
  kps_progress_format(buf, sizeof buf, 0, 1000, 1e-90, 0);
  tap_ok(strstr(buf, "ETA over 100 years") != NULL, "a vanishing rate: ETA over 100 years (%s)",
         buf);
  kps_progress_format(buf, sizeof buf, 0, UINT64_MAX, DBL_TRUE_MIN, 0);
  tap_ok(strstr(buf, "ETA over 100 years") != NULL, "an infinite ETA: over 100 years (%s)", buf);
  kps_progress_format(buf, sizeof buf, 0, 3155760000u, 1.0, 0);
  tap_ok(strstr(buf, "ETA over 100 years") != NULL, "exactly 100 years: over (%s)", buf);
  kps_progress_format(buf, sizeof buf, 0, 3155759999u, 1.0, 0);
  tap_ok(strstr(buf, "ETA 876599:59:59") != NULL, "just under 100 years: h:mm:ss (%s)", buf);
  char small[16];
  kps_progress_format(small, sizeof small, 123456, 1234567, 2.0, 9);
  tap_ok(strlen(small) == sizeof small - 1, "a short buffer is filled and terminated (%s)", small);
  return tap_done();
}
