/*
 * Steady states (CVODE + Newton polish) and implicit-function-theorem
 * gradients. See kpsweep/solver.h for the method; docs/models.md for the
 * reasons behind the convergence test.
 */
#include "kpsweep/solver.h"

#include <cvode/cvode.h>
#include <math.h>
#include <nvector/nvector_serial.h>
#include <stdlib.h>
#include <string.h>
#include <sundials/sundials_config.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_dense.h>

#include "check.h"
#include "kpsweep/status.h"
#include "linalg.h"

/*
 * Algorithmic constants
 *   T_FIRST        first time (s) at which a Newton polish is tried
 *   T_FACTOR       growth of the check times (geometric schedule)
 *   NEWTON_MAXIT   iterations of one polish attempt
 *   NEWTON_GIVEUP_* an attempt whose step is still above GIVEUP_STEP after
 *                  GIVEUP_IT iterations stops early
 *   STATE_TOL      relative tolerance of the physical-state check
 *   ABS_FLOOR      below this fraction of the largest amount a component
 *                  counts as zero in the Newton step test
 *   FALLBACK_RTOL  rtol factor of the fallback cold solve
 *   FALLBACK_STEPS step-budget factor of the fallback cold solve
 */
#define T_FIRST 0.05
#define T_FACTOR 2.0
#define NEWTON_MAXIT 25
#define NEWTON_GIVEUP_IT 6
#define NEWTON_GIVEUP_STEP 1e-3
#define STATE_TOL 1e-9
#define ABS_FLOOR 1e-20
#define FALLBACK_RTOL 1e-3
#define FALLBACK_STEPS 10
/*
 *   REFINE_TARGET  componentwise backward error of the adjoint below which
 *                  no refinement step is taken
 *   REFINE_MAXIT   refinement steps at most
 *   ADJOINT_TOL    backward error above which the gradients are flagged
 *                  (KPS_ST_GRAD_INACCURATE)
 */
#define REFINE_TARGET 1e-15
#define REFINE_MAXIT 4
#define ADJOINT_TOL 1e-10

struct kps_solver {
  kps_solver_config opt;
  int cap; /* workspace capacity (state size) */
  double *J, *f, *dy, *yw, *lam, *col, *rs, *cs, *r;
  double *As; /* equilibrated copy of J, factorised in place */
  int *piv;
  SUNContext sunctx;
  void *cvode;
  N_Vector yv;
  SUNMatrix A;
  SUNLinearSolver LS;
  int cv_n; /* state size the CVODE objects were built for, 0 = none */
  const kps_model *cb_model;
  const kps_inputs *cb_in;
};

static int cv_rhs(sunrealtype t, N_Vector y, N_Vector ydot, void *data) {
  (void)t;
  const kps_solver *s = data;
  s->cb_model->rhs(s->cb_model, s->cb_in, N_VGetArrayPointer(y), N_VGetArrayPointer(ydot));
  return 0;
}

static int cv_jac(sunrealtype t, N_Vector y, N_Vector fy, SUNMatrix J,
                  void *data, N_Vector t1, N_Vector t2, N_Vector t3) {
  (void)t, (void)fy, (void)t1, (void)t2, (void)t3;
  const kps_solver *s = data;
  s->cb_model->jacobian(s->cb_model, s->cb_in, N_VGetArrayPointer(y), SM_DATA_D(J));
  return 0;
}

#if SUNDIALS_VERSION_MAJOR < 7
/* A failed point is data: CVODE's own messages would only repeat it. */
static void cv_silent(int code, const char *module, const char *fn, char *msg,
                      void *data) {
  (void)code, (void)module, (void)fn, (void)msg, (void)data;
}
#endif

static void free_cvode(kps_solver *s) {
  if (s->cvode) CVodeFree(&s->cvode);
  if (s->LS) SUNLinSolFree(s->LS);
  if (s->A) SUNMatDestroy(s->A);
  if (s->yv) N_VDestroy(s->yv);
  s->LS = NULL, s->A = NULL, s->yv = NULL, s->cv_n = 0;
}

