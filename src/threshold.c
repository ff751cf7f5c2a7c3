/* Decision threshold: explicit, or the output of one ligand type at tau_c. */
#include "kpsweep/threshold.h"

#include <math.h>
#include <stdlib.h>

#include "kpsweep/status.h"

double kps_threshold_L_ref(const kps_model *m, const double *p, double L_ref) {
  return isfinite(L_ref) ? L_ref : kps_model_default_L_ref(m, p);
}

int kps_threshold(kps_solver *s, const kps_model *m, const double *p,
                  int explicit_value, double value, double tau_c, double L_ref,
                  double *O_th) {
  *O_th = NAN;
  if (explicit_value) {
    *O_th = value;
    return KPS_ST_OK;
  }
  const double tau = tau_c, L = kps_threshold_L_ref(m, p, L_ref);
  const kps_inputs in = {.p = p, .K = 1, .tau = &tau, .L = &L};
  const int n = kps_model_state_size(m, p, 1);
  double *y = n > 0 ? malloc(sizeof(double) * (size_t)n) : NULL;
  if (n > 0 && !y) return KPS_ST_SOLVER_ERROR;
  kps_eval ev = {0};
  int status = kps_evaluate(s, m, &in, y, 0, &ev);
  if (kps_status_is_ok(status)) *O_th = ev.O;
  free(y);
  return status;
}
