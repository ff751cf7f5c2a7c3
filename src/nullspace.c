/*
 * Exact left null space by rational Gauss-Jordan elimination of S^T with
 * the columns (species) in a chosen order: the free columns of the reduced
 * form parametrise the null space, so each basis vector is 1 at its own
 * free column and 0 at the others. Stoichiometries are small integers, so
 * 64-bit fractions suffice; overflow is detected, never wrapped.
 */
#include "nullspace.h"

#include <limits.h>
#include <stdlib.h>

typedef struct frac {
  long long n, d; /* d > 0, gcd(n, d) == 1 */
} frac;

static long long gcd(long long a, long long b) {
  if (a < 0) a = -a;
  while (b) {
    long long t = a % b;
    a = b, b = t < 0 ? -t : t;
  }
  return a ? a : 1;
}

static int mk(long long n, long long d, frac *out) {
  if (d == 0) return -1;
  if (d < 0) {
    if (n == LLONG_MIN || d == LLONG_MIN) return -1;
    n = -n, d = -d;
  }
  const long long g = gcd(n, d);
  *out = (frac){n / g, d / g};
  return 0;
}

static int mul(frac a, frac b, frac *out) {
  long long n, d;
  if (__builtin_mul_overflow(a.n, b.n, &n) || __builtin_mul_overflow(a.d, b.d, &d)) return -1;
  return mk(n, d, out);
}

static int sub(frac a, frac b, frac *out) {
  long long x, y, n, d;
  if (__builtin_mul_overflow(a.n, b.d, &x) || __builtin_mul_overflow(b.n, a.d, &y) ||
      __builtin_sub_overflow(x, y, &n) || __builtin_mul_overflow(a.d, b.d, &d))
    return -1;
  return mk(n, d, out);
}

int kps_left_nullspace(const long long *S, int n_rows, int n_cols, const int *order,
                       long long *laws, int *free_row, int *n_laws) {
  int rc = -1;
  /* A = S^T with columns permuted: A[i][c] = S[order[c]][i]. */
  frac *A = calloc((size_t)(n_cols ? n_cols : 1) * (size_t)(n_rows ? n_rows : 1), sizeof *A);
  int *pivot_of = calloc((size_t)(n_rows ? n_rows : 1), sizeof *pivot_of);
  if (!A || !pivot_of) goto cleanup;
#define AT(i, c) A[(size_t)(i) * (size_t)n_rows + (size_t)(c)]
  for (int i = 0; i < n_cols; ++i)
    for (int c = 0; c < n_rows; ++c) AT(i, c) = (frac){S[(size_t)(order ? order[c] : c) * (size_t)n_cols + (size_t)i], 1};
  int rank = 0;
  for (int c = 0; c < n_rows; ++c) {
    pivot_of[c] = -1;
    int p = -1;
    for (int i = rank; i < n_cols && p < 0; ++i)
      if (AT(i, c).n) p = i;
    if (p < 0) continue;
    for (int k = 0; k < n_rows; ++k) {
      const frac t = AT(p, k);
      AT(p, k) = AT(rank, k), AT(rank, k) = t;
    }
    const frac inv = {AT(rank, c).d, AT(rank, c).n};
    frac inv_n;
    if (mk(inv.n, inv.d, &inv_n)) goto cleanup;
    for (int k = 0; k < n_rows; ++k)
      if (mul(AT(rank, k), inv_n, &AT(rank, k))) goto cleanup;
    for (int i = 0; i < n_cols; ++i) {
      if (i == rank || !AT(i, c).n) continue;
      const frac f = AT(i, c);
      for (int k = 0; k < n_rows; ++k) {
        frac t;
        if (mul(f, AT(rank, k), &t) || sub(AT(i, k), t, &AT(i, k))) goto cleanup;
      }
    }
    pivot_of[c] = rank++;
  }
  /* One law per free column f: y_f = 1, y_pivot(c) = -A[row(c)][f]. */
  int n = 0;
  for (int f = 0; f < n_rows; ++f) {
    if (pivot_of[f] >= 0) continue;
    frac y[n_rows > 0 ? n_rows : 1];
    long long l = 1;
    for (int c = 0; c < n_rows; ++c) {
      y[c] = (frac){c == f, 1};
      if (pivot_of[c] >= 0) y[c] = (frac){-AT(pivot_of[c], f).n, AT(pivot_of[c], f).d};
      const long long g = gcd(l, y[c].d);
      if (__builtin_mul_overflow(l / g, y[c].d, &l)) goto cleanup;
    }
    for (int c = 0; c < n_rows; ++c) {
      long long v;
      if (__builtin_mul_overflow(y[c].n, l / y[c].d, &v)) goto cleanup;
      laws[(size_t)n * (size_t)n_rows + (size_t)(order ? order[c] : c)] = v;
    }
    free_row[n++] = order ? order[f] : f;
  }
#undef AT
  *n_laws = n;
  rc = 0;
cleanup:
  free(A);
  free(pivot_of);
  return rc;
}
