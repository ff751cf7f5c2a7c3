/* Dense LU with partial pivoting (column-major), plain and transposed solves. */
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
