/*
 * kpr: kinetic proofreading (McKeithan 1995), science.md section 2.2. The
 * non-adaptive baseline: the output grows with the ligand count.
 *
 * State: y[i*(N+1) + n] = C_{n,i}, i = 0..K-1, n = 0..N (size K(N+1)).
 *
 *   dC_{0,i}/dt = kappa (L_i - sum_n C_{n,i}) R_f - (phi + 1/tau_i) C_{0,i}
 *   dC_{n,i}/dt = phi C_{n-1,i} - (phi + 1/tau_i) C_{n,i}      1 <= n < N
 *   dC_{N,i}/dt = phi C_{N-1,i} - C_{N,i}/tau_i
 *
 *   R_f = R - sum_{n,i} C_{n,i},   output O = sum_i C_{N,i}.
 *
 * Parameters: N (integer, structural), kappa (1/(molecule s)), phi (1/s),
 * R (molecules). Inputs tau_i (s), L_i (molecules).
 *
 * Stiffness: mildly stiff at the defaults (rates from phi = 0.09/s to
 * kappa L_i, 10/s at L_i = 1e5), strongly stiff when binding is fast against
 * proofreading (kappa R = 1e4/s with phi = 1e-3/s in the parameter sets of
 * section 2.3): integrate with BDF and this analytic Jacobian.
 */
#include <math.h>
#include <string.h>

#include "chain.h"
#include "kpsweep/model.h"

enum { P_N, P_KAPPA, P_PHI, P_R, P_COUNT };

static const kps_param_info params[P_COUNT] = {
    {"N", 5, 1, 64, KPS_PARAM_INTEGER | KPS_PARAM_STRUCTURAL, "",
     "number of proofreading steps"},
    {"kappa", 1e-4, KPS_POSITIVE_MIN, INFINITY, 0, "1/(molecule s)",
     "ligand-receptor on-rate"},
    {"phi", 0.09, 0, INFINITY, 0, "1/s", "proofreading (phosphorylation) rate"},
    {"R", 1e4, KPS_POSITIVE_MIN, INFINITY, 0, "molecules",
     "total receptors"},
};

static chain make_chain(const kps_inputs *in) {
  const double *p = in->p;
  chain c = {0};
  c.N = chain_int(p[P_N]);
  c.K = in->K;
  c.n = chain_size(c.N, c.K);
  c.kappa = p[P_KAPPA];
  c.R = p[P_R];
  c.phi = p[P_PHI];
  c.phi_last = p[P_PHI];
  c.d = 0.0;
  return c;
}

static int n_state(const kps_model *self, const double *p, int K) {
  (void)self;
  return chain_size(chain_int(p[P_N]), K);
}

static void initial_state(const kps_model *self, const kps_inputs *in, double *y) {
  (void)self;
  memset(y, 0, sizeof(double) * (size_t)n_state(self, in->p, in->K));
}

static void rhs(const kps_model *self, const kps_inputs *in, const double *y, double *f) {
  (void)self;
  const chain c = make_chain(in);
  chain_rhs(&c, in, y, f);
}

static void jacobian(const kps_model *self, const kps_inputs *in, const double *y, double *J) {
  (void)self;
  const chain c = make_chain(in);
  memset(J, 0, sizeof(double) * (size_t)c.n * (size_t)c.n);
  chain_jacobian(&c, in, y, J);
}

static double output(const kps_model *self, const kps_inputs *in, const double *y, double *dO_dy) {
  (void)self;
  const chain c = make_chain(in);
  return chain_output(&c, y, dO_dy);
}

static void dfdp(const kps_model *self, const kps_inputs *in, const double *y, int which,
                 double *col) {
  (void)self;
  const chain c = make_chain(in);
  memset(col, 0, sizeof(double) * (size_t)c.n);
  if (chain_add_dinput(&c, in, y, which, col)) return;
  switch (which - 2 * in->K) {
    case P_KAPPA: chain_add_dkappa(&c, in, y, col); break;
    case P_PHI: chain_add_forward(&c, y, 0, c.N, 1.0, col); break;
    case P_R: chain_add_dR(&c, in, y, col); break;
    default: chain_fill_nan(col, c.n); break;
  }
}

static int check_state(const kps_model *self, const kps_inputs *in, const double *y, double tol) {
  (void)self;
  const chain c = make_chain(in);
  return chain_check_state(&c, in, y, tol);
}

static void state_name(const kps_model *self, const double *p, int K, int k, char *buf, size_t n) {
  (void)self;
  chain_state_name(chain_int(p[P_N]), K, k, NULL, buf, n);
}

const kps_model kps_model_kpr = {
    .name = "kpr",
    .summary = "kinetic proofreading (McKeithan): N steps, no adaptation",
    .n_params = P_COUNT,
    .params = params,
    .check_params = NULL, /* every in-range N is valid */
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