static void free_workspace(kps_solver *s) {
  free(s->J), free(s->As), free(s->f), free(s->dy), free(s->yw), free(s->lam), free(s->col);
  free(s->rs), free(s->cs), free(s->r), free(s->piv);
  s->J = s->As = s->f = s->dy = s->yw = s->lam = s->col = s->rs = s->cs = s->r = NULL;
  s->piv = NULL;
  s->cap = 0;
}

static kps_err ensure_workspace(kps_solver *s, int n) {
  kps_err rc = KPS_OK;
  if (n <= s->cap) return KPS_OK;
  free_workspace(s);
  const size_t nn = sizeof(double) * (size_t)n * (size_t)n, v = sizeof(double) * (size_t)n;
  s->J = malloc(nn);
  s->As = malloc(nn);
  s->f = malloc(v);
  s->dy = malloc(v);
  s->yw = malloc(v);
  s->lam = malloc(v);
  s->col = malloc(v);
  s->rs = malloc(v);
  s->cs = malloc(v);
  s->r = malloc(v);
  s->piv = malloc(sizeof(int) * (size_t)n);
  KPS_CHECK_ALLOC(s->J);
  KPS_CHECK_ALLOC(s->As);
  KPS_CHECK_ALLOC(s->f);
  KPS_CHECK_ALLOC(s->dy);
  KPS_CHECK_ALLOC(s->yw);
  KPS_CHECK_ALLOC(s->lam);
  KPS_CHECK_ALLOC(s->col);
  KPS_CHECK_ALLOC(s->rs);
  KPS_CHECK_ALLOC(s->cs);
  KPS_CHECK_ALLOC(s->r);
  KPS_CHECK_ALLOC(s->piv);
  s->cap = n;
cleanup:
  if (rc != KPS_OK) free_workspace(s);
  return rc;
}

/* Builds the CVODE objects for state size n once; later points re-init. */
static kps_err ensure_cvode(kps_solver *s, int n, const double *y0) {
  kps_err rc = KPS_OK;
  if (s->cv_n == n) {
    memcpy(N_VGetArrayPointer(s->yv), y0, sizeof(double) * (size_t)n);
    KPS_CHECK_CV(CVodeReInit(s->cvode, 0.0, s->yv));
    return KPS_OK;
  }
  free_cvode(s);
  s->yv = N_VNew_Serial(n, s->sunctx);
  KPS_CHECK_ALLOC(s->yv);
  memcpy(N_VGetArrayPointer(s->yv), y0, sizeof(double) * (size_t)n);
  s->A = SUNDenseMatrix(n, n, s->sunctx);
  KPS_CHECK_ALLOC(s->A);
  s->LS = SUNLinSol_Dense(s->yv, s->A, s->sunctx);
  KPS_CHECK_ALLOC(s->LS);
  s->cvode = CVodeCreate(CV_BDF, s->sunctx);
  KPS_CHECK_ALLOC(s->cvode);
  KPS_CHECK_CV(CVodeInit(s->cvode, cv_rhs, 0.0, s->yv));
  KPS_CHECK_CV(CVodeSetUserData(s->cvode, s));
  KPS_CHECK_CV(CVodeSetLinearSolver(s->cvode, s->LS, s->A));
  KPS_CHECK_CV(CVodeSetJacFn(s->cvode, cv_jac));
#if SUNDIALS_VERSION_MAJOR < 7
  KPS_CHECK_CV(CVodeSetErrHandlerFn(s->cvode, cv_silent, NULL));
#endif
  s->cv_n = n;
cleanup:
  if (rc != KPS_OK) free_cvode(s);
  return rc;
}

