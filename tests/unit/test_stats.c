/*
 * Critical points, decision boundaries and attacks (science.md sections 5, 6)
 * against the closed forms of `ideal`:
 *   tau* = tau_c (m T / N)^(1/(N-m)) with T at tau*; p = m - 1 (m > 0) or
 *   N - 1 (m = 0); regime edge for m = 0, critical for m > 0;
 *   L2* from the linear boundary sum_j L_j w(tau_j) = 0,
 *   w(tau) = tau^m (tau^(N-m) - tau_c^(N-m)); FGSM in counts flips exactly
 *   at eps = L2* - L2; descent sends ligands to tau -> 0 for m = 0 and
 *   gathers them near tau* for m >= 1.
 * adaptive_sorting in its ideal limit gives the same statistics within 1 %,
 * and shp1's strongest antagonist lies strictly inside (0, tau_c). PGD of
 * the sweep, and of kps_attack_pgd alone, step for step as a walk that
 * evaluates every step (adaptive_sorting, shp1).
 * Lines are computed through the engine (kps_line_compute) from YAML jobs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "kpsweep/attack.h"
#include "kpsweep/line.h"
#include "kpsweep/results.h"
#include "kpsweep/stats.h"
#include "kpsweep/status.h"

static const double TC = 3.0;

static kps_config *load(const char *yaml) {
  kps_config *cfg = malloc(sizeof *cfg);
  char err[1024];
  kps_config_defaults(cfg);
  if (kps_config_parse(cfg, "test.yaml", yaml, strlen(yaml), err, sizeof err) != KPS_OK) {
    printf("# config error: %s\n", err);
    exit(99);
  }
  return cfg;
}

/* Computes every line of cfg into a new batch. */
static kps_batch *run_lines(const kps_config *cfg) {
  kps_line_worker *w = NULL;
  kps_batch *b = NULL;
  const kps_dims d = kps_config_dims(cfg);
  if (kps_line_worker_create(cfg, &w) || kps_batch_create(&d, 4, &b)) exit(99);
  for (size_t l = 0; l < kps_config_n_lines(cfg); ++l)
    if (kps_line_compute(w, l, b)) exit(99);
  kps_line_worker_destroy(&w);
  return b;
}

static double w_ideal(double tau, double N, double m) { return pow(tau, m) * (pow(tau, N - m) - pow(TC, N - m)); }

static double T_ideal(double N, double m, double t1, double L1, double t2, double L2) {
  return (L1 * pow(t1, N) + L2 * pow(t2, N)) / (pow(TC, N - m) * (L1 * pow(t1, m) + L2 * pow(t2, m)));
}

