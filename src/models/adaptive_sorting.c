/*
 * adaptive_sorting: kinetic proofreading whose last step is catalysed by a
 * kinase that complexes in state m inactivate (Lalanne & Francois 2013,
 * generalised to (N, m)); science.md section 2.3.
 *
 * State: y[i*(N+1) + n] = C_{n,i}, i = 0..K-1, n = 0..N, then the active
 * kinase K at y[K(N+1)] (size K(N+1) + 1).
 *
 *   dC_{0,i}/dt = kappa (L_i - sum_n C_{n,i}) R_f - (k_0 + 1/tau_i) C_{0,i}
 *   dC_{n,i}/dt = k_{n-1} C_{n-1,i} - (k_n + 1/tau_i) C_{n,i}   1 <= n < N
 *   dC_{N,i}/dt = k_{N-1} C_{N-1,i} - C_{N,i}/tau_i
 *   dK/dt       = eps (K_T - K) - delta K sum_i C_{m,i}
 *
 *   k_n = phi for n < N-1, k_{N-1} = alpha K (so for N = 1 the only step,
 *   C_0 -> C_1, runs at alpha K); R_f = R - sum_{n,i} C_{n,i};
 *   output O = sum_i C_{N,i}; 0 <= m < N.
 *
 * Parameters: N, m (integers, structural), kappa (1/(molecule s)), phi (1/s),
 * alpha (1/(molecule s)), delta (1/(molecule s)), eps (1/s), R (molecules),
 * KT (molecules). Inputs tau_i (s), L_i (molecules).
 *
 * Conserved pools (kps_model.n_pools): the free receptors R_f = R - sum C
 * and the inactive kinase K_i = KT - K. Receptors saturate when L >> R and
 * the kinase stays nearly all active when the feedback is barely engaged;
 * each pool is then a small difference of large amounts, which the
 * steady-state polish and the adjoint hold as unknowns (docs/science.md,
 * "Conserved pools").
 *
 * Stiff: the kinase relaxes at eps + delta sum_i C_{m,i}, up to 1e9 * C_m
 * per second in the near-ideal parameter sets, while proofreading runs at
 * phi = 1e-3/s there; binding (kappa R up to 1e4/s) adds another fast scale.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "chain.h"
#include "kpsweep/model.h"

enum { P_N, P_M, P_KAPPA, P_PHI, P_ALPHA, P_DELTA, P_EPS, P_R, P_KT, P_COUNT };

/* The pools, in kps_inputs.pool order. */
enum { POOL_RF, POOL_KI, POOL_COUNT };

static const kps_param_info params[P_COUNT] = {
    {"N", 5, 1, 64, KPS_PARAM_INTEGER | KPS_PARAM_STRUCTURAL, "",
     "number of proofreading steps"},
    {"m", 2, 0, 63, KPS_PARAM_INTEGER | KPS_PARAM_STRUCTURAL, "",
     "proofreading state that inactivates the kinase (m < N)"},
    {"kappa", 1e-4, KPS_POSITIVE_MIN, INFINITY, 0, "1/(molecule s)",
     "ligand-receptor on-rate"},
    {"phi", 0.09, 0, INFINITY, 0, "1/s",
     "proofreading rate of the steps before the last"},
    {"alpha", 3e-4, KPS_POSITIVE_MIN, INFINITY, 0, "1/(molecule s)",
     "kinase-catalysed rate of the last step, per kinase"},
    {"delta", 1, 0, INFINITY, 0, "1/(molecule s)",
     "kinase inactivation by complexes in state m"},
    {"eps", 1, KPS_POSITIVE_MIN, INFINITY, 0, "1/s",
     "kinase reactivation rate"},
    {"R", 1e4, KPS_POSITIVE_MIN, INFINITY, 0, "molecules", "total receptors"},
    {"KT", 1e3, KPS_POSITIVE_MIN, INFINITY, 0, "molecules", "total kinase"},
};

/* The chain at state y: the last step's rate depends on the kinase. */
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
  c.phi_last = p[P_ALPHA] * y[c.n - 1];
  c.d = 0.0;
  c.pooled = in->pool != NULL;
  if (c.pooled) c.Rf_pool = in->pool[POOL_RF];
  return c;
}

/* The inactive kinase: its pool, or KT - K. */
static double inactive_kinase(const kps_inputs *in, double kin) {
  return in->pool ? in->pool[POOL_KI] : in->p[P_KT] - kin;
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
  const int nc = chain_size(chain_int(in->p[P_N]), in->K);
  memset(y, 0, sizeof(double) * (size_t)nc);
  y[nc] = in->p[P_KT];
}

