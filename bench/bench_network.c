/*
 * A network file against the built-in C model of the same network, side by
 * side in one run: warm continuation along one tau2 line (the solve
 * benchmark's warm column), microseconds per point, and their ratio (the
 * target of docs/networks.md: at most 2).
 * usage: bench_network NETWORK.yaml BUILTIN [REPS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kpsweep/config.h"
#include "kpsweep/model.h"
#include "kpsweep/network.h"
#include "kpsweep/solver.h"

#define NPTS 200

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median wall time (s) of one warm line with gradients. */
static double warm_line(kps_solver *s, const kps_model *m, int reps) {
  double p[KPS_MAX_PARAMS], tau[2] = {10.0, 0.5}, L[2] = {1e3, 1e4}, gt[2], gL[2], y[512];
  double t[101];
  kps_model_defaults(m, p);
  const kps_inputs in = {.p = p, .K = 2, .tau = tau, .L = L};
  kps_eval ev = {.dO_dtau = gt, .dO_dL = gL};
  if (reps > 101) reps = 101;
  for (int r = -1; r < reps; ++r) {
    const double t0 = now();
    for (int k = 0; k < NPTS; ++k) {
      tau[1] = 0.5 + 9.5 * k / (NPTS - 1);
      kps_evaluate(s, m, &in, y, k > 0, &ev);
    }
    if (r >= 0) t[r] = now() - t0;
  }
  qsort(t, (size_t)reps, sizeof t[0], cmp);
  return t[reps / 2];
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_network NETWORK.yaml BUILTIN [REPS]\n");
    return 2;
  }
  const int reps = argc > 3 ? atoi(argv[3]) : 11;
  static char buf[1 << 20];
  FILE *f = fopen(argv[1], "rb");
  if (!f) return perror(argv[1]), 1;
  const size_t len = fread(buf, 1, sizeof buf, f);
  fclose(f);
  char err[1024];
  const kps_model *w = NULL, *b = kps_model_find(argv[2]);
  if (!b) return fprintf(stderr, "unknown model %s\n", argv[2]), 1;
  if (kps_network_parse(argv[1], buf, len, &w, err, sizeof err))
    return fprintf(stderr, "%s\n", err), 1;
  kps_config cfg;
  kps_config_defaults(&cfg);
  kps_solver *s = NULL;
  if (kps_solver_create(&cfg.solver, &s) != KPS_OK) return 1;
  const double tb = warm_line(s, b, reps), tw = warm_line(s, w, reps);
  printf("warm us/point (K=2, defaults, %d points, median of %d): built-in %s %.2f, "
         "network %s %.2f, ratio %.2f (target <= 2)\n",
         NPTS, reps < 1 ? 1 : reps, b->name, 1e6 * tb / NPTS, w->name, 1e6 * tw / NPTS, tw / tb);
  kps_solver_destroy(&s);
  kps_network_destroy(w);
  return 0;
}
