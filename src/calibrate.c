/* Timed calibration of a job for a wall-time estimate (see calibrate.h). */
#include "kpsweep/calibrate.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kpsweep/line.h"
#include "kpsweep/progress.h"
#include "kpsweep/results.h"

/* Element k of the base-2 van der Corput sequence, in [0, 1). */
static double van_der_corput(uint64_t k) {
  double x = 0.0, f = 0.5;
  for (; k; k >>= 1, f *= 0.5)
    if (k & 1u) x += f;
  return x;
}

/* Computes every L2 line of parameter point `point`; its time in *dt. */
static kps_err time_point(kps_line_worker *w, kps_batch *b, const kps_config *cfg, size_t point,
                          double *dt) {
  kps_err rc = KPS_OK;
  const size_t n_L2 = cfg->L2.n;
  kps_batch_clear(b);
  const double t0 = kps_now();
  for (size_t j = 0; j < n_L2; ++j) KPS_CHECK(kps_line_compute(w, (uint64_t)(point * n_L2 + j), b));
  *dt = kps_now() - t0;
cleanup:
  return rc;
}

kps_err kps_calibrate(const kps_config *cfg, double budget_s, size_t max_points,
                      kps_calibration *out) {
  kps_err rc = KPS_OK;
  kps_line_worker *w = NULL;
  kps_batch *b = NULL;
  uint8_t *seen = NULL;
  const size_t n_points = kps_config_n_param_points(cfg);
  *out = (kps_calibration){.n_points = n_points, .min_s = INFINITY};
  KPS_CHECK(kps_line_worker_create(cfg, &w));
  const kps_dims dims = kps_config_dims(cfg);
  KPS_CHECK(kps_batch_create(&dims, cfg->L2.n, &b));
  seen = calloc(n_points, 1);
  KPS_CHECK_ALLOC(seen);
  double sum = 0.0, sum2 = 0.0, dt;
  const double t_start = kps_now();
  int warm = 0;
  for (uint64_t k = 0; out->points < n_points && out->points < max_points; ++k) {
    size_t point = (size_t)(van_der_corput(k) * (double)n_points);
    /* The sequence revisits points of a small plan: take the next new one. */
    while (seen[point]) point = (point + 1) % n_points;
    if (!warm) {
      KPS_CHECK(time_point(w, b, cfg, point, &dt));
      warm = 1;
    }
    KPS_CHECK(time_point(w, b, cfg, point, &dt));
    seen[point] = 1;
    ++out->points;
    sum += dt, sum2 += dt * dt;
    out->min_s = fmin(out->min_s, dt), out->max_s = fmax(out->max_s, dt);
    if (kps_now() - t_start >= budget_s) break;
  }
  const double n = (double)out->points;
  out->seconds = sum;
  out->mean_s = sum / n;
  out->sd_s = n > 1 ? sqrt(fmax(0.0, (sum2 - sum * sum / n) / (n - 1))) : 0.0;
  out->core_s = out->mean_s * (double)n_points;
cleanup:
  free(seen);
  kps_batch_destroy(&b);
  kps_line_worker_destroy(&w);
  return rc;
}

double kps_calibration_wall(const kps_calibration *c, int ranks, int high) {
  const double workers = ranks > 1 ? ranks - 1 : 1;
  double per_point = c->mean_s;
  /* Points not timed: the mean could be off by its standard error. */
  if (high && c->points < c->n_points && c->points > 0)
    per_point += 2.0 * c->sd_s / sqrt((double)c->points);
  /* The work is split in whole lines: the last worker may finish one point late. */
  return per_point * ceil((double)c->n_points / workers);
}

void kps_slurm_time(double seconds, char *buf, size_t n) {
  const double minutes = ceil(fmax(seconds, 1.0) / 60.0);
  if (!(minutes < 1e9)) {
    snprintf(buf, n, "UNLIMITED");
    return;
  }
  const long m = (long)minutes, d = m / 1440, h = m % 1440 / 60, mm = m % 60;
  if (d > 0) snprintf(buf, n, "%ld-%02ld:%02ld:00", d, h, mm);
  else snprintf(buf, n, "%02ld:%02ld:00", h, mm);
}
