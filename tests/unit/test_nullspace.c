/*
 * The exact left null space (src/nullspace.c) on random small integer
 * stoichiometries: S^T y = 0 for every law, each law 1 (positive) at its
 * own free row and 0 at the others' free rows, and the number of laws equals
 * n_rows - rank(S) (the rank by an independent floating elimination).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "src/nullspace.h"
#include "../tap.h"

static int float_rank(const long long *S, int r, int c) {
  double A[12 * 12];
  for (int i = 0; i < r * c; ++i) A[i] = (double)S[i];
  int rank = 0;
  for (int col = 0; col < c && rank < r; ++col) {
    int p = -1;
    double best = 1e-9;
    for (int i = rank; i < r; ++i)
      if (fabs(A[i * c + col]) > best) best = fabs(A[i * c + col]), p = i;
    if (p < 0) continue;
    for (int k = 0; k < c; ++k) {
      const double t = A[p * c + k];
      A[p * c + k] = A[rank * c + k], A[rank * c + k] = t;
    }
    for (int i = 0; i < r; ++i)
      if (i != rank) {
        const double f = A[i * c + col] / A[rank * c + col];
        for (int k = 0; k < c; ++k) A[i * c + k] -= f * A[rank * c + k];
      }
    ++rank;
  }
  return rank;
}

int main(void) {
  srand(12);
  int bad_null = 0, bad_rank = 0, bad_free = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const int r = 1 + rand() % 12, c = 1 + rand() % 12;
    long long S[12 * 12], laws[12 * 12];
    int free_row[12], order[12], n = -1;
    for (int i = 0; i < r * c; ++i) S[i] = rand() % 3 ? 0 : rand() % 5 - 2;
    /* Duplicated rows and columns make dependencies (laws) likely. */
    if (r > 2 && trial % 2) memcpy(S + (r - 1) * c, S, (size_t)c * sizeof *S);
    for (int i = 0; i < r; ++i) order[i] = r - 1 - i; /* reversed: another pivoting */
    if (kps_left_nullspace(S, r, c, trial % 3 ? order : NULL, laws, free_row, &n)) {
      ++bad_null;
      continue;
    }
    for (int l = 0; l < n; ++l) {
      for (int j = 0; j < c; ++j) {
        long long s = 0;
        for (int i = 0; i < r; ++i) s += laws[l * r + i] * S[i * c + j];
        bad_null += s != 0;
      }
      for (int m = 0; m < n; ++m)
        bad_free += m == l ? laws[l * r + free_row[m]] <= 0 : laws[l * r + free_row[m]] != 0;
    }
    bad_rank += n != r - float_rank(S, r, c);
  }
  tap_ok(bad_null == 0, "S^T y = 0 for every law of 400 random stoichiometries (%d bad)", bad_null);
  tap_ok(bad_free == 0, "each law > 0 at its own free row, 0 at the others' (%d bad)", bad_free);
  tap_ok(bad_rank == 0, "number of laws = rows - rank(S) (%d bad)", bad_rank);
  /* kpr-like: R + L -> C, C -> R + L: laws R + C and L + C with R, L free
   * when ordered last. */
  const long long K[] = {-1, 1, -1, 1, 1, -1}; /* rows R, L, C */
  long long y[9];
  int fr[3], n = 0, ord[] = {2, 0, 1};
  kps_left_nullspace(K, 3, 2, ord, y, fr, &n);
  tap_ok(n == 2 && fr[0] == 0 && fr[1] == 1 && y[0] == 1 && y[2] == 1 && y[1] == 0 &&
             y[4] == 1 && y[5] == 1 && y[3] == 0,
         "binding: laws R + C and L + C, free rows R and L");
  return tap_done();
}
