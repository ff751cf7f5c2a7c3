/*
 * Steady states and gradients, checked against independent references:
 *  - ideal: T = (tau/tau_c)^(N-m) for one ligand type, the gradient formulas
 *    of science.md section 4, and finite differences (real m too);
 *  - ODE models: residual and mass conservation at the steady state, warm
 *    start = cold solve, every IFT gradient (tau_i, L_i, each continuous
 *    parameter) against central differences of steady states;
 *  - adaptive_sorting: O/O_th -> T_{N,m} within 1 % for the published limit
 *    sets of science.md section 2.3;
 *  - shp1: antagonism of an agonist at tau = 10 s by 1e4 ligands at
 *    tau2 in 0.5..2.5 s.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "kpsweep/config.h"
#include "kpsweep/model.h"
#include "kpsweep/solver.h"
#include "kpsweep/status.h"
#include "kpsweep/threshold.h"

#define MAXN 512

static kps_solver *make_solver(void) {
  kps_config cfg;
  kps_config_defaults(&cfg);
  kps_solver *s = NULL;
  if (kps_solver_create(&cfg.solver, &s) != KPS_OK) exit(99);
  kps_config_destroy(&cfg);
  return s;
}

static double T_closed(double N, double m, double tc, int K, const double *tau, const double *L) {
  double SN = 0, Sm = 0;
  for (int i = 0; i < K; ++i) SN += L[i] * pow(tau[i], N), Sm += L[i] * pow(tau[i], m);
  return SN / (pow(tc, N - m) * Sm);
}

static void test_ideal(kps_solver *s) {
  const kps_model *m = kps_model_find("ideal");
  const double tc = 3.0;
  const double sets[][2] = {{1, 0}, {3, 1}, {5, 2}, {5, 4}, {4.5, 1.5}, {2, 0}};
  for (size_t k = 0; k < sizeof sets / sizeof *sets; ++k) {
    double p[3] = {sets[k][0], sets[k][1], tc}, O_th;
    kps_threshold(s, m, p, 0, 0, tc, NAN, &O_th);
    double tau1 = 2.2, L1 = 1234;
    kps_inputs one = {.p = p, .K = 1, .tau = &tau1, .L = &L1};
    kps_eval ev = {0};
    kps_evaluate(s, m, &one, NULL, 0, &ev);
    tap_close(ev.O / O_th, pow(tau1 / tc, p[0] - p[1]), 1e-14, 0,
              "ideal N=%g m=%g: single ligand T = (tau/tau_c)^(N-m)", p[0], p[1]);
    double tau[3] = {4.0, 1.1, 0.3}, L[3] = {4000, 6000, 2500}, gt[3], gL[3], gp[3];
    kps_inputs in = {.p = p, .K = 3, .tau = tau, .L = L};
    kps_eval e = {.dO_dtau = gt, .dO_dL = gL, .dO_dp = gp};
    kps_evaluate(s, m, &in, NULL, 0, &e);
    const double N = p[0], mm = p[1], T = T_closed(N, mm, tc, 3, tau, L);
    tap_close(O_th, 1.0, 1e-15, 0, "ideal N=%g m=%g: threshold at tau_c is T = 1", N, mm);
    tap_close(e.O, T, 1e-13, 0, "ideal N=%g m=%g: output is T_{N,m} for 3 ligand types", N, mm);
    double Sm = 0, SN = 0;
    for (int i = 0; i < 3; ++i) Sm += L[i] * pow(tau[i], mm), SN += L[i] * pow(tau[i], N);
    for (int i = 0; i < 3; ++i) {
      const double tcnm = pow(tc, N - mm);
      const double dTdL = pow(tau[i], mm) * (pow(tau[i], N - mm) - T * tcnm) / (tcnm * Sm);
      const double dTdt = L[i] * pow(tau[i], mm - 1) * (N * pow(tau[i], N - mm) * Sm - mm * SN) /
                          (tcnm * Sm * Sm);
      tap_close(gL[i], dTdL, 1e-12, 1e-300, "ideal N=%g m=%g: dT/dL_%d formula", N, mm, i);
      tap_close(gt[i], dTdt, 1e-12, 1e-300, "ideal N=%g m=%g: dT/dtau_%d formula", N, mm, i);
    }
    for (int j = 0; j < 3; ++j) {
      const double h = 1e-6;
      double pp[3] = {p[0], p[1], p[2]}, pm[3] = {p[0], p[1], p[2]}, Op, Om;
      pp[j] += h, pm[j] -= h;
      kps_inputs ip = {.p = pp, .K = 3, .tau = tau, .L = L}, im = {.p = pm, .K = 3, .tau = tau, .L = L};
      kps_eval a = {0}, b = {0};
      kps_evaluate(s, m, &ip, NULL, 0, &a);
      kps_evaluate(s, m, &im, NULL, 0, &b);
      Op = a.O, Om = b.O;
      tap_close(gp[j], (Op - Om) / (2 * h), 1e-6, 1e-12, "ideal N=%g m=%g: dO/d%s vs central FD",
                N, mm, m->params[j].name);
    }
  }
}

/* Residual, conservation and every gradient of one ODE point. */
static void check_point(kps_solver *s, const kps_model *m, double *p, int K, double *tau,
                        double *L, const char *label) {
  const int n = m->n_state(m, p, K);
  double y[MAXN], yw[MAXN], f[MAXN], gt[8], gL[8], gp[KPS_MAX_PARAMS];
  kps_inputs in = {.p = p, .K = K, .tau = tau, .L = L};
  kps_eval ev = {.dO_dtau = gt, .dO_dL = gL, .dO_dp = gp};
  int st = kps_evaluate(s, m, &in, y, 0, &ev);
  if (!tap_ok(kps_status_is_ok(st), "%s: cold solve status %s", label, kps_status_name(st))) return;
  m->rhs(m, &in, y, f);
  double worst = 0, amount = 1.0;
  for (int i = 0; i < K; ++i) amount = fmax(amount, L[i]);
  for (int i = 0; i < n; ++i) amount = fmax(amount, fabs(y[i]));
  /* Amounts below 1e-20 of the largest are zero up to round-off. */
  const double zero = 1e-20 * amount;
  for (int i = 0; i < n; ++i) {
    /* Each rate term is bounded by the largest flux into or out of y_i. */
    double scale = (fabs(y[i]) + zero) / fmin(tau[0], 1.0);
    worst = fmax(worst, fabs(f[i]) / scale);
  }
  tap_ok(worst < 1e-9, "%s: residual |f_i| / (|y_i|/tau) = %.2e < 1e-9", label, worst);
  tap_ok(m->check_state(m, &in, y, 1e-12) == 0, "%s: mass conservation (R_f, free ligands >= 0)", label);
  const int R = kps_model_param_index(m, "R");
  double sumC = 0;
  for (int i = 0; i < K; ++i) {
    double Ti = 0;
    for (int k = 0; k <= (int)p[0]; ++k) Ti += y[i * ((int)p[0] + 1) + k];
    sumC += Ti;
    tap_ok(Ti <= L[i] * (1 + 1e-12) + zero, "%s: bound ligand %d (%.6g) <= L (%.6g)", label, i, Ti, L[i]);
  }
  tap_ok(sumC <= p[R] * (1 + 1e-12), "%s: bound receptors %.6g <= R %.6g", label, sumC, p[R]);

  memcpy(yw, y, sizeof(double) * (size_t)n);
  for (int i = 0; i < n; ++i) yw[i] *= 1.0 + 1e-3 * ((i % 3) - 1);
  kps_eval ew = {0};
  kps_evaluate(s, m, &in, yw, 1, &ew);
  tap_close(ew.O, ev.O, 1e-11, 0, "%s: warm start from a perturbed state = cold solve", label);

  /* Central differences of steady states in every differentiable input. */
  const int n_in = 2 * K + m->n_params;
  for (int w = 0; w < n_in; ++w) {
    if (!kps_model_is_differentiable(m, K, w)) continue;
    double *x = w < K ? &tau[w] : w < 2 * K ? &L[w - K] : &p[w - 2 * K];
    const double x0 = *x;
    if (x0 == 0.0) continue;
    const double h = 1e-5 * fabs(x0);
    double Ov[2];
    for (int sgn = 0; sgn < 2; ++sgn) {
      *x = x0 + (sgn ? -h : h);
      double yy[MAXN];
      memcpy(yy, y, sizeof(double) * (size_t)n);
      kps_eval e = {0};
      kps_evaluate(s, m, &in, yy, 1, &e);
      Ov[sgn] = e.O;
    }
    *x = x0;
    const double fd = (Ov[0] - Ov[1]) / (2 * h);
    const double g = w < K ? gt[w] : w < 2 * K ? gL[w - K] : gp[w - 2 * K];
    char what[96];
    if (w < K) snprintf(what, sizeof what, "tau_%d", w);
    else if (w < 2 * K) snprintf(what, sizeof what, "L_%d", w - K);
    else snprintf(what, sizeof what, "%s", m->params[w - 2 * K].name);
    tap_close(g, fd, 2e-6, 1e-9 * fabs(ev.O) / fabs(x0), "%s: dO/d%s (IFT) vs central FD of steady states", label, what);
  }
}

