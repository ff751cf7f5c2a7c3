/*
 * Per-point solver outcomes. These are data stored in the results file, not
 * errors: a failed solve at one sweep point never stops a sweep.
 * Nothing here is collective.
 */
#ifndef KPSWEEP_STATUS_H
#define KPSWEEP_STATUS_H

#define KPS_STATUS_LIST(X)                                                        \
  X(KPS_ST_NOT_COMPUTED, -1, "not computed yet (fill value)")                     \
  X(KPS_ST_OK, 0, "converged")                                                    \
  X(KPS_ST_FALLBACK, 1, "converged after the fallback (tight tolerances, longer horizon)") \
  X(KPS_ST_TOO_MUCH_WORK, 2, "CVODE took too many steps")                          \
  X(KPS_ST_CONV_FAILURE, 3, "CVODE convergence or error-test failure")             \
  X(KPS_ST_NEGATIVE, 4, "negative concentration or conservation violated")         \
  X(KPS_ST_NO_STEADY, 5, "no steady state reached before t_max")                    \
  X(KPS_ST_SINGULAR, 6, "singular Jacobian at the steady state")                    \
  X(KPS_ST_INVALID_PARAMS, 7, "invalid parameter combination (e.g. m >= N)")       \
  X(KPS_ST_SOLVER_ERROR, 8, "other CVODE failure")                                 \
  X(KPS_ST_GRAD_INACCURATE, 9, "adjoint (gradient) solve failed its residual check")   \
  X(KPS_ST_NON_FINITE, 10, "state, output or a gradient not finite (overflow at extreme inputs)") \
  X(KPS_ST_GRAD_ILL_CONDITIONED, 11, "converged; a gradient entry may be off by more than 1e-8 relative (it cancels between paths: a nearly adapted output)")

typedef enum kps_status {
#define KPS_ST_ENUM_(name, value, msg) name = value,
  KPS_STATUS_LIST(KPS_ST_ENUM_)
#undef KPS_ST_ENUM_
} kps_status;

/* The largest status code (the table runs from KPS_ST_NOT_COMPUTED to it). */
#define KPS_ST_LAST KPS_ST_GRAD_ILL_CONDITIONED

/* Short lower-case name of a status ("ok", "too_much_work"). Not collective. */
const char *kps_status_name(int status);

/* One-line description of a status. Not collective. */
const char *kps_status_doc(int status);

/* Whether a status carries usable numbers (ok, fallback, or ok with an
 * ill-conditioned gradient entry). */
static inline int kps_status_is_ok(int status) {
  return status == KPS_ST_OK || status == KPS_ST_FALLBACK || status == KPS_ST_GRAD_ILL_CONDITIONED;
}

/* Whether a computed point failed (invalid parameter combinations are not
 * failures: they are outside the model's domain by design of the grid). */
static inline int kps_status_is_failure(int status) {
  return status != KPS_ST_NOT_COMPUTED && status != KPS_ST_INVALID_PARAMS &&
         !kps_status_is_ok(status);
}

#endif
