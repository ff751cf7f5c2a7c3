/*
 * `ideal`: adaptive proofreading in closed form (no ODE), science.md 2.1.
 *
 *   O = T_{N,m} = S_N / (tau_c^(N-m) S_m),   S_k = sum_i L_i tau_i^k,
 *   0 <= m < N (real allowed)
 *
 * One ligand type gives T = (tau/tau_c)^(N-m), so the engine's threshold (one
 * ligand type at the threshold's tau_c) is O_th = 1 whenever the model's
 * tau_c is the threshold's, which the configuration arranges unless the job
 * sets tau_c itself. Gradients are analytic (science.md section 4); N, m and
 * tau_c are differentiable here, unlike the integer N, m of the ODE models.
 */
#include <math.h>
#include <stdio.h>

#include "kpsweep/config.h"
#include "kpsweep/model.h"

enum { P_N, P_M, P_TAU_C, N_PARAMS };

static const kps_param_info ideal_params[N_PARAMS] = {
    [P_N] = {"N", 5.0, 1e-9, 64.0, 0, "", "number of proofreading steps (real allowed)"},
    [P_M] = {"m", 2.0, 0.0, 63.0, 0, "", "adaptation step (0 <= m < N, real allowed)"},
    [P_TAU_C] = {"tau_c", 3.0, 1e-300, INFINITY, 0, "s",
                 "critical binding time of T (default: the threshold's tau_c)"},
};

static int ideal_check(const kps_model *self, const double *p, char *why, size_t n) {
  (void)self;
  if (p[P_M] < p[P_N]) return 0;
  snprintf(why, n, "m (%g) must be smaller than N (%g)", p[P_M], p[P_N]);
  return 1;
}

static int ideal_closed_form(const kps_inputs *in, double *O, double *dO_dtau,
                             double *dO_dL, double *dO_dp) {
  const double N = in->p[P_N], m = in->p[P_M], tc = in->p[P_TAU_C];
  const double scale = pow(tc, N - m); /* tau_c^(N-m) */
  double SN = 0.0, Sm = 0.0, SN_log = 0.0, Sm_log = 0.0;
  for (int i = 0; i < in->K; ++i) {
    const double t = in->tau[i], l = in->L[i];
    const double tN = pow(t, N), tm = pow(t, m), lt = log(t);
    SN += l * tN;
    Sm += l * tm;
    SN_log += l * tN * lt;
    Sm_log += l * tm * lt;
  }
  if (!(Sm > 0.0) || !isfinite(SN) || !(scale > 0.0) || !isfinite(scale)) return 1;
  const double T = SN / (scale * Sm);
  if (O) *O = T;
  /* dT/dL_i = tau_i^m (tau_i^(N-m) S_m - S_N) / (tau_c^(N-m) S_m^2), with
   * the bracket summed as sum_{j != i} L_j tau_j^m (tau_i^(N-m) - tau_j^(N-m)):
   * the term j = i cancels exactly, so one ligand type gives exactly 0 and
   * two give one well-conditioned difference instead of a cancellation.
   * Inputs hold at most KPS_MAX_BINS ligand types (probe and solve). */
  double tm_[KPS_MAX_BINS], tNm_[KPS_MAX_BINS];
  if (in->K > KPS_MAX_BINS) return 1;
  for (int i = 0; dO_dL && i < in->K; ++i)
    tm_[i] = pow(in->tau[i], m), tNm_[i] = pow(in->tau[i], N - m);
  for (int i = 0; i < in->K; ++i) {
    const double t = in->tau[i], l = in->L[i];
    if (dO_dL) {
      double br = 0.0;
      for (int j = 0; j < in->K; ++j)
        if (j != i) br += in->L[j] * tm_[j] * (tNm_[i] - tNm_[j]);
      dO_dL[i] = tm_[i] * br / (scale * Sm * Sm);
    }
    if (dO_dtau) {
      /* L tau^(m-1) (N tau^(N-m) S_m - m S_N) / (tau_c^(N-m) S_m^2), written
       * so that m = 0 never forms tau^(-1) * 0. */
      double g = N * pow(t, N - 1.0) * Sm;
      if (m != 0.0) g -= m * pow(t, m - 1.0) * SN;
      dO_dtau[i] = l * g / (scale * Sm * Sm);
    }
  }
  if (dO_dp) {
    const double ltc = log(tc);
    dO_dp[P_N] = SN_log / (scale * Sm) - T * ltc;
    dO_dp[P_M] = -T * Sm_log / Sm + T * ltc;
    dO_dp[P_TAU_C] = -(N - m) * T / tc;
  }
  return 0;
}

const kps_model kps_model_ideal = {
    .name = "ideal",
    .summary = "closed-form adaptive proofreading T_{N,m} = S_N / (tau_c^(N-m) S_m)",
    .n_params = N_PARAMS,
    .params = ideal_params,
    .check_params = ideal_check,
    .closed_form = ideal_closed_form,
};