static void test_ode_models(kps_solver *s) {
  const char *names[] = {"kpr", "adaptive_sorting", "shp1"};
  const int cases[][3] = {{1, 0, 1}, {3, 1, 2}, {5, 2, 2}, {5, 4, 3}, {2, 1, 1}};
  for (int k = 0; k < 3; ++k) {
    const kps_model *m = kps_model_find(names[k]);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; ++c) {
      double p[KPS_MAX_PARAMS];
      kps_model_defaults(m, p);
      p[0] = cases[c][0];
      const int im = kps_model_param_index(m, "m");
      if (im >= 0) p[im] = cases[c][1];
      const int K = cases[c][2];
      double tau[3] = {4.0, 1.3, 0.4}, L[3] = {4000, 6000, 20000};
      char label[96];
      snprintf(label, sizeof label, "%s N=%d m=%d K=%d", names[k], cases[c][0], cases[c][1], K);
      check_point(s, m, p, K, tau, L, label);
    }
  }
  /* A ligand type with L = 0: its complexes are exactly zero at the steady
   * state, and round-off in them must not stop the Newton step test. */
  for (int k = 0; k < 3; ++k) {
    const kps_model *m = kps_model_find(names[k]);
    double p[KPS_MAX_PARAMS], tau[2] = {4.0, 2.0}, L[2] = {0.0, 1e5};
    kps_model_defaults(m, p);
    char label[96];
    snprintf(label, sizeof label, "%s with an absent agonist (L_1 = 0)", names[k]);
    check_point(s, m, p, 2, tau, L, label);
  }
  /* L >> R: the cancellation in R - sum C must not stop convergence. */
  const kps_model *as = kps_model_find("adaptive_sorting");
  double p[KPS_MAX_PARAMS], tau[2] = {4.0, 1.0}, L[2] = {4e7, 6e8};
  kps_model_defaults(as, p);
  check_point(s, as, p, 2, tau, L, "adaptive_sorting L >> R");
}