static void test_ideal_lines(void) {
  kps_config *cfg = load(
      "model: ideal\n"
      "axes:\n  N: {values: [1, 2, 3, 4, 5]}\n  m: {values: [0, 1, 2, 3, 4]}\n"
      "agonist: {tau: 4.0, L: 4000}\n"
      "antagonist:\n  tau: {log: [1.0e-4, 2.9, 400]}\n  L: 6000\n"
      "threshold: {tau_c: 3.0}\n"
      "attacks: {enabled: true, fgsm_eps_L_max: 1.0e9}\n");
  kps_batch *b = run_lines(cfg);
  const size_t n = cfg->tau2.n;
  for (size_t r = 0; r < b->n_lines; ++r) {
    double p[KPS_MAX_PARAMS], L2;
    kps_config_line_params(cfg, b->line_ids[r], p, &L2);
    const double N = p[0], m = p[1];
    if (m >= N) {
      tap_ok(kps_batch_i8(b, F_STATUS, r)[0] == KPS_ST_INVALID_PARAMS, "N=%g m=%g: invalid_params", N, m);
      continue;
    }
    const double ts = *kps_batch_f64(b, F_TAU_STAR, r);
    const int regime = *kps_batch_i8(b, F_REGIME, r);
    const double pe = *kps_batch_f64(b, F_P_EDGE, r);
    if (m == 0) {
      tap_ok(regime == KPS_REGIME_EDGE && isnan(ts), "ideal N=%g m=0: edge regime, no tau* (regime %d)", N, regime);
      tap_ok(*kps_batch_i8(b, F_EDGE_CLASS, r) == KPS_EDGE_STEEP, "ideal N=%g m=0: steep edge", N);
      tap_close(pe, N - 1, 1e-3, 1e-6, "ideal N=%g m=0: edge exponent p = N - 1", N);
    } else if (TC * pow(m * T_ideal(N, m, 4.0, 4000, 2.9, 6000) / N, 1.0 / (N - m)) > 2.9) {
      /* The closed-form tau* at the end of the axis lies beyond it. */
      tap_ok(regime == KPS_REGIME_BEYOND && isnan(ts), "ideal N=%g m=%g: tau* beyond the axis (regime %d)", N, m, regime);
    } else {
      tap_ok(regime == KPS_REGIME_CRITICAL, "ideal N=%g m=%g: critical regime (%d)", N, m, regime);
      tap_ok(*kps_batch_i8(b, F_EDGE_CLASS, r) == (m > 1 ? KPS_EDGE_FLAT : KPS_EDGE_STEEP),
             "ideal N=%g m=%g: edge_class %s", N, m, m > 1 ? "flat" : "steep");
      tap_close(*kps_batch_f64(b, F_FC_MIN, r), *kps_batch_f64(b, F_FC_STAR, r), 1e-12, 0,
                "ideal N=%g m=%g: FC_min = FC(tau*)", N, m);
      const double T = T_ideal(N, m, 4.0, 4000, ts, 6000);
      tap_close(ts, TC * pow(m * T / N, 1.0 / (N - m)), 1e-9, 0,
                "ideal N=%g m=%g: tau* = tau_c (m T/N)^(1/(N-m))", N, m);
      tap_close(*kps_batch_f64(b, F_TAU_STAR_REL, r), ts / TC, 1e-15, 0, "ideal N=%g m=%g: tau*/tau_c", N, m);
      tap_close(*kps_batch_f64(b, F_FC_STAR, r),
                T_ideal(N, m, 4.0, 4000, ts, 6000) / T_ideal(N, m, 4.0, 4000, 1.0, 0.0), 1e-9, 0,
                "ideal N=%g m=%g: FC(tau*)", N, m);
      tap_close(pe, m - 1, 1e-3, 2e-3, "ideal N=%g m=%g: edge exponent p = m - 1", N, m);
      /* tau_infl: where d2T/dtau2^2 = 0 below tau*, checked by central
       * differences of the closed-form gradient around it. */
      const double ti = *kps_batch_f64(b, F_TAU_INFL, r);
      if (m > 1) {
        double g[3];
        for (int k = -1; k <= 1; ++k) {
          const double t = ti * (1 + 1e-3 * k), S_m = 4000 * pow(4, m) + 6000 * pow(t, m),
                       S_N = 4000 * pow(4, N) + 6000 * pow(t, N);
          g[k + 1] = 6000 * pow(t, m - 1) * (N * pow(t, N - m) * S_m - m * S_N) / (S_m * S_m);
        }
        tap_ok(ti > 0 && ti < ts && g[1] <= g[0] && g[1] <= g[2],
               "ideal N=%g m=%g: tau_infl %.6g < tau* is a minimum of dO/dtau2", N, m, ti);
      } else {
        tap_ok(isnan(ti), "ideal N=%g m=1: no interior inflection (%.4g)", N, ti);
      }
    }
    /* Boundaries and FGSM at a few points of the line. */
    const double *L2s = kps_batch_f64(b, F_L2_STAR, r), *L1s = kps_batch_f64(b, F_L1_STAR, r);
    const double *fL = kps_batch_f64(b, F_FGSM_L, r);
    const int8_t *dec = kps_batch_i8(b, F_DECISION, r);
    for (size_t j = 0; j < n; j += 57) {
      const double t2 = cfg->tau2.values[j];
      const double want2 = -4000 * w_ideal(4.0, N, m) / w_ideal(t2, N, m);
      tap_close(L2s[j], want2, 1e-9, 0, "ideal N=%g m=%g tau2=%.4g: L2* on the linear boundary", N, m, t2);
      const double want1 = -6000 * w_ideal(t2, N, m) / w_ideal(4.0, N, m);
      tap_close(L1s[j], want1, 1e-9, 0, "ideal N=%g m=%g tau2=%.4g: L1* on the linear boundary", N, m, t2);
      if (dec[j] == 1)
        tap_close(fL[j], want2 - 6000, 1e-9, 0,
                  "ideal N=%g m=%g tau2=%.4g: FGSM in counts flips exactly at L2* - L2", N, m, t2);
      else
        tap_ok(isnan(fL[j]), "ideal N=%g m=%g tau2=%.4g: FGSM not applicable when already off", N, m, t2);
    }
  }
  kps_batch_destroy(&b);
  kps_config_destroy(cfg);
  free(cfg);
}

