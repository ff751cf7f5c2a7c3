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

#endif
