/*
 * shp1: kinetic proofreading with SHP-1 negative feedback (Francois et al.,
 * PNAS 2013); science.md section 2.4. Each phosphorylated complex falls back
 * one step at rate d = b + gamma S, and complexes in state m activate the
 * phosphatase S.
 *
 * State: y[i*(N+1) + n] = C_{n,i}, i = 0..K-1, n = 0..N, then the active
 * phosphatase S at y[K(N+1)] (size K(N+1) + 1).
 *
 *   dC_{0,i}/dt = kappa (L_i - sum_n C_{n,i}) R_f - (phi + 1/tau_i) C_{0,i}
 *                 + d C_{1,i}
 *   dC_{n,i}/dt = phi C_{n-1,i} - (phi + d + 1/tau_i) C_{n,i} + d C_{n+1,i}
 *                                                          1 <= n <= N-1
 *   dC_{N,i}/dt = phi C_{N-1,i} - (d + 1/tau_i) C_{N,i}
 *   dS/dt       = alpha_S (sum_i C_{m,i}) (S_T - S) - beta_S S
 *
 *   d = b + gamma S, alpha_S = beta_S / C*, R_f = R - sum_{n,i} C_{n,i};
 *   output O = sum_i C_{N,i}; 0 <= m < N. For N = 1 the middle set is
 *   empty. beta_S sets only the time scale of S: the steady state depends on
 *   C* alone.
 *
 * Parameters: N, m (integers, structural), kappa (1/(molecule s)), phi (1/s),
 * b (1/s), gamma (1/(molecule s)), Cstar (molecules), R (molecules),
 * ST (molecules), betaS (1/s). Inputs tau_i (s), L_i (molecules).
 *
 * Stiff at realistic parameters (science.md 2.4): binding at kappa (R + L_i)
 * (3/s and more) and S relaxing at beta_S + alpha_S C_m face proofreading at
 * phi = 0.09/s and d = b + gamma S (0.04 .. 0.76/s), through a feedback gain
 * dS'/dC_m = alpha_S (S_T - S) of up to 1200; solve it with BDF and this
 * analytic Jacobian.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "chain.h"
#include "kpsweep/model.h"

enum {
  P_N, P_M, P_KAPPA, P_PHI, P_B, P_GAMMA, P_CSTAR, P_R, P_ST, P_BETAS, P_COUNT
};

static const kps_param_info params[P_COUNT] = {
    {"N", 5, 1, 64, KPS_PARAM_INTEGER | KPS_PARAM_STRUCTURAL, "",
     "number of proofreading steps"},
    {"m", 1, 0, 63, KPS_PARAM_INTEGER | KPS_PARAM_STRUCTURAL, "",
     "proofreading state that activates SHP-1 (m < N)"},
    {"kappa", 1e-4, KPS_POSITIVE_MIN, INFINITY, 0, "1/(molecule s)",
     "ligand-receptor on-rate"},
    {"phi", 0.09, 0, INFINITY, 0, "1/s", "proofreading (phosphorylation) rate"},
    {"b", 0.04, 0, INFINITY, 0, "1/s", "basal dephosphorylation rate"},
    {"gamma", 1.2e-6, 0, INFINITY, 0, "1/(molecule s)",
     "dephosphorylation rate per active SHP-1"},
    {"Cstar", 500, KPS_POSITIVE_MIN, INFINITY, 0, "molecules",
     "state-m complexes that activate half the SHP-1 (beta_S / alpha_S)"},
    {"R", 3e4, KPS_POSITIVE_MIN, INFINITY, 0, "molecules", "total receptors"},
    {"ST", 6e5, KPS_POSITIVE_MIN, INFINITY, 0, "molecules", "total SHP-1"},
    {"betaS", 1, KPS_POSITIVE_MIN, INFINITY, KPS_PARAM_STEADY_INVARIANT, "1/s",
     "SHP-1 deactivation rate"},
};

/* The chain at state y: the backward rate depends on the phosphatase. */
static chain make_chain(const kps_inputs *in, const double *y) {
  const double *p = in->p;
  const int N = chain_int(p[P_N]);
  chain c = {0};
  c.N = N;
  c.K = in->K;
  c.n = chain_size(N, in->K) + 1;
  c.kappa = p[P_KAPPA];
  c.R = p[P_R];
  c.phi = p[P_PHI];
  c.phi_last = p[P_PHI];
  c.d = p[P_B] + p[P_GAMMA] * y[c.n - 1];
  return c;
}