kps_err kps_solver_create(const kps_solver_config *opt, kps_solver **out) {
  kps_err rc = KPS_OK;
  kps_solver *s = calloc(1, sizeof *s);
  KPS_CHECK_ALLOC(s);
  s->opt = *opt;
#if SUNDIALS_VERSION_MAJOR >= 7
  KPS_CHECK_CV(SUNContext_Create(SUN_COMM_NULL, &s->sunctx));
  KPS_CHECK_CV(SUNContext_ClearErrHandlers(s->sunctx));
#else
  KPS_CHECK_CV(SUNContext_Create(NULL, &s->sunctx));
#endif
  *out = s;
  s = NULL;
cleanup:
  kps_solver_destroy(&s);
  return rc;
}

void kps_solver_destroy(kps_solver **sp) {
  if (!sp || !*sp) return;
  kps_solver *s = *sp;
  free_cvode(s);
  if (s->sunctx) SUNContext_Free(&s->sunctx);
  free_workspace(s);
  free(s);
  *sp = NULL;
}

int kps_model_state_size(const kps_model *m, const double *p, int K) {
  return m->closed_form ? 0 : m->n_state(m, p, K);
}

/*
 * Components that are exactly zero at the steady state (the complexes of a
 * ligand type with L = 0) carry round-off of ~1e-30: relative to themselves
 * their steps never shrink. Below ABS_FLOOR times the scale of the amounts
 * a component counts as zero; that floor (1e-20 of the largest count) sits
 * far below any meaningful C_N. The same floor bounds the column scales of
 * the equilibration.
 */
static double zero_floor(const kps_inputs *in, const double *y, int n) {
  double scale = 1.0;
  for (int i = 0; i < in->K; ++i) scale = fmax(scale, in->L[i]);
  for (int i = 0; i < n; ++i) scale = fmax(scale, fabs(y[i]));
  return ABS_FLOOR * scale;
}

/*
 * Factorises the equilibrated Jacobian A = R J C of the state y (J is kept
 * unscaled in s->J for residuals). Returns KPS_ST_SINGULAR when A is.
 */
static int factor_scaled(kps_solver *s, const kps_model *m, const kps_inputs *in,
                         const double *y, int n, double floor_abs) {
  m->jacobian(m, in, y, s->J);
  kps_equilibrate(s->J, n, y, floor_abs, s->rs, s->cs);
  kps_scale_matrix(s->J, n, s->rs, s->cs, s->As);
  return kps_lu_factor(s->As, n, s->piv) ? KPS_ST_SINGULAR : KPS_ST_OK;
}

/*
 * Newton polish of f(y) = 0 from y (in place on success). Converged when the
 * last step is below newton_tol relative to every component: the error is
 * then about the square of that, and a step test stays meaningful where the
 * residual stalls on cancellation in R - sum C (science.md section 3).
 * Each step solves the equilibrated system (R J C) z = -R f, dy = C z.
 */
static int newton_polish(kps_solver *s, const kps_model *m,
                         const kps_inputs *in, double *y, int n, long *iters) {
  double *yw = s->yw;
  const double floor_abs = zero_floor(in, y, n);
  memcpy(yw, y, sizeof(double) * (size_t)n);
  for (int it = 0; it < NEWTON_MAXIT; ++it) {
    ++*iters;
    m->rhs(m, in, yw, s->f);
    if (factor_scaled(s, m, in, yw, n, floor_abs) != KPS_ST_OK) return KPS_ST_SINGULAR;
    for (int i = 0; i < n; ++i) s->dy[i] = -s->rs[i] * s->f[i];
    kps_lu_solve(s->As, n, s->piv, s->dy);
    double worst = 0.0;
    for (int i = 0; i < n; ++i) {
      s->dy[i] *= s->cs[i];
      yw[i] += s->dy[i];
      const double a = fabs(yw[i]);
      const double r = fabs(s->dy[i]) / (a > floor_abs ? a : floor_abs);
      if (!(r <= worst)) worst = r; /* NaN propagates into worst */
    }
    if (isnan(worst) || isinf(worst)) return KPS_ST_NO_STEADY;
    /* A polish that is still far off after a few iterations is not in the
     * basin of quadratic convergence; the caller integrates further. */
    if (it >= NEWTON_GIVEUP_IT && worst > NEWTON_GIVEUP_STEP) return KPS_ST_NO_STEADY;
    if (worst <= s->opt.newton_tol) {
      if (m->check_state(m, in, yw, STATE_TOL)) return KPS_ST_NEGATIVE;
      memcpy(y, yw, sizeof(double) * (size_t)n);
      return KPS_ST_OK;
    }
  }
  return KPS_ST_NO_STEADY;
}