static void test_as_limit(kps_solver *s) {
  const kps_model *m = kps_model_find("adaptive_sorting");
  const double sets[][3] = {{1, 0, 1}, {3, 1, 1e2}, {5, 2, 1e5}, {5, 4, 1e9}};
  for (size_t k = 0; k < 4; ++k) {
    double p[KPS_MAX_PARAMS], O_th;
    kps_model_defaults(m, p);
    p[kps_model_param_index(m, "N")] = sets[k][0];
    p[kps_model_param_index(m, "m")] = sets[k][1];
    p[kps_model_param_index(m, "delta")] = sets[k][2];
    p[kps_model_param_index(m, "phi")] = 1e-3;
    p[kps_model_param_index(m, "kappa")] = 0.1;
    p[kps_model_param_index(m, "R")] = 1e5;
    int st = kps_threshold(s, m, p, 0, 0, 3.0, NAN, &O_th);
    tap_ok(kps_status_is_ok(st), "AS limit N=%g m=%g: threshold solve", sets[k][0], sets[k][1]);
    double worst = 0;
    double y[MAXN];
    for (int j = 0; j <= 28; ++j) {
      double tau[2] = {4.0, 0.1 + 0.1 * j}, L[2] = {4000, 6000};
      kps_inputs in = {.p = p, .K = 2, .tau = tau, .L = L};
      kps_eval ev = {0};
      kps_evaluate(s, m, &in, y, j > 0, &ev);
      const double T = T_closed(sets[k][0], sets[k][1], 3.0, 2, tau, L);
      worst = fmax(worst, fabs(ev.O / O_th / T - 1));
    }
    tap_ok(worst < 0.01, "AS limit N=%g m=%g delta=%g: max |O/O_th / T_{N,m} - 1| = %.3g%% < 1%%",
           sets[k][0], sets[k][1], sets[k][2], 100 * worst);
  }
}

static void test_shp1_antagonism(kps_solver *s) {
  const kps_model *m = kps_model_find("shp1");
  double p[KPS_MAX_PARAMS], y[MAXN];
  kps_model_defaults(m, p);
  double tau1 = 10.0, L1 = 1000.0;
  kps_inputs alone = {.p = p, .K = 1, .tau = &tau1, .L = &L1};
  kps_eval ea = {0};
  kps_evaluate(s, m, &alone, y, 0, &ea);
  double FCmin = 1e300, worst = 0;
  for (int j = 0; j <= 20; ++j) {
    double tau[2] = {10.0, 0.5 + 0.1 * j}, L[2] = {1000.0, 1e4};
    kps_inputs in = {.p = p, .K = 2, .tau = tau, .L = L};
    kps_eval ev = {0};
    kps_evaluate(s, m, &in, y, 0, &ev);
    FCmin = fmin(FCmin, ev.O / ea.O);
    worst = fmax(worst, ev.O / ea.O);
  }
  tap_ok(worst < 1.0, "shp1: every tau2 in [0.5, 2.5] antagonises (max FC %.4f < 1)", worst);
  tap_ok(FCmin < 0.9, "shp1: strongest antagonism FC %.4f < 0.9", FCmin);
}

int main(void) {
  kps_solver *s = make_solver();
  test_ideal(s);
  test_ode_models(s);
  test_as_limit(s);
  test_shp1_antagonism(s);
  kps_solver_destroy(&s);
  return tap_done();
}
