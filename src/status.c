/* Names and descriptions of the per-point solver outcomes. */
#include "kpsweep/status.h"

const char *kps_status_name(int status) {
  switch (status) {
    case KPS_ST_NOT_COMPUTED: return "not_computed";
    case KPS_ST_OK: return "ok";
    case KPS_ST_FALLBACK: return "fallback";
    case KPS_ST_TOO_MUCH_WORK: return "too_much_work";
    case KPS_ST_CONV_FAILURE: return "conv_failure";
    case KPS_ST_NEGATIVE: return "negative";
    case KPS_ST_NO_STEADY: return "no_steady_state";
    case KPS_ST_SINGULAR: return "singular";
    case KPS_ST_INVALID_PARAMS: return "invalid_params";
    case KPS_ST_SOLVER_ERROR: return "solver_error";
    case KPS_ST_GRAD_INACCURATE: return "grad_inaccurate";
    case KPS_ST_NON_FINITE: return "non_finite";
    case KPS_ST_GRAD_ILL_CONDITIONED: return "grad_ill_conditioned";
  }
  return "unknown";
}

const char *kps_status_doc(int status) {
  switch (status) {
#define KPS_ST_DOC_(name, value, msg) \
  case value:                         \
    return msg;
    KPS_STATUS_LIST(KPS_ST_DOC_)
#undef KPS_ST_DOC_
  }
  return "unknown status";
}
