/*
 * Small dense LU with partial pivoting, column-major, for the Newton polish
 * and the gradients. The systems here have tens to hundreds of unknowns, so
 * a plain LU beats any library call overhead.
 */
#ifndef KPSWEEP_LINALG_H
#define KPSWEEP_LINALG_H

/* In-place LU of the n x n column-major A; returns 0, or 1 when singular. */
int kps_lu_factor(double *A, int n, int *piv);

/* Solves A x = b in place (b becomes x) with the factors of kps_lu_factor. */
void kps_lu_solve(const double *LU, int n, const int *piv, double *b);

/* Solves A^T x = b in place with the same factors. */
void kps_lu_solve_transposed(const double *LU, int n, const int *piv, double *b);

/* The sign of det(A) (+1 or -1) from the factors of kps_lu_factor. */
int kps_lu_det_sign(const double *LU, int n, const int *piv);

/*
 * Equilibration of a steady-state Jacobian: column scales from the state
 * (cs[j] = max(|y[j]|, floor)), then row scales making every row's largest
 * entry of R J C about 1. All scales are powers of two, so scaling is exact.
 * Without them a state spanning 1e20 loses its small components to
 * round-off from the large ones in the LU.
 */
void kps_equilibrate(const double *J, int n, const double *y, double floor_abs, double *rs,
                     double *cs);

/* A <- diag(rs) J diag(cs), column-major n x n (A may not alias J). */
void kps_scale_matrix(const double *J, int n, const double *rs, const double *cs, double *A);

/*
 * Residual r = b - J^T x accumulated in long double, and the componentwise
 * backward error max_i |r_i| / (|J^T| |x| + |b|)_i (Oettli-Prager) of x.
 */
double kps_residual_transposed(const double *J, int n, const double *x, const double *b,
                               double *r);

#endif