static int check_params(const kps_model *self, const double *p, char *why, size_t n) {
  (void)self;
  const int N = chain_int(p[P_N]), m = chain_int(p[P_M]);
  if (m < N) return 0;
  if (why && n) snprintf(why, n, "m = %d must be below N = %d", m, N);
  return 1;
}

static int n_state(const kps_model *self, const double *p, int K) {
  (void)self;
  return chain_size(chain_int(p[P_N]), K) + 1;
}

static void initial_state(const kps_model *self, const kps_inputs *in, double *y) {
  (void)self;
  memset(y, 0, sizeof(double) * (size_t)n_state(self, in->p, in->K));
}

static void rhs(const kps_model *self, const kps_inputs *in, const double *y, double *f) {
  (void)self;
  const double *p = in->p;
  const chain c = make_chain(in, y);
  const int iS = c.n - 1;
  const double S = y[iS], alpha_S = p[P_BETAS] / p[P_CSTAR];
  const double Cm = chain_state_total(&c, y, chain_int(p[P_M]));
  chain_rhs(&c, in, y, f);
  f[iS] = alpha_S * Cm * (p[P_ST] - S) - p[P_BETAS] * S;
}

static void jacobian(const kps_model *self, const kps_inputs *in, const double *y, double *J) {
  (void)self;
  const double *p = in->p;
  const chain c = make_chain(in, y);
  const int n = c.n, iS = n - 1, w = c.N + 1, m = chain_int(p[P_M]);
  const double S = y[iS], alpha_S = p[P_BETAS] / p[P_CSTAR];
  memset(J, 0, sizeof(double) * (size_t)n * (size_t)n);
  chain_jacobian(&c, in, y, J);
  /* Column S: every backward step through d = b + gamma S. */
  chain_add_backward(&c, y, p[P_GAMMA], J + (size_t)iS * n);
  /* Row S: activation by state m, and S's own relaxation. */
  const double act = alpha_S * (p[P_ST] - S);
  for (int i = 0; i < c.K; ++i) J[iS + (size_t)(i * w + m) * n] = act;
  J[iS + (size_t)iS * n] =
      -alpha_S * chain_state_total(&c, y, m) - p[P_BETAS];
}

static double output(const kps_model *self, const kps_inputs *in, const double *y, double *dO_dy) {
  (void)self;
  const chain c = make_chain(in, y);
  return chain_output(&c, y, dO_dy);
}

static void dfdp(const kps_model *self, const kps_inputs *in, const double *y, int which,
                 double *col) {
  (void)self;
  const double *p = in->p;
  const chain c = make_chain(in, y);
  const int iS = c.n - 1;
  const double S = y[iS], Cstar = p[P_CSTAR], betaS = p[P_BETAS];
  memset(col, 0, sizeof(double) * (size_t)c.n);
  if (chain_add_dinput(&c, in, y, which, col)) return;
  const double Cm = chain_state_total(&c, y, chain_int(p[P_M]));
  switch (which - 2 * in->K) {
    case P_KAPPA: chain_add_dkappa(&c, in, y, col); break;
    case P_PHI: chain_add_forward(&c, y, 0, c.N, 1.0, col); break;
    case P_B: chain_add_backward(&c, y, 1.0, col); break;
    case P_GAMMA: chain_add_backward(&c, y, S, col); break;
    case P_CSTAR:
      col[iS] = -betaS / (Cstar * Cstar) * Cm * (p[P_ST] - S);
      break;
    case P_R: chain_add_dR(&c, in, y, col); break;
    case P_ST: col[iS] = betaS / Cstar * Cm; break;
    case P_BETAS: col[iS] = Cm * (p[P_ST] - S) / Cstar - S; break;
    default: chain_fill_nan(col, c.n); break;
  }
}

static int check_state(const kps_model *self, const kps_inputs *in, const double *y, double tol) {
  (void)self;
  const chain c = make_chain(in, y);
  if (chain_check_state(&c, in, y, tol)) return 1;
  return chain_check_bounded(y[c.n - 1], in->p[P_ST], tol);
}

static void state_name(const kps_model *self, const double *p, int K, int k, char *buf, size_t n) {
  (void)self;
  chain_state_name(chain_int(p[P_N]), K, k, "S", buf, n);
}

const kps_model kps_model_shp1 = {
    .name = "shp1",
    .summary = "proofreading with SHP-1 negative feedback "
               "(Francois et al. PNAS 2013)",
    .n_params = P_COUNT,
    .params = params,
    .check_params = check_params,
    .closed_form = NULL,
    .n_state = n_state,
    .initial_state = initial_state,
    .rhs = rhs,
    .jacobian = jacobian,
    .output = output,
    .dfdp = dfdp,
    .check_state = check_state,
    .state_name = state_name,
};