static int status_of_cvode_flag(int flag) {
  switch (flag) {
    case CV_TOO_MUCH_WORK: return KPS_ST_TOO_MUCH_WORK;
    case CV_CONV_FAILURE:
    case CV_ERR_FAILURE:
    case CV_TOO_MUCH_ACC: return KPS_ST_CONV_FAILURE;
    default: return KPS_ST_SOLVER_ERROR;
  }
}

/* One cold attempt at the given tolerance and step budget. */
static int cold_attempt(kps_solver *s, const kps_model *m, const kps_inputs *in,
                        double *y, int n, double rtol, long max_steps,
                        kps_solve_stats *st) {
  kps_err rc = KPS_OK;
  int status = KPS_ST_NO_STEADY;
  s->cb_model = m;
  s->cb_in = in;
  m->initial_state(m, in, y);
  double scale = 1.0;
  for (int i = 0; i < n; ++i) scale = fmax(scale, fabs(y[i]));
  for (int i = 0; i < in->K; ++i) scale = fmax(scale, in->L[i]);
  KPS_CHECK(ensure_cvode(s, n, y));
  KPS_CHECK_CV(CVodeSStolerances(s->cvode, rtol, s->opt.atol_rel * scale));
  KPS_CHECK_CV(CVodeSetMaxNumSteps(s->cvode, max_steps));
  double *yc = N_VGetArrayPointer(s->yv);
  double t = 0.0;
  long steps = 0;
  for (double tout = fmin(T_FIRST, s->opt.t_max); tout <= s->opt.t_max * T_FACTOR;
       tout *= T_FACTOR) {
    if (tout > s->opt.t_max) tout = s->opt.t_max;
    int flag = CVode(s->cvode, tout, s->yv, &t, CV_NORMAL);
    long nst = 0;
    KPS_CHECK_CV(CVodeGetNumSteps(s->cvode, &nst));
    steps = nst;
    if (flag < 0) {
      status = status_of_cvode_flag(flag);
      break;
    }
    memcpy(y, yc, sizeof(double) * (size_t)n);
    status = newton_polish(s, m, in, y, n, &st->newton_iters);
    if (status == KPS_ST_OK || tout >= s->opt.t_max) break;
    if (steps > max_steps) {
      status = KPS_ST_TOO_MUCH_WORK;
      break;
    }
  }
  long nfe = 0, nje = 0;
  KPS_CHECK_CV(CVodeGetNumRhsEvals(s->cvode, &nfe));
  KPS_CHECK_CV(CVodeGetNumJacEvals(s->cvode, &nje));
  st->cv_steps += steps;
  st->cv_rhs += nfe;
  st->cv_jac += nje;
  st->t_steady = t;
cleanup:
  if (rc != KPS_OK) status = KPS_ST_SOLVER_ERROR;
  return status;
}

int kps_solver_steady(kps_solver *s, const kps_model *m, const kps_inputs *in,
                      double *y, int warm, kps_solve_stats *st) {
  kps_err rc = KPS_OK;
  int status = KPS_ST_SOLVER_ERROR;
  const int n = m->n_state(m, in->p, in->K);
  memset(st, 0, sizeof *st);
  KPS_CHECK(ensure_workspace(s, n));
  if (warm) {
    status = newton_polish(s, m, in, y, n, &st->newton_iters);
    if (status == KPS_ST_OK) return status;
  }
  st->cold = 1;
  status = cold_attempt(s, m, in, y, n, s->opt.rtol, s->opt.max_steps, st);
  if (status != KPS_ST_OK) {
    status = cold_attempt(s, m, in, y, n, s->opt.rtol * FALLBACK_RTOL,
                          s->opt.max_steps * FALLBACK_STEPS, st);
    if (status == KPS_ST_OK) status = KPS_ST_FALLBACK;
  }
cleanup:
  if (rc != KPS_OK) status = KPS_ST_SOLVER_ERROR;
  return status;
}

