/*
 * `ideal`: adaptive proofreading in closed form (no ODE).
 *
 *   O = S_N / S_m,   S_k = sum_i L_i tau_i^k,   0 <= m < N (real allowed)
 *
 * With the threshold defined by tau_c (one ligand type at tau_c, any L) the
 * engine finds O_th = tau_c^(N-m), so O / O_th is T_{N,m} of
 * science.md section 2.1 and the decision "O > O_th" is "T > 1". Keeping
 * tau_c out of the model keeps a single definition of the threshold for
 * every model. Gradients are analytic (science.md section 4 times
 * tau_c^(N-m)); N and m are differentiable here, unlike in the ODE models.
 */
#include <math.h>
#include <stdio.h>

#include "kpsweep/model.h"

enum { P_N, P_M, N_PARAMS };

static const kps_param_info ideal_params[N_PARAMS] = {
    [P_N] = {"N", 5.0, 1e-9, 64.0, 0, "", "number of proofreading steps (real allowed)"},
    [P_M] = {"m", 2.0, 0.0, 63.0, 0, "", "adaptation step (0 <= m < N, real allowed)"},
};

static int ideal_check(const double *p, char *why, size_t n) {
  if (p[P_M] < p[P_N]) return 0;
  snprintf(why, n, "m (%g) must be smaller than N (%g)", p[P_M], p[P_N]);
  return 1;
}

static int ideal_closed_form(const kps_inputs *in, double *O, double *dO_dtau,
                             double *dO_dL, double *dO_dp) {
  const double N = in->p[P_N], m = in->p[P_M];
  double SN = 0.0, Sm = 0.0, SN_log = 0.0, Sm_log = 0.0;
  for (int i = 0; i < in->K; ++i) {
    const double t = in->tau[i], l = in->L[i];
    const double tN = pow(t, N), tm = pow(t, m), lt = log(t);
    SN += l * tN;
    Sm += l * tm;
    SN_log += l * tN * lt;
    Sm_log += l * tm * lt;
  }
  if (!(Sm > 0.0) || !isfinite(SN)) return 1;
  const double o = SN / Sm;
  if (O) *O = o;
  for (int i = 0; i < in->K; ++i) {
    const double t = in->tau[i], l = in->L[i];
    const double tm = pow(t, m), tNm = pow(t, N - m);
    if (dO_dL) dO_dL[i] = tm * (tNm - o) / Sm;
    if (dO_dtau) {
      /* L tau^(m-1) (N tau^(N-m) S_m - m S_N) / S_m^2, written so that m = 0
       * never forms tau^(-1) * 0. */
      double g = N * pow(t, N - 1.0) * Sm;
      if (m != 0.0) g -= m * pow(t, m - 1.0) * SN;
      dO_dtau[i] = l * g / (Sm * Sm);
    }
  }
  if (dO_dp) {
    dO_dp[P_N] = SN_log / Sm;
    dO_dp[P_M] = -o * Sm_log / Sm;
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