static void test_descent(void) {
  const kps_model *m = kps_model_find("ideal");
  kps_config cfg;
  kps_config_defaults(&cfg);
  kps_solver *s = NULL;
  kps_solver_create(&cfg.solver, &s);
  kps_attack_config a = cfg.attack;
  a.enabled = 1, a.descent = 1, a.descent_max_steps = 400, a.bin_width = 0.2, a.descent_eta = 0.05;
  a.n_draw = 2;
  a.draw[0] = (kps_draw_component){0, 3.5, 0.1, 4000};
  a.draw[1] = (kps_draw_component){1, 0.0, 1.0 / 3.0, 300};
  a.tau_max = 6.0, a.seed = 7;
  double tau[KPS_MAX_BINS], L[KPS_MAX_BINS], y[1];
  const int K = kps_attack_histogram(&a, tau, L);
  double total = 0;
  for (int j = 0; j < K; ++j) total += L[j];
  tap_ok(K > 2 && total == 4300, "drawn histogram: %d bins holding all 4300 ligands", K);
  for (int mm = 0; mm <= 3; ++mm) {
    double p[3] = {5, mm, TC};
    kps_probe pr = {.s = s, .m = m, .p = p, .y = y};
    kps_probe_reset(&pr, K, tau, L);
    uint8_t mov[KPS_MAX_BINS];
    kps_attack_movable(&a, TC, K, tau, mov);
    kps_descent_result d;
    kps_attack_descent(&pr, &a, TC, 1.0, mov, &d);
    tap_ok(d.applicable && !d.flipped, "descent N=5 m=%d: runs its steps without flipping (T stays > 1)", mm);
    if (mm == 0) {
      tap_ok(d.frac_near0 == 1.0 && d.tau_mean < a.bin_width,
             "descent N=5 m=0: every moved ligand ends near tau = 0 (share %.3f, mean %.3g)", d.frac_near0, d.tau_mean);
    } else {
      /* tau* of the final histogram: S_k over its bins. */
      double SN = 0, Sm = 0;
      for (int j = 0; j < K; ++j) SN += pr.L[j] * pow(pr.tau[j], 5), Sm += pr.L[j] * pow(pr.tau[j], mm);
      const double T = SN / Sm / pow(TC, 5 - mm), ts = TC * pow(mm * T / 5, 1.0 / (5 - mm));
      tap_close(d.tau_mean, ts, 0.03, 0,
                "descent N=5 m=%d: ligands gather at tau* = %.4g of the final histogram", mm, ts);
      tap_ok(d.frac_near0 == 0.0, "descent N=5 m=%d: none left near tau = 0", mm);
    }
  }
  kps_solver_destroy(&s);
  kps_config_destroy(&cfg);
}

