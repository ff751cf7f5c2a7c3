/*
 * A minimal TAP producer for the C tests: each check prints "ok N - what" or
 * "not ok N - what" with both values, and tap_done() prints the plan and
 * returns the exit status (non-zero when any check failed).
 */
#ifndef KPSWEEP_TESTS_TAP_H
#define KPSWEEP_TESTS_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

typedef struct tap_state {
  int n, failed;
} tap_state;

static tap_state tap_ = {0, 0};

static inline int tap_ok(int cond, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ++tap_.n;
  printf("%sok %d - ", cond ? "" : "not ", tap_.n);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  if (!cond) ++tap_.failed;
  fflush(stdout);
  return cond;
}

/* |a - b| <= rtol * max(|a|, |b|) + atol, with NaNs failing. */
static inline int tap_close(double a, double b, double rtol, double atol,
                            const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  double d = fabs(a - b), s = fmax(fabs(a), fabs(b));
  int cond = !isnan(a) && !isnan(b) && d <= rtol * s + atol;
  return tap_ok(cond, "%s: %.17g vs %.17g (rel %.3g)", what, a, b,
                s > 0 ? d / s : d);
}

static inline int tap_done(void) {
  printf("1..%d\n", tap_.n);
  if (tap_.failed) printf("# %d of %d checks failed\n", tap_.failed, tap_.n);
  return tap_.failed ? 1 : 0;
}

#endif
