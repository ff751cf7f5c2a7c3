/*
 * bench_solve: microseconds per point for steady state + 4 gradients
 * (dO/dtau_1, dO/dtau_2, dO/dL_1, dO/dL_2) along one antagonist line.
 *
 * The line (docs/benchmarks.md): agonist L = 4000 at
 * tau = 4 s, antagonist L = 6000 at tau_2 on 200 points in [0.1, 2.9].
 * For every model at its default constants (adaptive_sorting N = 5, m = 2,
 * K = 2 is the headline):
 *   cold   every point solved with warm = 0 (CVODE from the all-free state)
 *   warm   the first point cold, then warm = 1 from the previous steady state,
 *          the whole line's time divided by its points (amortised)
 *   steady the warm line again without gradients (what the 4 gradients cost)
 * Each route is repeated and the median reported. One thread; the process
 * pins itself to one core unless --no-pin is given.
 *
 * It also reports CVODE steps and Newton iterations per line and the largest
 * relative difference of O (and of the gradients) between the cold and the
 * warm line. The last lines, "RESULT key=value ...", are for scripts.
 *
 * usage: bench_solve [--reps-cold N] [--reps-warm N] [--rtol R] [--quick]
 *                    [--model NAME] [--no-pin]
 */
#define _GNU_SOURCE
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kpsweep/config.h"
#include "kpsweep/model.h"
#include "kpsweep/solver.h"
#include "kpsweep/status.h"

#define NPTS 200
#define TAU2_LO 0.1
#define TAU2_HI 2.9
#define TAU1 4.0
#define L1 4000.0
#define L2 6000.0
#define MAX_REPS 101

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One case of the table. */
typedef struct bench_case {
  const char *label; /* printed */
  const char *model; /* registry name */
  const char *sets;  /* "N=5,m=2" or "" */
} bench_case;

/* Results of one line (one repetition). */
typedef struct line_result {
  double O[NPTS], g[NPTS][4];
  long cv_steps, newton_iters, cold_points, bad_points;
} line_result;

static int apply_sets(const kps_model *m, double *p, const char *sets) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", sets);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    char *eq = strchr(tok, '=');
    if (!eq) return 1;
    *eq = '\0';
    const int j = kps_model_param_index(m, tok);
    if (j < 0) return 1;
    p[j] = atof(eq + 1);
  }
  return 0;
}

/*
 * Solves the whole line once: mode 0 cold every point, 1 warm continuation,
 * 2 warm continuation without gradients, 3 warm continuation whose guess is
 * the secant extrapolation of the two previous steady states (a caller-side
 * predictor; kps_evaluate is unchanged). Returns the wall time (s).
 */
static double run_line(kps_solver *s, const kps_model *m, const double *p, int mode,
                       double *y, line_result *r) {
  double tau[2] = {TAU1, TAU2_LO}, L[2] = {L1, L2};
  double gt[2], gL[2];
  const kps_inputs in = {.p = p, .K = 2, .tau = tau, .L = L};
  kps_eval ev = {.dO_dtau = mode == 2 ? NULL : gt, .dO_dL = mode == 2 ? NULL : gL, .dO_dp = NULL};
  const int n = m->closed_form ? 0 : m->n_state(m, p, 2);
  double yprev[64];
  r->cv_steps = r->newton_iters = r->cold_points = r->bad_points = 0;
  const double t0 = now();
  for (int k = 0; k < NPTS; ++k) {
    tau[1] = TAU2_LO + (TAU2_HI - TAU2_LO) * k / (NPTS - 1);
    const int warm = mode != 0 && k > 0;
    if (mode == 3 && n <= 64) {
      /* equal spacing: y_k ~ 2 y_{k-1} - y_{k-2} */
      for (int j = 0; j < n; ++j) {
        const double yk = y[j];
        if (k >= 2) y[j] = 2.0 * yk - yprev[j];
        yprev[j] = yk;
      }
    }
    kps_evaluate(s, m, &in, y, warm, &ev);
    r->O[k] = ev.O;
    if (mode != 2) r->g[k][0] = gt[0], r->g[k][1] = gt[1], r->g[k][2] = gL[0], r->g[k][3] = gL[1];
    r->cv_steps += ev.stats.cv_steps;
    r->newton_iters += ev.stats.newton_iters;
    r->cold_points += ev.stats.cold;
    r->bad_points += !kps_status_is_ok(ev.status);
  }
  return now() - t0;
}