/* adaptive_sorting in the 1 % limit set of science.md 2.3 against ideal, through the engine. */
static void test_as_limit(void) {
  static const struct { int N, m; double delta; } sets[] = {{3, 1, 1e2}, {5, 2, 1e5}};
  for (size_t k = 0; k < 2; ++k) {
    char yaml[1024];
    const char *tail =
        "agonist: {tau: 4.0, L: 4000}\n"
        "antagonist:\n  tau: {linear: [0.1, 2.9, 57]}\n  L: 6000\n"
        "threshold: {tau_c: 3.0}\n";
    snprintf(yaml, sizeof yaml,
             "model: adaptive_sorting\nparams: {N: %d, m: %d, phi: 1.0e-3, kappa: 0.1, R: 1.0e5, delta: %g}\n%s",
             sets[k].N, sets[k].m, sets[k].delta, tail);
    kps_config *as = load(yaml);
    snprintf(yaml, sizeof yaml, "model: ideal\nparams: {N: %d, m: %d}\n%s", sets[k].N, sets[k].m, tail);
    kps_config *id = load(yaml);
    kps_batch *ba = run_lines(as), *bi = run_lines(id);
    tap_ok(*kps_batch_i8(ba, F_REGIME, 0) == KPS_REGIME_CRITICAL, "AS limit N=%d m=%d: critical regime", sets[k].N, sets[k].m);
    tap_close(*kps_batch_f64(ba, F_TAU_STAR, 0), *kps_batch_f64(bi, F_TAU_STAR, 0), 0.01, 0,
              "AS limit N=%d m=%d: tau* within 1 %% of ideal", sets[k].N, sets[k].m);
    tap_close(*kps_batch_f64(ba, F_FC_STAR, 0), *kps_batch_f64(bi, F_FC_STAR, 0), 0.01, 0,
              "AS limit N=%d m=%d: FC(tau*) within 1 %% of ideal", sets[k].N, sets[k].m);
    double worst = 0;
    for (size_t j = 0; j < as->tau2.n; ++j) {
      const double x = kps_batch_f64(ba, F_L2_STAR, 0)[j], y = kps_batch_f64(bi, F_L2_STAR, 0)[j];
      /* The limit holds while ligands do not saturate the receptors (R = 1e5). */
      if (isfinite(y) && y < 0.5e5) worst = fmax(worst, fabs(x / y - 1));
    }
    tap_ok(worst < 0.01, "AS limit N=%d m=%d: L2*(tau2) within 1 %% of ideal where L2* < R/2 (max %.3g %%)",
           sets[k].N, sets[k].m, 100 * worst);
    kps_batch_destroy(&ba), kps_batch_destroy(&bi);
    kps_config_destroy(as), kps_config_destroy(id);
    free(as), free(id);
  }
}

static void test_shp1(void) {
  kps_config *cfg = load("model: shp1\nagonist: {tau: 10.0, L: 1000}\n"
                         "antagonist:\n  tau: {linear: [0.05, 2.95, 59]}\n  L: 10000\n"
                         "threshold: {tau_c: 3.0}\n");
  kps_batch *b = run_lines(cfg);
  const double ts = *kps_batch_f64(b, F_TAU_STAR, 0);
  tap_ok(*kps_batch_i8(b, F_REGIME, 0) == KPS_REGIME_CRITICAL && ts > 0.05 && ts < TC,
         "shp1: the strongest antagonist tau* = %.4g lies strictly inside (0, tau_c)", ts);
  tap_ok(*kps_batch_f64(b, F_FC_STAR, 0) < 1.0, "shp1: FC(tau*) = %.4g < 1 (antagonism)",
         *kps_batch_f64(b, F_FC_STAR, 0));
  kps_batch_destroy(&b);
  kps_config_destroy(cfg);
  free(cfg);
}

/* A falling tau2 axis gives the same line statistics as the rising one. */
static void test_falling_axis(void) {
  const char *up = "model: ideal\nparams: {N: 5, m: 2}\nantagonist:\n  tau: {linear: [0.1, 2.9, 57]}\n";
  const char *down = "model: ideal\nparams: {N: 5, m: 2}\nantagonist:\n  tau: {linear: [2.9, 0.1, 57]}\n";
  kps_config *cu = load(up), *cd = load(down);
  kps_batch *bu = run_lines(cu), *bd = run_lines(cd);
  const kps_field_id f[] = {F_TAU_STAR, F_FC_STAR, F_P_EDGE, F_TAU_INFL};
  const char *names[] = {"tau*", "FC(tau*)", "p", "tau_infl"};
  for (int k = 0; k < 4; ++k)
    tap_close(*kps_batch_f64(bd, f[k], 0), *kps_batch_f64(bu, f[k], 0), 1e-12, 0,
              "falling tau2 axis: %s as on the rising axis", names[k]);
  kps_batch_destroy(&bu), kps_batch_destroy(&bd);
  kps_config_destroy(cu), kps_config_destroy(cd);
  free(cu), free(cd);
}

