/*
 * Steady states (CVODE + Newton polish) and implicit-function-theorem
 * gradients. See kpsweep/solver.h for the method; docs/models.md for the
 * reasons behind the convergence test.
 */
#include "kpsweep/solver.h"

#include <cvode/cvode.h>
#include <float.h>
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
/*   POOL_SMALL     a conserved pool below this fraction of its total is held
 *                  as an unknown of the polish and the adjoint */
#define POOL_SMALL 1e-3
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
/*
 *   GRAD_TARGET    estimated relative error of a gradient entry above which
 *                  the point is KPS_ST_GRAD_ILL_CONDITIONED
 *   GRAD_FLOOR     entries below this fraction of the largest of their kind
 *                  (as elasticities) are not held to GRAD_TARGET
 */
#define GRAD_TARGET 1e-8
#define GRAD_FLOOR 1e-12

struct kps_solver {
  kps_solver_config opt;
  int cap; /* workspace capacity (state size) */
  double *J, *f, *dy, *yw, *lam, *col, *rs, *cs, *r;
  double *As; /* equilibrated copy of J, factorised in place */
  int *piv;
  double *z;  /* point (y, pools) of the last polish, then of the adjoint */
  int z_np;   /* pools held as unknowns in z */
  double *pa; /* coefficients of the conservation laws, KPS_MAX_POOLS rows of n */
  double ptot[KPS_MAX_POOLS]; /* their totals */
  int pwhich[KPS_MAX_POOLS];  /* the input each total is */
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
  free(s->rs), free(s->cs), free(s->r), free(s->piv), free(s->z), free(s->pa);
  s->J = s->As = s->f = s->dy = s->yw = s->lam = s->col = s->rs = s->cs = s->r = NULL;
  s->z = s->pa = NULL;
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
  s->z = malloc(v);
  s->pa = malloc(v * KPS_MAX_POOLS);
  KPS_CHECK_ALLOC(s->J);
  KPS_CHECK_ALLOC(s->z);
  KPS_CHECK_ALLOC(s->pa);
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
 * The steady-state system, in the unknowns z = (y, q): the n state
 * components, then the model's np conserved pools (kps_model.n_pools),
 * N = n + np. Its first n equations are f(y) at fixed pools, the last np
 * the conservation laws q_k + a_k . y - total_k = 0. A pool is then known
 * to its own relative precision, not to ~1e-16 of its total as the
 * difference total - a_k . y would be; without pools z = y. CVODE
 * integrates y alone.
 */
typedef struct steady {
  const kps_model *m;
  kps_inputs in0; /* the caller's inputs, no pools: for CVODE and the output */
  kps_inputs in;  /* in.pool = z + n while z is evaluated */
  int n, np_all;  /* state size, pools the model declares */
  int np, N;      /* pools held as unknowns now (0 or np_all), N = n + np */
} steady;

/* The pools model m declares (none past KPS_MAX_POOLS: the interface's limit). */
static int pool_count(const kps_model *m, const kps_inputs *in) {
  const int np = m->n_pools && m->pool_law && m->dfdpool ? m->n_pools(m, in->p, in->K) : 0;
  return np > 0 && np <= KPS_MAX_POOLS ? np : 0;
}

/* Reads the laws into s (the workspace must hold N). */
static void steady_init(kps_solver *s, const kps_model *m, const kps_inputs *in, int n,
                        steady *ss) {
  ss->m = m;
  ss->in0 = *in;
  ss->in0.pool = NULL;
  ss->in = ss->in0;
  ss->n = n;
  ss->np_all = ss->np = pool_count(m, in);
  ss->N = n + ss->np;
  for (int k = 0; k < ss->np; ++k)
    s->ptot[k] = m->pool_law(m, in, k, s->pa + (size_t)k * n, &s->pwhich[k]);
}

static void steady_hold_pools(steady *ss, int hold) {
  ss->np = hold ? ss->np_all : 0;
  ss->N = ss->n + ss->np;
}

/* The largest N of the model at these inputs (workspace size). */
static int steady_size(const kps_model *m, const kps_inputs *in, int n) {
  return n + pool_count(m, in);
}

/* a_k . y, accumulated in long double. */
static long double law_sum(const kps_solver *s, const steady *ss, int k, const double *y) {
  const double *a = s->pa + (size_t)k * ss->n;
  long double t = 0.0L;
  for (int j = 0; j < ss->n; ++j) t += (long double)a[j] * y[j];
  return t;
}

/*
 * Whether a pool computed from y is below POOL_SMALL of its total: only
 * then does the difference lose digits that matter (u / POOL_SMALL ~ 1e-13
 * relative otherwise), so only then are the pools held as unknowns, and the
 * common point pays nothing for them.
 */
static int pools_small(const kps_solver *s, const steady *ss, const double *y) {
  for (int k = 0; k < ss->np_all; ++k)
    if (!((long double)s->ptot[k] - law_sum(s, ss, k, y) >= POOL_SMALL * s->ptot[k])) return 1;
  return 0;
}

/* z = (y, the pools computed from y). */
static void steady_from_y(const kps_solver *s, const steady *ss, const double *y, double *z) {
  memcpy(z, y, sizeof(double) * (size_t)ss->n);
  for (int k = 0; k < ss->np; ++k) z[ss->n + k] = (double)(s->ptot[k] - law_sum(s, ss, k, y));
}

static const kps_inputs *steady_inputs(steady *ss, const double *z) {
  ss->in.pool = ss->np && z ? z + ss->n : NULL;
  return &ss->in;
}

static void steady_rhs(const kps_solver *s, steady *ss, const double *z, double *F) {
  ss->m->rhs(ss->m, steady_inputs(ss, z), z, F);
  for (int k = 0; k < ss->np; ++k)
    F[ss->n + k] = (double)((long double)z[ss->n + k] + law_sum(s, ss, k, z) - s->ptot[k]);
}

/* dF/dz into J (N x N, column-major); s->As serves as scratch. */
static void steady_jacobian(kps_solver *s, steady *ss, const double *z, double *J) {
  const int n = ss->n, N = ss->N;
  const kps_inputs *in = steady_inputs(ss, z);
  if (!ss->np) {
    ss->m->jacobian(ss->m, in, z, J);
    return;
  }
  ss->m->jacobian(ss->m, in, z, s->As);
  for (int j = 0; j < n; ++j) {
    memcpy(J + (size_t)j * N, s->As + (size_t)j * n, sizeof(double) * (size_t)n);
    for (int k = 0; k < ss->np; ++k) J[n + k + (size_t)j * N] = s->pa[(size_t)k * n + j];
  }
  for (int k = 0; k < ss->np; ++k) {
    double *col = J + (size_t)(n + k) * N;
    ss->m->dfdpool(ss->m, in, z, k, col);
    for (int l = 0; l < ss->np; ++l) col[n + l] = l == k;
  }
}

/* dF/d(input which) at fixed z into col (N entries). */
static void steady_dfdx(const kps_solver *s, steady *ss, const double *z, int which,
                        double *col) {
  ss->m->dfdp(ss->m, steady_inputs(ss, z), z, which, col);
  for (int k = 0; k < ss->np; ++k) col[ss->n + k] = which == s->pwhich[k] ? -1.0 : 0.0;
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
 * Factorises the equilibrated Jacobian A = R J C of the point z (J is kept
 * unscaled in s->J for residuals). Returns KPS_ST_SINGULAR when A is.
 */
static int factor_scaled(kps_solver *s, steady *ss, const double *z, double floor_abs) {
  const int N = ss->N;
  steady_jacobian(s, ss, z, s->J);
  kps_equilibrate(s->J, N, z, floor_abs, s->rs, s->cs);
  kps_scale_matrix(s->J, N, s->rs, s->cs, s->As);
  return kps_lu_factor(s->As, N, s->piv) ? KPS_ST_SINGULAR : KPS_ST_OK;
}

/*
 * Newton polish of F(z) = 0 from y (in place on success; s->z then holds
 * the final z). Converged when the last step is below newton_tol relative
 * to every component, pools included: the error is then about the square
 * of that, and a step test stays meaningful where a residual stalls on
 * cancellation (science.md section 3). Each step solves the equilibrated
 * system (R J C) w = -R F, dz = C w.
 */
static int polish_pass(kps_solver *s, steady *ss, double *y, long *iters) {
  const kps_model *m = ss->m;
  const int N = ss->N;
  double *z = s->z;
  steady_from_y(s, ss, y, z);
  const double floor_abs = zero_floor(&ss->in, z, N);
  for (int it = 0; it < NEWTON_MAXIT; ++it) {
    ++*iters;
    steady_rhs(s, ss, z, s->f);
    if (factor_scaled(s, ss, z, floor_abs) != KPS_ST_OK) return KPS_ST_SINGULAR;
    for (int i = 0; i < N; ++i) s->dy[i] = -s->rs[i] * s->f[i];
    kps_lu_solve(s->As, N, s->piv, s->dy);
    double worst = 0.0;
    for (int i = 0; i < N; ++i) {
      s->dy[i] *= s->cs[i];
      z[i] += s->dy[i];
      const double a = fabs(z[i]);
      const double r = fabs(s->dy[i]) / (a > floor_abs ? a : floor_abs);
      if (!(r <= worst)) worst = r; /* NaN propagates into worst */
    }
    if (isnan(worst) || isinf(worst)) return KPS_ST_NO_STEADY;
    /* A polish that is still far off after a few iterations is not in the
     * basin of quadratic convergence; the caller integrates further. */
    if (it >= NEWTON_GIVEUP_IT && worst > NEWTON_GIVEUP_STEP) return KPS_ST_NO_STEADY;
    if (worst <= s->opt.newton_tol) {
      if (m->check_state(m, steady_inputs(ss, z), z, STATE_TOL)) return KPS_ST_NEGATIVE;
      /* A root with an odd number of real positive eigenvalues (the saddle
       * between the branches of a bistable switch) has det J of the sign
       * (-1)^(n-1); Newton from an early, far state can converge to it. It
       * is not where the dynamics go: integrate further. The pools do not
       * change the sign (det of the augmented J = det of the reduced one),
       * nor do the positive scalings. */
      if (kps_lu_det_sign(s->As, N, s->piv) != (ss->n % 2 ? -1 : 1)) return KPS_ST_NO_STEADY;
      memcpy(y, z, sizeof(double) * (size_t)ss->n);
      return KPS_ST_OK;
    }
  }
  return KPS_ST_NO_STEADY;
}

/*
 * The polish, with the pools held as unknowns where they are small at the
 * start, or turn out small at the end (one more pass from there). s->z_np
 * records which, for the adjoint that follows.
 */
static int newton_polish(kps_solver *s, steady *ss, double *y, long *iters) {
  steady_hold_pools(ss, pools_small(s, ss, y));
  int st = polish_pass(s, ss, y, iters);
  if (st == KPS_ST_OK && !ss->np && ss->np_all && pools_small(s, ss, y)) {
    /* s->r is free during a polish: it keeps the root found, which one
     * more plain pass restores (with its factors) should the pooled one
     * fail. */
    memcpy(s->r, y, sizeof(double) * (size_t)ss->n);
    steady_hold_pools(ss, 1);
    st = polish_pass(s, ss, y, iters);
    if (st != KPS_ST_OK) {
      memcpy(y, s->r, sizeof(double) * (size_t)ss->n);
      steady_hold_pools(ss, 0);
      st = polish_pass(s, ss, y, iters);
    }
  }
  s->z_np = ss->np;
  return st;
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
static int cold_attempt(kps_solver *s, steady *ss, double *y, double rtol, long max_steps,
                        kps_solve_stats *st) {
  kps_err rc = KPS_OK;
  int status = KPS_ST_NO_STEADY;
  const kps_model *m = ss->m;
  const kps_inputs *in = &ss->in0;
  const int n = ss->n;
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
    status = newton_polish(s, ss, y, &st->newton_iters);
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
  steady ss;
  memset(st, 0, sizeof *st);
  KPS_CHECK(ensure_workspace(s, steady_size(m, in, n)));
  steady_init(s, m, in, n, &ss);
  if (warm) {
    status = newton_polish(s, &ss, y, &st->newton_iters);
    if (status == KPS_ST_OK) return status;
  }
  st->cold = 1;
  status = cold_attempt(s, &ss, y, s->opt.rtol, s->opt.max_steps, st);
  if (status != KPS_ST_OK) {
    status = cold_attempt(s, &ss, y, s->opt.rtol * FALLBACK_RTOL,
                          s->opt.max_steps * FALLBACK_STEPS, st);
    if (status == KPS_ST_OK) status = KPS_ST_FALLBACK;
  }
cleanup:
  if (rc != KPS_OK) status = KPS_ST_SOLVER_ERROR;
  return status;
}

/*
 * The adjoint lambda = J^-T dO/dz into s->lam, at the point s->z, through
 * the equilibrated factors: (R J C)^T mu = C dO/dz, lambda = R mu. Refined
 * with residuals in long double while that pays; *check receives the final
 * componentwise backward error. Returns KPS_ST_GRAD_INACCURATE when it stays
 * above ADJOINT_TOL, KPS_ST_SINGULAR when J cannot be factorised.
 * polished: s->z is the final point of the last Newton polish of y (so its
 * pools are exact); with reuse_lu its factors (of its last iteration) and J
 * are used as they are, otherwise J is factorised again at s->z. Not
 * polished: z is built from y; with pools it is polished first, so that the
 * pools are exact and not differences of y.
 */
static int adjoint(kps_solver *s, steady *ss, const double *y, int polished, int reuse_lu,
                   double *O, double *check) {
  const int n = ss->n;
  *check = NAN;
  if (!polished) {
    long its = 0;
    memcpy(s->yw, y, sizeof(double) * (size_t)n);
    /* Only pools that would be held need the polish (it moves y by
     * round-off); otherwise, or should it fail, z is y as given. */
    if (!ss->np_all || !pools_small(s, ss, y) || newton_polish(s, ss, s->yw, &its) != KPS_ST_OK) {
      steady_hold_pools(ss, 0);
      steady_from_y(s, ss, y, s->z);
    }
  } else {
    steady_hold_pools(ss, s->z_np > 0);
  }
  const int N = ss->N;
  if (!polished || !reuse_lu) {
    if (factor_scaled(s, ss, s->z, zero_floor(&ss->in, s->z, N)) != KPS_ST_OK)
      return KPS_ST_SINGULAR;
  }
  *O = ss->m->output(ss->m, &ss->in0, s->z, s->dy);
  for (int k = n; k < N; ++k) s->dy[k] = 0.0;
  double *b = s->dy, *lam = s->lam, *r = s->r;
  for (int i = 0; i < N; ++i) lam[i] = s->cs[i] * b[i];
  kps_lu_solve_transposed(s->As, N, s->piv, lam);
  for (int i = 0; i < N; ++i) lam[i] *= s->rs[i];
  double err = kps_residual_transposed(s->J, N, lam, b, r);
  for (int it = 0; it < REFINE_MAXIT && err > REFINE_TARGET; ++it) {
    for (int i = 0; i < N; ++i) s->col[i] = s->cs[i] * r[i];
    kps_lu_solve_transposed(s->As, N, s->piv, s->col);
    for (int i = 0; i < N; ++i) s->f[i] = lam[i] + s->rs[i] * s->col[i];
    const double e2 = kps_residual_transposed(s->J, N, s->f, b, s->col);
    if (!(e2 < err)) break; /* stagnated: keep the better iterate */
    memcpy(lam, s->f, sizeof(double) * (size_t)N);
    memcpy(r, s->col, sizeof(double) * (size_t)N);
    err = e2;
  }
  *check = err;
  return err <= ADJOINT_TOL ? KPS_ST_OK : KPS_ST_GRAD_INACCURATE;
}

/*
 * dO/d(input which) = -lambda . dF/d(which) at s->z, accumulated in long
 * double; exactly 0 for a parameter the steady state does not depend on.
 */
static double adjoint_dot(kps_solver *s, steady *ss, int which) {
  const int j = which - 2 * ss->in.K;
  if (j >= 0 && (ss->m->params[j].flags & KPS_PARAM_STEADY_INVARIANT)) return 0.0;
  steady_dfdx(s, ss, s->z, which, s->col);
  long double g = 0.0;
  for (int i = 0; i < ss->N; ++i) g -= (long double)s->lam[i] * s->col[i];
  return (double)g;
}

int kps_solver_gradients(kps_solver *s, const kps_model *m,
                         const kps_inputs *in, const double *y,
                         const int *which, int n_which, double *g) {
  const int n = m->n_state(m, in->p, in->K);
  if (ensure_workspace(s, steady_size(m, in, n)) != KPS_OK) return KPS_ST_SOLVER_ERROR;
  steady ss;
  steady_init(s, m, in, n, &ss);
  double O, check;
  int status = adjoint(s, &ss, y, 0, 0, &O, &check);
  if (status == KPS_ST_SINGULAR) return status;
  for (int k = 0; k < n_which; ++k) {
    g[k] = adjoint_dot(s, &ss, which[k]);
    if (!isfinite(g[k])) status = KPS_ST_NON_FINITE; /* as kps_evaluate */
  }
  return status;
}

/*
 * First-order bound of the rounding error of dO/dx = -lambda . F_x when
 * every entry of J and of F_x carries a relative error u:
 *   |delta g| <= u (|lambda|^T |J| |w| + |lambda|^T |F_x|),   J w = F_x.
 * It is large where the derivative is a near-cancellation of its paths (an
 * output that nearly adapts: dO/dL of adaptive_sorting with m = 0 when
 * delta C_m >> eps), which no scaling of the linear algebra removes.
 * v = |lambda|^T |J| is in s->r; the result is relative to |g|.
 */
static double entry_error(kps_solver *s, steady *ss, int which, double g) {
  const int N = ss->N;
  steady_dfdx(s, ss, s->z, which, s->col);
  for (int i = 0; i < N; ++i) s->f[i] = s->rs[i] * s->col[i];
  kps_lu_solve(s->As, N, s->piv, s->f);
  long double e = 0.0L;
  for (int i = 0; i < N; ++i)
    e += (long double)s->r[i] * fabs(s->cs[i] * s->f[i]) + fabs(s->lam[i] * s->col[i]);
  return (double)(0.5L * DBL_EPSILON * e) / fabs(g);
}

/*
 * The largest entry_error over the gradient entries asked for. As the
 * accuracy target, entries are grouped in kinds (tau_i, L_i, parameters)
 * and compared as elasticities x dO/dx: an entry below GRAD_FLOOR of the
 * largest of its kind is not held to relative accuracy and is skipped.
 */
static double gradient_error(kps_solver *s, steady *ss, const kps_eval *ev) {
  const int N = ss->N, K = ss->in.K;
  const kps_model *m = ss->m;
  for (int j = 0; j < N; ++j) {
    long double v = 0.0L;
    for (int i = 0; i < N; ++i) v += fabs(s->lam[i] * s->J[i + (size_t)j * N]);
    s->r[j] = (double)v;
  }
  double worst = 0.0;
  for (int kind = 0; kind < 3; ++kind) {
    const double *g = kind == 0 ? ev->dO_dtau : kind == 1 ? ev->dO_dL : ev->dO_dp;
    const double *x = kind == 0 ? ss->in.tau : kind == 1 ? ss->in.L : ss->in.p;
    const int cnt = kind < 2 ? K : m->n_params, base = kind == 0 ? 0 : kind == 1 ? K : 2 * K;
    if (!g) continue;
    double big = 0.0;
    for (int k = 0; k < cnt; ++k)
      if (isfinite(g[k]) && kps_model_is_differentiable(m, K, base + k))
        big = fmax(big, fabs(g[k] * (x[k] != 0.0 ? x[k] : 1.0)));
    for (int k = 0; k < cnt && big > 0.0; ++k) {
      if (!isfinite(g[k]) || !kps_model_is_differentiable(m, K, base + k)) continue;
      const double e = fabs(g[k] * (x[k] != 0.0 ? x[k] : 1.0));
      if (e >= GRAD_FLOOR * big) worst = fmax(worst, entry_error(s, ss, base + k, g[k]));
    }
  }
  return worst;
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

/*
 * The adjoint at the polished point s->z, every gradient ev asks for, and
 * (without reuse_lu) their rounding bound; sets ev->status from them and
 * returns it.
 */
static int gradients(kps_solver *s, steady *ss, const double *y, int reuse_lu, kps_eval *ev) {
  const int K = ss->in.K;
  const kps_model *m = ss->m;
  int st = adjoint(s, ss, y, 1, reuse_lu, &ev->O, &ev->adjoint_check);
  if (st == KPS_ST_SINGULAR) return ev->status = st;
  /* Gradients that miss the residual check are kept, but flagged. */
  if (st != KPS_ST_OK) ev->status = st;
  for (int i = 0; i < K; ++i) {
    if (ev->dO_dtau) ev->dO_dtau[i] = adjoint_dot(s, ss, i);
    if (ev->dO_dL) ev->dO_dL[i] = adjoint_dot(s, ss, K + i);
  }
  if (ev->dO_dp)
    for (int j = 0; j < m->n_params; ++j)
      if (!(m->params[j].flags & KPS_PARAM_INTEGER))
        ev->dO_dp[j] = adjoint_dot(s, ss, 2 * K + j);
  if (!reuse_lu) {
    ev->grad_error = gradient_error(s, ss, ev);
    if (kps_status_is_ok(ev->status) && !(ev->grad_error <= GRAD_TARGET))
      ev->status = KPS_ST_GRAD_ILL_CONDITIONED;
  }
  return ev->status;
}

int kps_evaluate(kps_solver *s, const kps_model *m, const kps_inputs *in,
                 double *y, int warm, kps_eval *ev) {
  const int K = in->K;
  memset(&ev->stats, 0, sizeof ev->stats);
  ev->O = NAN;
  ev->adjoint_check = NAN;
  ev->grad_error = NAN;
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
   * in s->J, s->As and its final point in s->z (every successful solve
   * ends with a Newton polish). */
  steady ss;
  steady_init(s, m, in, n, &ss);
  const int status = ev->status;
  int st = gradients(s, &ss, y, ev->reuse_lu, ev);
  /* A derivative that cancels between paths also amplifies the rounding of
   * a pool computed as a difference, even a large one: where the bound
   * flags a point whose pools were not held, hold them and try again. */
  if (st == KPS_ST_GRAD_ILL_CONDITIONED && ss.np_all && !s->z_np) {
    memcpy(s->yw, y, sizeof(double) * (size_t)n);
    steady_hold_pools(&ss, 1);
    if (polish_pass(s, &ss, s->yw, &ev->stats.newton_iters) == KPS_ST_OK) {
      s->z_np = ss.np;
      memcpy(y, s->yw, sizeof(double) * (size_t)n); /* the state the gradients belong to */
      const double check = ev->adjoint_check;
      ev->status = status;
      /* A singular J at the re-polished point leaves the first gradients
       * (gradients() returns before touching them). */
      if (gradients(s, &ss, y, 0, ev) == KPS_ST_SINGULAR) {
        ev->status = KPS_ST_GRAD_ILL_CONDITIONED;
        ev->adjoint_check = check;
      }
    }
  }
  return finite_status(m, in, y, n, ev);
}
