/*
 * `null`: a closed-form model that returns O = sum_i L_i at once. It exists
 * to measure the sweep machinery (scheduling, messages, HDF5) without model
 * cost, as in scripts/bench-sweep.sh; its numbers mean nothing biologically.
 */
#include <stdio.h>

#include "kpsweep/model.h"

static const kps_param_info null_params[1] = {
    {"c", 1.0, 0.0, 1e300, 0, "", "scale of the output"},
};

static int null_closed_form(const kps_inputs *in, double *O, double *dO_dtau, double *dO_dL,
                            double *dO_dp) {
  double s = 0.0;
  for (int i = 0; i < in->K; ++i) s += in->L[i];
  if (O) *O = in->p[0] * s;
  for (int i = 0; i < in->K; ++i) {
    if (dO_dtau) dO_dtau[i] = 0.0;
    if (dO_dL) dO_dL[i] = in->p[0];
  }
  if (dO_dp) dO_dp[0] = s;
  return 0;
}

const kps_model kps_model_null = {
    .name = "null",
    .summary = "benchmark stand-in: O = c sum L, no model cost",
    .n_params = 1,
    .params = null_params,
    .closed_form = null_closed_form,
};