/* No antagonist (L2 = 0): no antagonism (regime none), not a random regime. */
static void test_flat_line(void) {
  kps_config *cfg = load("model: shp1\nagonist: {tau: 10.0, L: 1000}\n"
                         "antagonist:\n  tau: {linear: [2.95, 0.05, 30]}\n  L: {values: [0, 10000]}\n");
  kps_batch *b = run_lines(cfg);
  tap_ok(*kps_batch_i8(b, F_REGIME, 0) == KPS_REGIME_NONE && isnan(*kps_batch_f64(b, F_TAU_STAR, 0)),
         "L2 = 0: regime none, no tau* (regime %d)", *kps_batch_i8(b, F_REGIME, 0));
  tap_close(*kps_batch_f64(b, F_FC_MIN, 0), 1.0, 1e-12, 0, "L2 = 0: FC_min = 1");
  tap_ok(*kps_batch_i8(b, F_REGIME, 1) == KPS_REGIME_CRITICAL, "L2 = 1e4: critical (regime %d)",
         *kps_batch_i8(b, F_REGIME, 1));
  kps_batch_destroy(&b);
  kps_config_destroy(cfg);
  free(cfg);
}

/*
 * FGSM along the antagonist dose is the dose ray itself: its smallest
 * flipping eps is L2* - L2 wherever that lies below eps_max, also on lines
 * whose response is far from linear (shp1, no antagonist to start with).
 */
static void test_fgsm_matches_boundary(void) {
  kps_config *cfg = load("model: shp1\nagonist: {tau: 10.0, L: 1000}\n"
                         "antagonist:\n  tau: {linear: [0.05, 2.95, 30]}\n  L: {values: [0, 10000]}\n"
                         "attacks: {enabled: true, descent: false}\n");
  kps_batch *b = run_lines(cfg);
  for (size_t r = 0; r < b->n_lines; ++r) {
    const double L2 = cfg->L2.values[r];
    double worst = 0;
    int n = 0;
    for (size_t j = 0; j < cfg->tau2.n; ++j) {
      const double want = kps_batch_f64(b, F_L2_STAR, r)[j] - L2;
      if (kps_batch_i8(b, F_DECISION, r)[j] != 1 || !(want < cfg->attack.fgsm_eps_L_max) ||
          !(kps_batch_f64(b, F_DO_DL2, r)[j] < 0))
        continue;
      worst = fmax(worst, fabs(kps_batch_f64(b, F_FGSM_L, r)[j] / want - 1));
      ++n;
    }
    tap_ok(n >= 5 && worst < 1e-9, "shp1 L2=%g: FGSM in counts flips at L2* - L2 (%d points, max rel %.2g)",
           L2, n, worst);
  }
  kps_batch_destroy(&b);
  kps_config_destroy(cfg);
  free(cfg);
}

/* FGSM in binding times with every ligand movable: the agonist above tau_c
 * moves by eps (its box is widened to hold it), it does not jump to tau_c. */
