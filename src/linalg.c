/*
 * Dense LU with partial pivoting (column-major), plain and transposed solves,
 * equilibration and residuals for iterative refinement.
 */
#include "linalg.h"

#include <math.h>

int kps_lu_factor(double *A, int n, int *piv) {
  for (int k = 0; k < n; ++k) {
    double *ck = A + (long)k * n;
    int p = k;
    double best = fabs(ck[k]);
    for (int i = k + 1; i < n; ++i)
      if (fabs(ck[i]) > best) best = fabs(ck[i]), p = i;
    piv[k] = p;
    if (!(best > 0.0) || !isfinite(best)) return 1;
    if (p != k)
      for (int j = 0; j < n; ++j) {
        double *cj = A + (long)j * n, t = cj[k];
        cj[k] = cj[p];
        cj[p] = t;
      }
    const double inv = 1.0 / ck[k];
    for (int i = k + 1; i < n; ++i) ck[i] *= inv;
    for (int j = k + 1; j < n; ++j) {
      double *cj = A + (long)j * n;
      const double a = cj[k];
      if (a != 0.0)
        for (int i = k + 1; i < n; ++i) cj[i] -= a * ck[i];
    }
  }
  return 0;
}

int kps_lu_det_sign(const double *LU, int n, const int *piv) {
  int sign = 1;
  for (int k = 0; k < n; ++k) {
    if (piv[k] != k) sign = -sign;
    if (LU[k + (long)k * n] < 0.0) sign = -sign;
  }
  return sign;
}

void kps_lu_solve(const double *LU, int n, const int *piv, double *b) {
  for (int k = 0; k < n; ++k) {
    if (piv[k] != k) {
      double t = b[k];
      b[k] = b[piv[k]];
      b[piv[k]] = t;
    }
  }
  for (int j = 0; j < n; ++j) {
    const double bj = b[j];
    if (bj != 0.0) {
      const double *cj = LU + (long)j * n;
      for (int i = j + 1; i < n; ++i) b[i] -= bj * cj[i];
    }
  }
  for (int j = n - 1; j >= 0; --j) {
    const double *cj = LU + (long)j * n;
    b[j] /= cj[j];
    const double bj = b[j];
    if (bj != 0.0)
      for (int i = 0; i < j; ++i) b[i] -= bj * cj[i];
  }
}

void kps_lu_solve_transposed(const double *LU, int n, const int *piv, double *b) {
  /* A = P^T L U, so A^T x = b is U^T L^T P x = b. */
  for (int j = 0; j < n; ++j) {
    const double *cj = LU + (long)j * n;
    double s = b[j];
    for (int i = 0; i < j; ++i) s -= cj[i] * b[i];
    b[j] = s / cj[j];
  }
  for (int j = n - 1; j >= 0; --j) {
    const double *cj = LU + (long)j * n;
    double s = b[j];
    for (int i = j + 1; i < n; ++i) s -= cj[i] * b[i];
    b[j] = s;
  }
  for (int k = n - 1; k >= 0; --k) {
    if (piv[k] != k) {
      double t = b[k];
      b[k] = b[piv[k]];
      b[piv[k]] = t;
    }
  }
}

/* The power of two nearest below x > 0 (exact scaling factors). */
static double pow2_floor(double x) {
  int e;
  frexp(x, &e);
  return ldexp(1.0, e - 1);
}

void kps_equilibrate(const double *J, int n, const double *y, double floor_abs, double *rs,
                     double *cs) {
  for (int j = 0; j < n; ++j) cs[j] = pow2_floor(fmax(fabs(y[j]), floor_abs));
  for (int i = 0; i < n; ++i) rs[i] = 0.0;
  for (int j = 0; j < n; ++j) {
    const double *cj = J + (long)j * n;
    for (int i = 0; i < n; ++i) rs[i] = fmax(rs[i], fabs(cj[i]) * cs[j]);
  }
  for (int i = 0; i < n; ++i) rs[i] = rs[i] > 0.0 && isfinite(rs[i]) ? 1.0 / pow2_floor(rs[i]) : 1.0;
}

void kps_scale_matrix(const double *J, int n, const double *rs, const double *cs, double *A) {
  for (int j = 0; j < n; ++j) {
    const double *cj = J + (long)j * n;
    double *aj = A + (long)j * n;
    for (int i = 0; i < n; ++i) aj[i] = rs[i] * cj[i] * cs[j];
  }
}

double kps_residual_transposed(const double *J, int n, const double *x, const double *b,
                               double *r) {
  double worst = 0.0;
  for (int j = 0; j < n; ++j) {
    const double *cj = J + (long)j * n;
    long double s = b[j], mag = fabsl((long double)b[j]);
    for (int i = 0; i < n; ++i) {
      const long double t = (long double)cj[i] * x[i];
      s -= t;
      mag += fabsl(t);
    }
    r[j] = (double)s;
    const double e = mag > 0 ? (double)(fabsl(s) / mag) : (s == 0 ? 0.0 : INFINITY);
    if (!(e <= worst)) worst = e;
  }
  return worst;
}