/*
 * The adjoint lambda = J^-T dO/dy into s->lam, through the equilibrated
 * factors: (R J C)^T mu = C dO/dy, lambda = R mu. Refined with residuals in
 * long double while that pays; *check receives the final componentwise
 * backward error. Returns KPS_ST_GRAD_INACCURATE when it stays above
 * ADJOINT_TOL, KPS_ST_SINGULAR when J cannot be factorised. reuse_lu: the
 * factors (and J, for the residuals) already in s are those of the last
 * Newton iteration and are used as they are.
 */
static int adjoint(kps_solver *s, const kps_model *m, const kps_inputs *in,
                   const double *y, int n, int reuse_lu, double *O, double *check) {
  *check = NAN;
  *O = m->output(m, in, y, s->dy);
  if (!reuse_lu && factor_scaled(s, m, in, y, n, zero_floor(in, y, n)) != KPS_ST_OK)
    return KPS_ST_SINGULAR;
  double *b = s->dy, *lam = s->lam, *r = s->r;
  for (int i = 0; i < n; ++i) lam[i] = s->cs[i] * b[i];
  kps_lu_solve_transposed(s->As, n, s->piv, lam);
  for (int i = 0; i < n; ++i) lam[i] *= s->rs[i];
  double err = kps_residual_transposed(s->J, n, lam, b, r);
  for (int it = 0; it < REFINE_MAXIT && err > REFINE_TARGET; ++it) {
    for (int i = 0; i < n; ++i) s->col[i] = s->cs[i] * r[i];
    kps_lu_solve_transposed(s->As, n, s->piv, s->col);
    for (int i = 0; i < n; ++i) s->f[i] = lam[i] + s->rs[i] * s->col[i];
    const double e2 = kps_residual_transposed(s->J, n, s->f, b, s->col);
    if (!(e2 < err)) break; /* stagnated: keep the better iterate */
    memcpy(lam, s->f, sizeof(double) * (size_t)n);
    memcpy(r, s->col, sizeof(double) * (size_t)n);
    err = e2;
  }
  *check = err;
  return err <= ADJOINT_TOL ? KPS_ST_OK : KPS_ST_GRAD_INACCURATE;
}

/*
 * dO/d(input which) = -lambda . df/d(which), accumulated in long double;
 * exactly 0 for a parameter the steady state does not depend on.
 */
static double adjoint_dot(kps_solver *s, const kps_model *m,
                          const kps_inputs *in, const double *y, int n, int which) {
  const int j = which - 2 * in->K;
  if (j >= 0 && (m->params[j].flags & KPS_PARAM_STEADY_INVARIANT)) return 0.0;
  m->dfdp(m, in, y, which, s->col);
  long double g = 0.0;
  for (int i = 0; i < n; ++i) g -= (long double)s->lam[i] * s->col[i];
  return (double)g;
}

int kps_solver_gradients(kps_solver *s, const kps_model *m,
                         const kps_inputs *in, const double *y,
                         const int *which, int n_which, double *g) {
  const int n = m->n_state(m, in->p, in->K);
  if (ensure_workspace(s, n) != KPS_OK) return KPS_ST_SOLVER_ERROR;
  double O, check;
  int status = adjoint(s, m, in, y, n, 0, &O, &check);
  if (status == KPS_ST_SINGULAR) return status;
  for (int k = 0; k < n_which; ++k) {
    g[k] = adjoint_dot(s, m, in, y, n, which[k]);
    if (!isfinite(g[k])) status = KPS_ST_NON_FINITE; /* as kps_evaluate */
  }
  return status;
}

static void fill_nan(double *a, int n) {
  if (a)
    for (int i = 0; i < n; ++i) a[i] = NAN;
}