static void test_fgsm_tau_all(void) {
  const kps_model *m = kps_model_find("ideal");
  kps_config cfg;
  kps_config_defaults(&cfg);
  kps_solver *s = NULL;
  kps_solver_create(&cfg.solver, &s);
  kps_attack_config a = cfg.attack;
  a.enabled = 1, a.movable = KPS_MOVE_ALL, a.fgsm_eps_tau_max = 2.0;
  double p[3] = {5, 2, TC}, tau[2] = {4.0, 1.0}, L[2] = {4000, 6000}, y[1];
  kps_probe pr = {.s = s, .m = m, .p = p, .y = y};
  kps_probe_reset(&pr, 2, tau, L);
  uint8_t mov[2];
  kps_attack_movable(&a, TC, 2, tau, mov);
  kps_fgsm_result r;
  kps_attack_fgsm(&pr, &a, TC, 1.0, mov, 1, NULL, &r);
  /* Closed form: the agonist moves down, the antagonist up, T(4-e, 1+e) = 1. */
  double lo = 0, hi = 2;
  for (int it = 0; it < 200; ++it) {
    const double e = 0.5 * (lo + hi);
    const double t1 = 4 - e, t2 = fmin(1 + e, TC);
    const double T = (4000 * pow(t1, 5) + 6000 * pow(t2, 5)) /
                     (pow(TC, 3) * (4000 * t1 * t1 + 6000 * t2 * t2));
    if (T > 1) lo = e;
    else hi = e;
  }
  tap_close(r.eps_star, hi, 1e-9, 0, "FGSM in binding times, movable all: eps* from T(4 - eps, 1 + eps) = 1");
  kps_solver_destroy(&s);
  kps_config_destroy(&cfg);
}

/*
 * Regimes with significance: ideal over N = 2..6 and m = 0, 0.5, ..., 3
 * (m < N): edge for m = 0, critical for m > 0 (beyond when the closed-form
 * tau* passes the axis), edge_class steep for m <= 1 and flat for m > 1.
 * The table is printed for the record.
 */
static void test_regime_table(void) {
  kps_config *cfg = load(
      "model: ideal\n"
      "axes:\n  N: {values: [2, 3, 4, 5, 6]}\n  m: {linear: [0, 3, 7]}\n"
      "agonist: {tau: 4.0, L: 4000}\n"
      "antagonist:\n  tau: {log: [1.0e-3, 3.0, 300]}\n  L: 6000\n"
      "threshold: {tau_c: 3.0}\n");
  kps_batch *b = run_lines(cfg);
  static const char *rn[] = {"none", "edge", "critical", "beyond"}, *en[] = {"steep", "flat"};
  printf("# ideal regimes (agonist 4000 at 4 s, antagonist 6000 on tau2 in [1e-3, 3] s, fc_tol 1e-3)\n");
  printf("#   N    m  regime    edge_class  tau*/tau_c  FC_min    p_edge\n");
  for (size_t r = 0; r < b->n_lines; ++r) {
    double p[KPS_MAX_PARAMS], L2;
    kps_config_line_params(cfg, b->line_ids[r], p, &L2);
    const double N = p[0], m = p[1];
    if (m >= N) continue;
    const int reg = *kps_batch_i8(b, F_REGIME, r), ec = *kps_batch_i8(b, F_EDGE_CLASS, r);
    printf("# %3g %4g  %-9s %-11s %-11.6g %-9.6g %.4g\n", N, m, reg >= 0 ? rn[reg] : "unknown",
           ec >= 0 ? en[ec] : "unknown", *kps_batch_f64(b, F_TAU_STAR_REL, r),
           *kps_batch_f64(b, F_FC_MIN, r), *kps_batch_f64(b, F_P_EDGE, r));
    const double T3 = T_ideal(N, m, 4.0, 4000, 3.0, 6000);
    const int beyond = m > 0 && TC * pow(m * T3 / N, 1.0 / (N - m)) > 3.0;
    const int want = m == 0 ? KPS_REGIME_EDGE : beyond ? KPS_REGIME_BEYOND : KPS_REGIME_CRITICAL;
    tap_ok(reg == want, "ideal N=%g m=%g: regime %s (got %d)", N, m, rn[want], reg);
    if (want == KPS_REGIME_CRITICAL)
      tap_ok(ec == (m > 1 ? KPS_EDGE_FLAT : KPS_EDGE_STEEP), "ideal N=%g m=%g: edge_class %s (got %d)",
             N, m, m > 1 ? "flat" : "steep", ec);
  }
  kps_batch_destroy(&b);
  kps_config_destroy(cfg);
  free(cfg);
}

