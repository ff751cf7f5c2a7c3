/*
 * Unit tests of the wall-time estimate (kpsweep validate --calibrate): the
 * SLURM --time format and the extrapolation from timed points to a plan
 * split over workers.
 */
#include <math.h>
#include <string.h>

#include "kpsweep/calibrate.h"
#include "tests/tap.h"

int main(void) {
  char buf[32];
  kps_slurm_time(0.0, buf, sizeof buf);
  tap_ok(strcmp(buf, "00:01:00") == 0, "0 s: one minute (%s)", buf);
  kps_slurm_time(60.0, buf, sizeof buf);
  tap_ok(strcmp(buf, "00:01:00") == 0, "60 s: 00:01:00 (%s)", buf);
  kps_slurm_time(60.5, buf, sizeof buf);
  tap_ok(strcmp(buf, "00:02:00") == 0, "60.5 s rounds up to 00:02:00 (%s)", buf);
  kps_slurm_time(86400.0 * 2 + 3600.0 * 5 + 61.0, buf, sizeof buf);
  tap_ok(strcmp(buf, "2-05:02:00") == 0, "2 d 5 h 1 min 1 s: 2-05:02:00 (%s)", buf);
  kps_slurm_time(INFINITY, buf, sizeof buf);
  tap_ok(strcmp(buf, "UNLIMITED") == 0, "no finite time: UNLIMITED (%s)", buf);

  const kps_calibration c = {.points = 4, .n_points = 100, .seconds = 8.0, .mean_s = 2.0,
                             .min_s = 1.0, .max_s = 3.0, .sd_s = 1.0, .core_s = 200.0};
  tap_ok(kps_calibration_wall(&c, 1, 0) == 200.0, "one rank computes in-process: 100 x 2 s");
  tap_ok(kps_calibration_wall(&c, 2, 0) == 200.0, "two ranks: one worker");
  tap_ok(kps_calibration_wall(&c, 9, 0) == 2.0 * 13, "8 workers: ceil(100 / 8) = 13 points each");
  tap_ok(kps_calibration_wall(&c, 1000, 0) == 2.0, "more workers than points: one point");
  /* High: mean + 2 sd / sqrt(4) = 3 s per point. */
  tap_ok(fabs(kps_calibration_wall(&c, 9, 1) - 3.0 * 13) < 1e-12, "high estimate: + 2 standard errors");
  kps_calibration all = c;
  all.points = all.n_points;
  tap_ok(kps_calibration_wall(&all, 9, 1) == kps_calibration_wall(&all, 9, 0),
         "every point timed: the high estimate is the estimate");
  return tap_done();
}