static int all_finite(const double *a, int n) {
  if (a)
    for (int i = 0; i < n; ++i)
      if (!isfinite(a[i])) return 0;
  return 1;
}

/*
 * A point with numbers (ok, fallback, grad_inaccurate) whose state, output
 * or a gradient overflowed (tau -> 0 makes df/dtau ~ 1/tau^2) is a
 * failure, not an ok point with NaN gradients: KPS_ST_NON_FINITE, the
 * numbers kept as computed. Integer parameters have NaN gradients by design.
 */
static int finite_status(const kps_model *m, const kps_inputs *in, const double *y, int n,
                         kps_eval *ev) {
  const int carries = kps_status_is_ok(ev->status) || ev->status == KPS_ST_GRAD_INACCURATE;
  if (!carries) return ev->status;
  int ok = isfinite(ev->O) && all_finite(y, n) && all_finite(ev->dO_dtau, in->K) &&
           all_finite(ev->dO_dL, in->K);
  if (ev->dO_dp)
    for (int j = 0; j < m->n_params; ++j)
      if (!(m->params[j].flags & KPS_PARAM_INTEGER) && !isfinite(ev->dO_dp[j])) ok = 0;
  if (!ok) ev->status = KPS_ST_NON_FINITE;
  return ev->status;
}

int kps_evaluate(kps_solver *s, const kps_model *m, const kps_inputs *in,
                 double *y, int warm, kps_eval *ev) {
  const int K = in->K;
  memset(&ev->stats, 0, sizeof ev->stats);
  ev->O = NAN;
  ev->adjoint_check = NAN;
  if (m->closed_form) {
    int bad = m->closed_form(in, &ev->O, ev->dO_dtau, ev->dO_dL, ev->dO_dp);
    ev->status = bad ? KPS_ST_SOLVER_ERROR : KPS_ST_OK;
    if (bad) {
      ev->O = NAN;
      fill_nan(ev->dO_dtau, K), fill_nan(ev->dO_dL, K), fill_nan(ev->dO_dp, m->n_params);
    } else if (ev->dO_dp) {
      for (int j = 0; j < m->n_params; ++j)
        if (m->params[j].flags & KPS_PARAM_INTEGER) ev->dO_dp[j] = NAN;
    }
    return finite_status(m, in, NULL, 0, ev);
  }
  const int n = m->n_state(m, in->p, K);
  ev->status = kps_solver_steady(s, m, in, y, warm, &ev->stats);
  fill_nan(ev->dO_dtau, K), fill_nan(ev->dO_dL, K), fill_nan(ev->dO_dp, m->n_params);
  if (!kps_status_is_ok(ev->status)) return ev->status;
  const int need = ev->dO_dtau || ev->dO_dL || ev->dO_dp;
  if (!need) {
    ev->O = m->output(m, in, y, NULL);
    return finite_status(m, in, y, n, ev);
  }
  /* The last Newton iteration left the factors of J at its starting state
   * in s->J, s->As (every successful solve ends with a Newton polish). */
  int st = adjoint(s, m, in, y, n, ev->reuse_lu, &ev->O, &ev->adjoint_check);
  if (st == KPS_ST_SINGULAR) {
    ev->status = st;
    return st;
  }
  /* Gradients that miss the residual check are kept, but flagged. */
  if (st != KPS_ST_OK) ev->status = st;
  for (int i = 0; i < K; ++i) {
    if (ev->dO_dtau) ev->dO_dtau[i] = adjoint_dot(s, m, in, y, n, i);
    if (ev->dO_dL) ev->dO_dL[i] = adjoint_dot(s, m, in, y, n, K + i);
  }
  if (ev->dO_dp)
    for (int j = 0; j < m->n_params; ++j)
      if (!(m->params[j].flags & KPS_PARAM_INTEGER))
        ev->dO_dp[j] = adjoint_dot(s, m, in, y, n, 2 * K + j);
  return finite_status(m, in, y, n, ev);
}