/*
 * Significance: antagonists above the agonist raise the output (FC >= 1
 * everywhere: none); a dip shallower than fc_tol is not a critical point.
 */
static void test_regime_significance(void) {
  kps_config *up = load("model: ideal\nparams: {N: 4, m: 1}\nagonist: {tau: 4.0, L: 4000}\n"
                        "antagonist:\n  tau: {linear: [4.5, 6.0, 20]}\n  L: 6000\n");
  kps_batch *b = run_lines(up);
  tap_ok(*kps_batch_i8(b, F_REGIME, 0) == KPS_REGIME_NONE, "FC >= 1 everywhere: regime none (got %d)",
         *kps_batch_i8(b, F_REGIME, 0));
  tap_ok(*kps_batch_f64(b, F_FC_MIN, 0) >= 1.0, "FC >= 1 everywhere: FC_min %.6g >= 1",
         *kps_batch_f64(b, F_FC_MIN, 0));
  kps_batch_destroy(&b);
  kps_config_destroy(up);
  free(up);
  /* A dose so small that the critical dip of N=5, m=2 is about 1e-4 deep:
   * below fc_tol = 1e-3 it is no antagonism; with fc_tol = 1e-5 it is. */
  const char *shallow = "model: ideal\nparams: {N: 5, m: 2}\nagonist: {tau: 4.0, L: 4000}\n"
                        "antagonist:\n  tau: {log: [1.0e-3, 3.5, 200]}\n  L: 0.6\n";
  char tight[512];
  snprintf(tight, sizeof tight, "%sstats: {fc_tol: 1.0e-5}\n", shallow);
  kps_config *c1 = load(shallow), *c2 = load(tight);
  kps_batch *b1 = run_lines(c1), *b2 = run_lines(c2);
  const double dip = 1.0 - *kps_batch_f64(b1, F_FC_MIN, 0);
  tap_ok(dip > 1e-5 && dip < 1e-3, "shallow dip: 1 - FC_min = %.3g, between 1e-5 and 1e-3", dip);
  tap_ok(*kps_batch_i8(b1, F_REGIME, 0) == KPS_REGIME_NONE && isnan(*kps_batch_f64(b1, F_TAU_STAR, 0)),
         "shallow dip, fc_tol 1e-3: none, no tau* (got %d)", *kps_batch_i8(b1, F_REGIME, 0));
  tap_ok(*kps_batch_i8(b2, F_REGIME, 0) == KPS_REGIME_CRITICAL, "shallow dip, fc_tol 1e-5: critical (got %d)",
         *kps_batch_i8(b2, F_REGIME, 0));
  kps_batch_destroy(&b1), kps_batch_destroy(&b2);
  kps_config_destroy(c1), kps_config_destroy(c2);
  free(c1), free(c2);
}

/* The step-by-step PGD: every step evaluated, no shortcut (the reference). */
static void pgd_reference(kps_probe *pr, const kps_attack_config *a, double O_th, const uint8_t *mov,
                          int *flipped, int *steps) {
  double g[4], O, tau0[2] = {pr->tau[0], pr->tau[1]};
  *flipped = *steps = -1;
  if (!kps_status_is_ok(kps_probe_eval(pr, &O, g))) return;
  const int d0 = O > O_th;
  if ((a->direction == KPS_DIR_OFF) != d0) return;
  *flipped = 0, *steps = a->pgd_steps;
  for (int step = 1; step <= a->pgd_steps; ++step) {
    for (int j = 0; j < 2; ++j) {
      if (!mov[j]) continue;
      double t = pr->tau[j] + a->direction * a->pgd_step * ((g[j] > 0) - (g[j] < 0));
      t = fmin(fmax(t, tau0[j] - a->pgd_eps), tau0[j] + a->pgd_eps);
      pr->tau[j] = fmin(fmax(t, fmin(a->tau_min, tau0[j])), fmax(TC, tau0[j]));
    }
    if (!kps_status_is_ok(kps_probe_eval(pr, &O, g))) {
      *flipped = *steps = -2;
      return;
    }
    if ((O > O_th) != d0) {
      *flipped = 1, *steps = step;
      return;
    }
  }
}

