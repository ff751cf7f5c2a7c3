/* The proofreading input layer (see kpsweep/defence.h, docs/defence.md). */
#include "kpsweep/defence.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

kps_layer kps_layer_none(void) {
  const kps_layer l = {0, 1, 0, 1.0, 0.0};
  return l;
}

kps_layer kps_layer_make(int N, int m, double theta, double c) {
  const kps_layer l = {1, N, m, theta, c};
  return l;
}

const char *kps_layer_check(const kps_layer *l, char *why, size_t n) {
  why[0] = 0;
  if (!l->on) return why;
  if (l->N < 1 || l->N > 16) snprintf(why, n, "N = %d is not in 1..16", l->N);
  else if (l->m < 0 || l->m >= l->N)
    snprintf(why, n, "m = %d is not in 0..N-1 = %d (T_{N,m} needs m < N)", l->m, l->N - 1);
  else if (!(l->theta > 0 && l->theta <= 1)) snprintf(why, n, "theta = %g is not in (0, 1]", l->theta);
  else if (!(l->c > 0 && l->c <= 1)) snprintf(why, n, "c = %g is not in (0, 1]", l->c);
  return why;
}

/* x^k for a small integer k >= 0, with 0^0 = 1 (the feedback of m = 0). */
static double ipow(double x, int k) {
  double r = 1.0;
  for (int i = 0; i < k; ++i) r *= x;
  return r;
}

void kps_layer_forward(const kps_layer *l, size_t n, const double *x, double *y, double *T,
                       double *D) {
  if (!l->on) {
    memcpy(y, x, n * sizeof *y);
    if (D) *D = 1.0;
    return;
  }
  double M = 0.0;
  for (size_t j = 0; j < n; ++j) M += ipow(x[j], l->m);
  const double d = M / (double)n + l->c;
  const double scale = 1.0 / (ipow(l->theta, l->N - l->m) * d);
  for (size_t i = 0; i < n; ++i) {
    const double t = ipow(x[i], l->N) * scale;
    T[i] = t;
    y[i] = t / (1.0 + t);
  }
  *D = d;
}

void kps_layer_backward(const kps_layer *l, size_t n, const double *x, const double *T, double D,
                        const double *gy, double *gx) {
  if (!l->on) {
    memcpy(gx, gy, n * sizeof *gx);
    return;
  }
  /* h_i = dL/dT_i; dT_i/dx_k = delta_ik N x_i^(N-1) / (theta^(N-m) D)
   * - T_i m x_k^(m-1) / (n D): the second term is the feedback. */
  const double scale = 1.0 / (ipow(l->theta, l->N - l->m) * D);
  double fb = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double h = gy[i] / ((1.0 + T[i]) * (1.0 + T[i]));
    fb += h * T[i];
    gx[i] = h * (double)l->N * ipow(x[i], l->N - 1) * scale;
  }
  if (l->m > 0) {
    const double f = fb * (double)l->m / ((double)n * D);
    for (size_t k = 0; k < n; ++k) gx[k] -= f * ipow(x[k], l->m - 1);
  }
}
