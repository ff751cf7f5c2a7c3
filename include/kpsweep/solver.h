/*
 * Steady states and their exact gradients.
 *
 * A kps_solver owns the CVODE integrator (created once, re-initialised per
 * point) and the dense workspace of the Newton polish and the
 * implicit-function-theorem gradients. One solver per worker; not thread
 * safe; nothing here is collective.
 *
 * Cold solve: CVODE (BDF, Newton, dense direct solver, analytic Jacobian)
 * from the all-free state; at geometrically spaced times a Newton polish is
 * tried from the current state and accepted when its last step is below
 * newton_tol relative to every component and the state is physical.
 * Warm solve: the Newton polish from a given state (the previous point on a
 * continuation line); on failure it falls back to a cold solve.
 * Gradients: one LU of the equilibrated J at the steady state and one
 * transposed solve J^T lambda = dO/dy, refined with long-double residuals;
 * then dO/dp_k = -lambda . df/dp_k for every input. A solve whose
 * componentwise backward error stays above 1e-10 is flagged with
 * KPS_ST_GRAD_INACCURATE (the gradients are kept).
 */
#ifndef KPSWEEP_SOLVER_H
#define KPSWEEP_SOLVER_H

#include "kpsweep/config.h"
#include "kpsweep/error.h"
#include "kpsweep/model.h"

typedef struct kps_solver kps_solver;

typedef struct kps_solve_stats {
  long cv_steps;     /* CVODE steps (0 for a warm solve that converged) */
  long cv_rhs;       /* CVODE right-hand-side evaluations */
  long cv_jac;       /* CVODE Jacobian evaluations */
  long newton_iters; /* Newton polish iterations, all attempts */
  int cold;          /* 1 when the state came from a cold (CVODE) solve */
  double t_steady;   /* integration time reached by the cold solve (s) */
} kps_solve_stats;

/* Result of one point: output, gradients, status. */
typedef struct kps_eval {
  int status;          /* kps_status */
  double O;            /* output at the steady state */
  double *dO_dtau;     /* K entries or NULL (caller-owned) */
  double *dO_dL;       /* K entries or NULL */
  double *dO_dp;       /* n_params entries (NaN for integer ones) or NULL */
  double adjoint_check; /* componentwise backward error of the adjoint solve
                           (NaN: no gradients asked for, or a closed form) */
  double grad_error;    /* first-order bound of the largest relative rounding
                           error of a gradient entry (NaN: not estimated: no
                           gradients, reuse_lu, or a closed form); above 1e-8
                           the status is KPS_ST_GRAD_ILL_CONDITIONED */
  /* Input: take the gradients from the factorisation of the last Newton
   * iteration (a state within newton_tol of the steady state) instead of
   * factorising J again at the steady state. About 1e-11 relative off, one
   * LU cheaper: for search steps, whose answer comes from the output. */
  int reuse_lu;
  kps_solve_stats stats;
} kps_eval;

/* Creates a solver with the given options (copied). Not collective. */
kps_err kps_solver_create(const kps_solver_config *opt, kps_solver **out);

/* Frees the solver and sets *s to NULL; accepts NULL. Not collective. */
void kps_solver_destroy(kps_solver **s);

/*
 * Steady state of an ODE model. y holds n_state values: on input the guess
 * when warm != 0, on output the steady state. Returns a kps_status (never an
 * infrastructure error: a failed point is data). Not collective.
 */
int kps_solver_steady(kps_solver *s, const kps_model *m, const kps_inputs *in,
                      double *y, int warm, kps_solve_stats *st);

/*
 * Evaluates one point for any model: steady state (ODE models, y as in
 * kps_solver_steady; y may be NULL for closed forms), output and the
 * gradients asked for by non-NULL arrays in ev. A point whose state,
 * output or a requested gradient is not finite gets KPS_ST_NON_FINITE (its
 * numbers are kept). Returns ev->status.
 */
int kps_evaluate(kps_solver *s, const kps_model *m, const kps_inputs *in,
                 double *y, int warm, kps_eval *ev);

/*
 * Gradients of O at a steady state y: dO/d(which[k]) into g[k] for
 * k < n_which (index convention of model.h). Returns a kps_status
 * (KPS_ST_SINGULAR when J cannot be factorised, KPS_ST_GRAD_INACCURATE
 * when the adjoint misses its residual check, KPS_ST_NON_FINITE when a
 * gradient is not finite). Not collective.
 */
int kps_solver_gradients(kps_solver *s, const kps_model *m,
                         const kps_inputs *in, const double *y,
                         const int *which, int n_which, double *g);

/* State size of model m at parameters p with K ligand types (0 for closed forms). */
int kps_model_state_size(const kps_model *m, const double *p, int K);

#endif