/*
 * PGD of the sweep (the walk stopped at a revisited input, and not walked
 * where the line's tau2 curve keeps its decision within pgd_eps) and of
 * kps_attack_pgd alone (as solve runs it) against the step-by-step
 * reference, at every point of ODE lines where it flips at some points.
 */
static void test_pgd_reference(void) {
  static const char *jobs[] = {
      "model: adaptive_sorting\nparams: {N: 5, m: 2}\nagonist: {tau: 4.0, L: 4000}\n"
      "antagonist:\n  tau: {linear: [0.1, 2.9, 40]}\n  L: {values: [6000, 30000]}\n"
      "threshold: {tau_c: 3.0}\nstats: {boundary: false, line_stats: false}\n"
      "attacks: {enabled: true, descent: false, fgsm_L: false}\n",
      "model: shp1\nagonist: {tau: 10.0, L: 1000}\n"
      "antagonist:\n  tau: {linear: [0.05, 2.95, 30]}\n  L: {values: [3000, 10000]}\n"
      "threshold: {tau_c: 3.0, value: 0.11}\nstats: {boundary: false, line_stats: false}\n"
      "attacks: {enabled: true, descent: false, fgsm_L: false, pgd_eps: 1.0, pgd_steps: 40}\n"};
  for (int k = 0; k < 2; ++k) {
    kps_config *cfg = load(jobs[k]);
    kps_batch *b = run_lines(cfg);
    kps_solver *s = NULL;
    kps_solver_create(&cfg->solver, &s);
    double y[256];
    int same = 0, same_direct = 0, total = 0, flips = 0;
    for (size_t r = 0; r < b->n_lines; ++r) {
      double p[KPS_MAX_PARAMS], L2;
      kps_config_line_params(cfg, b->line_ids[r], p, &L2);
      const double O_th = *kps_batch_f64(b, F_O_TH, r);
      for (size_t j = 0; j < cfg->tau2.n; ++j) {
        const double tau[2] = {cfg->agonist_tau, cfg->tau2.values[j]}, L[2] = {cfg->agonist_L, L2};
        uint8_t mov[2];
        kps_attack_movable(&cfg->attack, TC, 2, tau, mov);
        kps_probe pr = {.s = s, .m = cfg->model, .p = p, .y = y};
        kps_probe_reset(&pr, 2, tau, L);
        int fl, st;
        pgd_reference(&pr, &cfg->attack, O_th, mov, &fl, &st);
        kps_probe_reset(&pr, 2, tau, L);
        kps_pgd_result d;
        kps_attack_pgd(&pr, &cfg->attack, TC, O_th, mov, NULL, NULL, &d);
        const int dfl = d.applicable ? d.flipped : -1, dst = d.applicable ? d.steps : -1;
        ++total;
        flips += fl == 1;
        same += kps_batch_i8(b, F_PGD_FLIP, r)[j] == fl && kps_batch_i32(b, F_PGD_STEPS, r)[j] == st;
        same_direct += dfl == fl && dst == st;
      }
    }
    tap_ok(same == total && flips > 0, "%s: PGD of the sweep as the step-by-step walk at %d of %d points (%d flip)",
           cfg->model->name, same, total, flips);
    tap_ok(same_direct == total, "%s: kps_attack_pgd alone as the step-by-step walk at %d of %d points",
           cfg->model->name, same_direct, total);
    kps_solver_destroy(&s);
    kps_batch_destroy(&b);
    kps_config_destroy(cfg);
    free(cfg);
  }
}

int main(void) {
  test_pgd_reference();
  test_regime_table();
  test_regime_significance();
  test_fgsm_matches_boundary();
  test_fgsm_tau_all();
  test_flat_line();
  test_falling_axis();
  test_ideal_lines();
  test_descent();
  test_as_limit();
  test_shp1();
  return tap_done();
}