static void rhs(const kps_model *self, const kps_inputs *in, const double *y, double *f) {
  (void)self;
  const double *p = in->p;
  const chain c = make_chain(in, y);
  const int iK = c.n - 1, m = chain_int(p[P_M]);
  const double kin = y[iK];
  chain_rhs(&c, in, y, f);
  f[iK] = p[P_EPS] * inactive_kinase(in, kin) -
          p[P_DELTA] * kin * chain_state_total(&c, y, m);
}

static void jacobian(const kps_model *self, const kps_inputs *in, const double *y, double *J) {
  (void)self;
  const double *p = in->p;
  const chain c = make_chain(in, y);
  const int n = c.n, iK = n - 1, w = c.N + 1, m = chain_int(p[P_M]);
  const double kin = y[iK], delta = p[P_DELTA];
  memset(J, 0, sizeof(double) * (size_t)n * (size_t)n);
  chain_jacobian(&c, in, y, J);
  /* Column K: the last step's rate alpha K. */
  chain_add_forward(&c, y, c.N - 1, c.N, p[P_ALPHA], J + (size_t)iK * n);
  /* Row K: inactivation by state m, and K's own relaxation. */
  for (int i = 0; i < c.K; ++i) J[iK + (size_t)(i * w + m) * n] = -delta * kin;
  J[iK + (size_t)iK * n] = (c.pooled ? 0.0 : -p[P_EPS]) - delta * chain_state_total(&c, y, m);
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
  const int iK = c.n - 1, m = chain_int(p[P_M]);
  const double kin = y[iK];
  memset(col, 0, sizeof(double) * (size_t)c.n);
  if (chain_add_dinput(&c, in, y, which, col)) return;
  switch (which - 2 * in->K) {
    case P_KAPPA: chain_add_dkappa(&c, in, y, col); break;
    case P_PHI: chain_add_forward(&c, y, 0, c.N - 1, 1.0, col); break;
    case P_ALPHA: chain_add_forward(&c, y, c.N - 1, c.N, kin, col); break;
    case P_DELTA: col[iK] = -kin * chain_state_total(&c, y, m); break;
    case P_EPS: col[iK] = inactive_kinase(in, kin); break;
    case P_R: chain_add_dR(&c, in, y, col); break;
    case P_KT: col[iK] = c.pooled ? 0.0 : p[P_EPS]; break;
    default: chain_fill_nan(col, c.n); break;
  }
}

static int check_state(const kps_model *self, const kps_inputs *in, const double *y, double tol) {
  (void)self;
  const chain c = make_chain(in, y);
  if (chain_check_state(&c, in, y, tol)) return 1;
  if (in->pool && !(in->pool[POOL_KI] >= -tol * in->p[P_KT])) return 1;
  return chain_check_bounded(y[c.n - 1], in->p[P_KT], tol);
}

static void state_name(const kps_model *self, const double *p, int K, int k, char *buf, size_t n) {
  (void)self;
  chain_state_name(chain_int(p[P_N]), K, k, "K", buf, n);
}

static int n_pools(const kps_model *self, const double *p, int K) {
  (void)self, (void)p, (void)K;
  return POOL_COUNT;
}

static double pool_law(const kps_model *self, const kps_inputs *in, int k, double *a,
                       int *which_total) {
  (void)self;
  const int nc = chain_size(chain_int(in->p[P_N]), in->K);
  for (int j = 0; j <= nc; ++j) a[j] = k == POOL_RF ? (j < nc) : (j == nc);
  const int which = k == POOL_RF ? P_R : P_KT;
  *which_total = 2 * in->K + which;
  return in->p[which];
}

static void dfdpool(const kps_model *self, const kps_inputs *in, const double *y, int k,
                    double *col) {
  (void)self;
  const chain c = make_chain(in, y);
  memset(col, 0, sizeof(double) * (size_t)c.n);
  if (k == POOL_RF) chain_add_dRf(&c, in, y, col);
  else col[c.n - 1] = in->p[P_EPS];
}

const kps_model kps_model_adaptive_sorting = {
    .name = "adaptive_sorting",
    .summary = "proofreading with a kinase inactivated by state m "
               "(Lalanne & Francois 2013)",
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
    .n_pools = n_pools,
    .pool_law = pool_law,
    .dfdpool = dfdpool,
};