static double rel_diff(double a, double b) {
  const double s = fmax(fabs(a), fabs(b));
  return s > 0 ? fabs(a - b) / s : 0.0;
}

int main(int argc, char **argv) {
  int reps_cold = 5, reps_warm = 31, pin = 1;
  double rtol = -1;
  const char *only = NULL;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--reps-cold") && i + 1 < argc) reps_cold = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--reps-warm") && i + 1 < argc) reps_warm = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--rtol") && i + 1 < argc) rtol = atof(argv[++i]);
    else if (!strcmp(argv[i], "--model") && i + 1 < argc) only = argv[++i];
    else if (!strcmp(argv[i], "--quick")) reps_cold = 1, reps_warm = 3;
    else if (!strcmp(argv[i], "--no-pin")) pin = 0;
    else {
      fprintf(stderr,
              "usage: bench_solve [--reps-cold N] [--reps-warm N] [--rtol R] [--quick]\n"
              "                   [--model NAME] [--no-pin]\n");
      return 2;
    }
  }
  if (reps_cold < 1) reps_cold = 1;
  if (reps_warm < 1) reps_warm = 1;
  if (reps_cold > MAX_REPS) reps_cold = MAX_REPS;
  if (reps_warm > MAX_REPS) reps_warm = MAX_REPS;
  if (pin) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) pin = 0;
  }

  kps_config cfg;
  kps_config_defaults(&cfg);
  kps_solver_config opt = cfg.solver;
  kps_config_destroy(&cfg);
  if (rtol > 0) opt.rtol = rtol;
  kps_solver *s = NULL;
  if (kps_solver_create(&opt, &s) != KPS_OK) {
    fprintf(stderr, "bench_solve: cannot create the solver\n");
    return 1;
  }

  static const bench_case cases[] = {
      {"adaptive_sorting N=5 m=2", "adaptive_sorting", "N=5,m=2"},
      {"adaptive_sorting N=3 m=1", "adaptive_sorting", "N=3,m=1"},
      {"kpr N=5", "kpr", "N=5"},
      {"shp1 N=5 m=1 (PNAS)", "shp1", "N=5,m=1"},
      {"ideal N=5 m=2", "ideal", "N=5,m=2"},
  };
  const int n_cases = (int)(sizeof cases / sizeof cases[0]);

  printf("bench_solve: %d points, tau2 in [%g, %g], agonist L=%g tau=%g, antagonist L=%g\n",
         NPTS, TAU2_LO, TAU2_HI, L1, TAU1, L2);
  printf("solver: rtol %g, atol_rel %g, newton_tol %g; medians of %d cold / %d warm "
         "repetitions; %s\n\n",
         opt.rtol, opt.atol_rel, opt.newton_tol, reps_cold, reps_warm,
         pin ? "pinned to one core" : "not pinned");
  printf("%-26s %10s %10s %10s %10s %9s %8s %8s %9s %9s %9s %9s\n", "model", "cold", "warm",
         "steady", "secant", "speed-up", "cv steps", "newton", "cv steps", "newton", "max rel",
         "max rel");
  printf("%-26s %10s %10s %10s %10s %9s %8s %8s %9s %9s %9s %9s\n", "", "us/pt", "us/pt",
         "only us/pt", "us/pt", "cold/warm", "cold/pt", "cold/pt", "warm line", "warm line",
         "dO w-c", "dg w-c");
  static line_result cold, warm, tmp, sec;
  int failed = 0;
  char results[4096] = "";
  for (int c = 0; c < n_cases; ++c) {
    const bench_case *bc = &cases[c];
    if (only && strcmp(only, bc->model)) continue;
    const kps_model *m = kps_model_find(bc->model);
    if (!m) {
      printf("%-26s (model not registered)\n", bc->label);
      continue;
    }
    double p[KPS_MAX_PARAMS];
    kps_model_defaults(m, p);
    if (apply_sets(m, p, bc->sets)) {
      printf("%-26s (bad parameter set '%s')\n", bc->label, bc->sets);
      failed = 1;
      continue;
    }
    const int n = kps_model_state_size(m, p, 2);
    double *y = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    if (!y) return 1;
    /* closed forms are too fast for one line per clock read: repeat inside */
    const int inner = m->closed_form ? 1000 : 1;
    double tc[MAX_REPS], tw[MAX_REPS], ts[MAX_REPS], tx[MAX_REPS];

    run_line(s, m, p, 1, y, &warm); /* warm-up (caches, CVODE objects) */
    for (int r = 0; r < reps_cold; ++r) {
      double t = 0;
      for (int k = 0; k < inner; ++k) t += run_line(s, m, p, 0, y, &cold);
      tc[r] = t / inner;
    }
    for (int r = 0; r < reps_warm; ++r) {
      double t = 0;
      for (int k = 0; k < inner; ++k) t += run_line(s, m, p, 1, y, &warm);
      tw[r] = t / inner;
    }
    for (int r = 0; r < reps_warm; ++r) {
      double t = 0;
      for (int k = 0; k < inner; ++k) t += run_line(s, m, p, 2, y, &tmp);
      ts[r] = t / inner;
    }
    for (int r = 0; r < reps_warm; ++r) {
      double t = 0;
      for (int k = 0; k < inner; ++k) t += run_line(s, m, p, 3, y, &sec);
      tx[r] = t / inner;
    }
    const double uc = 1e6 * median(tc, reps_cold) / NPTS;
    const double ux = 1e6 * median(tx, reps_warm) / NPTS;
    const double uw = 1e6 * median(tw, reps_warm) / NPTS;
    const double us = 1e6 * median(ts, reps_warm) / NPTS;
    double dO = 0, dg = 0, dOx = 0;
    for (int k = 0; k < NPTS; ++k) {
      dO = fmax(dO, rel_diff(cold.O[k], warm.O[k]));
      dOx = fmax(dOx, rel_diff(cold.O[k], sec.O[k]));
      /* gradients relative to the largest of the four at that point */
      double gs = 0;
      for (int j = 0; j < 4; ++j) gs = fmax(gs, fmax(fabs(cold.g[k][j]), fabs(warm.g[k][j])));
      for (int j = 0; j < 4; ++j)
        if (gs > 0) dg = fmax(dg, fabs(cold.g[k][j] - warm.g[k][j]) / gs);
      if (!isfinite(cold.O[k]) || !isfinite(warm.O[k])) dO = INFINITY;
    }
    printf("%-26s %10.2f %10.3f %10.3f %10.3f %9.0f %8.1f %8.2f %9ld %9ld %9.1e %9.1e\n",
           bc->label, uc, uw, us, ux, uc / uw, (double)cold.cv_steps / NPTS,
           (double)cold.newton_iters / NPTS, warm.cv_steps, warm.newton_iters, dO, dg);
    if (cold.bad_points || warm.bad_points || sec.bad_points || warm.cold_points > 1 ||
        !(dO < 1e-8) || !(dOx < 1e-8)) {
      printf("%-26s   WARNING: %ld cold / %ld warm points failed, %ld warm points fell back "
             "to a cold solve, max rel dO %.1e\n",
             "", cold.bad_points, warm.bad_points, warm.cold_points > 0 ? warm.cold_points - 1 : 0,
             dO);
      if (cold.bad_points || warm.bad_points || sec.bad_points || !(dO < 1e-8) || !(dOx < 1e-8))
        failed = 1;
    }
    char line[512];
    snprintf(line, sizeof line,
             "RESULT model=%s sets=%s cold_us=%.3f warm_us=%.4f steady_us=%.4f "
             "cold_cv_steps=%ld cold_newton=%ld warm_cv_steps=%ld warm_newton=%ld "
             "warm_fallbacks=%ld max_rel_dO=%.3e max_rel_dg=%.3e secant_us=%.4f "
             "secant_newton=%ld secant_cv_steps=%ld secant_max_rel_dO=%.3e\n",
             bc->model, bc->sets[0] ? bc->sets : "-", uc, uw, us, cold.cv_steps,
             cold.newton_iters, warm.cv_steps, warm.newton_iters,
             warm.cold_points > 0 ? warm.cold_points - 1 : 0, dO, dg, ux, sec.newton_iters,
             sec.cv_steps, dOx);
    strncat(results, line, sizeof results - strlen(results) - 1);
    free(y);
  }
  printf("\ncold: CVODE from the all-free state at every point; warm: Newton from the previous\n"
         "point's steady state, first point cold, line time / %d; speed-up = cold / warm.\n"
         "steady only: the warm line without gradients; secant: the warm line with the guess\n"
         "extrapolated from the two previous states by the caller (2 y_k-1 - y_k-2).\n"
         "cv steps and newton: per point for cold, totals over the line for warm.\n"
         "dO w-c: max relative |O_warm - O_cold|; dg w-c: max |g_warm - g_cold| / max_j |g_j|.\n\n",
         NPTS);
  fputs(results, stdout);
  kps_solver_destroy(&s);
  return failed;
}
