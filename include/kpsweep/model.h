/*
 * The model plug-in interface.
 *
 * A model is a `const kps_model` table of functions. A model either has a
 * closed form (`closed_form` set, no ODE) or is an ODE system
 * dy/dt = f(y; p, tau, L) whose steady state the solver finds. Adding a
 * network is adding one file under src/models/ plus one line in
 * src/models/registry.c.
 *
 * Conventions shared by every model:
 *  - K ligand types, ligand i has binding time tau[i] (s) and count L[i]
 *    (molecules). Model parameters p[] follow the order of `params`.
 *  - Differentiable inputs are indexed by `which`:
 *      0 .. K-1            tau_i
 *      K .. 2K-1           L_i
 *      2K + j              model parameter j (only where the parameter is
 *                          not flagged KPS_PARAM_INTEGER)
 *  - Dense matrices are column-major: J[i + j*n] = d f_i / d y_j.
 *  - All functions are pure (no global state) and not collective. A network
 *    model memoises its template expansion in its instance data (results do
 *    not depend on it): call one instance from one thread at a time.
 *  - Every callback except closed_form gets the model itself as `self`, so a
 *    model built at run time (a network file, docs/networks.md) reaches its
 *    instance data through self->data; built-in models ignore it. Call them
 *    as m->rhs(m, in, y, f).
 */
#ifndef KPSWEEP_MODEL_H
#define KPSWEEP_MODEL_H

#include <stddef.h>

#define KPS_MAX_PARAMS 16

/* Parameter flags. */
enum {
  KPS_PARAM_INTEGER = 1u << 0, /* integer-valued; not differentiable */
  KPS_PARAM_STRUCTURAL = 1u << 1, /* changes the state size (N, m) */
  /* Only scales an equation (a time scale): the steady state, and so every
   * steady-state output, does not depend on it. Its gradient is exactly 0
   * (the IFT route would return round-off of the vanishing residual). */
  KPS_PARAM_STEADY_INVARIANT = 1u << 2
};

/*
 * The `min` of a strictly positive parameter: its range is (0, max], shown
 * and checked as such (the tables' ranges are otherwise closed).
 */
#define KPS_POSITIVE_MIN 1e-300

typedef struct kps_param_info {
  const char *name;  /* key used in configs and on the command line */
  double def;        /* default value */
  double min, max;   /* valid closed range */
  unsigned flags;    /* KPS_PARAM_* */
  const char *unit;  /* "1/s", "1/(molecule s)", "molecules", "" */
  const char *doc;   /* one line */
} kps_param_info;

/* One evaluation point: model parameters and the ligand input. */
typedef struct kps_inputs {
  const double *p;   /* model parameters, model->n_params values */
  int K;             /* number of ligand types, >= 1 */
  const double *tau; /* K binding times (s), > 0 */
  const double *L;   /* K ligand counts (molecules), >= 0 */
  /*
   * Conserved pools held as unknowns (kps_model.n_pools values), or NULL:
   * the model then computes each pool from y (total - sum of members). Set
   * only by the solver's steady-state polish and adjoint solve.
   */
  const double *pool;
} kps_inputs;

/* Most conserved pools a model may hold as unknowns. */
#define KPS_MAX_POOLS 8

typedef struct kps_model {
  const char *name;    /* registry name, e.g. "adaptive_sorting" */
  const char *summary; /* one line for --help and docs */
  int n_params;
  const kps_param_info *params;
  /* Instance data of a model built at run time (NULL for built-in ones). */
  const void *data;

  /*
   * Checks combinations the per-parameter ranges cannot express (m < N).
   * Returns 0 when valid; otherwise writes a reason into why[0..n) and
   * returns non-zero. May be NULL (every in-range combination is valid).
   */
  int (*check_params)(const struct kps_model *self, const double *p, char *why, size_t n);

  /*
   * Closed-form models only (NULL for ODE models). Evaluates the output and
   * its gradients; any output pointer may be NULL. dO_dp has n_params
   * entries (NaN for integer parameters). Returns 0 on success.
   */
  int (*closed_form)(const kps_inputs *in, double *O, double *dO_dtau,
                     double *dO_dL, double *dO_dp);

  /* ---- ODE models (all NULL for closed-form models) ---- */

  /* State size for parameters p and K ligand types. */
  int (*n_state)(const struct kps_model *self, const double *p, int K);

  /* The initial state of a cold solve: all receptors and ligands free. */
  void (*initial_state)(const struct kps_model *self, const kps_inputs *in, double *y);

  /* f(y), the right-hand side. */
  void (*rhs)(const struct kps_model *self, const kps_inputs *in, const double *y, double *f);

  /* Analytic Jacobian df/dy, column-major n x n, every entry written. */
  void (*jacobian)(const struct kps_model *self, const kps_inputs *in, const double *y,
                   double *J);

  /* Output O(y); when dO_dy is not NULL also fills its n entries. */
  double (*output)(const struct kps_model *self, const kps_inputs *in, const double *y,
                   double *dO_dy);

  /*
   * df/d(input `which`) at fixed y (see the index convention above), n
   * entries. Integer parameters must not be asked for.
   */
  void (*dfdp)(const struct kps_model *self, const kps_inputs *in, const double *y, int which,
               double *col);

  /*
   * Physical validity of a state: every concentration, free receptors and
   * free ligands of each type >= -tol * (their scale). Returns 0 when valid.
   */
  int (*check_state)(const struct kps_model *self, const kps_inputs *in, const double *y,
                     double tol);

  /* Human-readable name of state component k (for JSON and docs). */
  void (*state_name)(const struct kps_model *self, const double *p, int K, int k, char *buf,
                     size_t n);

  /*
   * ---- Conserved pools (optional: n_pools NULL for none) ----
   *
   * A pool is an amount the model would otherwise compute as a difference,
   * total_k - sum_j a_kj y_j (free receptors R - sum C, inactive kinase
   * KT - K). When nearly all of the total is bound, that difference keeps
   * only ~1e-16 of the total, and every gradient through it inherits the
   * loss. The solver's Newton polish and adjoint solve therefore hold the
   * pools as extra unknowns q_k with the conservation laws
   * q_k + sum_j a_kj y_j - total_k = 0 as their equations; CVODE integrates y
   * alone (in->pool NULL).
   *
   * With in->pool set, rhs, jacobian, dfdp and check_state take the pools
   * from in->pool and hold them fixed: jacobian is df/dy at fixed q, dfdp is
   * df/dx at fixed q (a total then enters only through its law).
   */
  int (*n_pools)(const struct kps_model *self, const double *p, int K);

  /* Law k: fills a[0..n) with its coefficients of y, sets *which_total to the
   * input (index convention above) the total is, and returns the total. */
  double (*pool_law)(const struct kps_model *self, const kps_inputs *in, int k, double *a,
                     int *which_total);

  /* df/dq_k at fixed y and other pools (n entries), with in->pool set. */
  void (*dfdpool)(const struct kps_model *self, const kps_inputs *in, const double *y, int k,
                  double *col);
} kps_model;

/* Looks a model up by name; NULL when unknown. Not collective. */
const kps_model *kps_model_find(const char *name);

/* The registered models, NULL-terminated. Not collective. */
const kps_model *const *kps_model_list(void);

/* Index of parameter `name` in model m, or -1. Not collective. */
int kps_model_param_index(const kps_model *m, const char *name);

/* A parameter's range as a reader writes it: "(0, inf)", "[1, 64]". Not collective. */
void kps_param_range_text(const kps_param_info *p, char *buf, size_t n);

/* Fills p[] with the model's defaults. Not collective. */
void kps_model_defaults(const kps_model *m, double *p);

/* Whether input `which` (see convention) is differentiable. */
int kps_model_is_differentiable(const kps_model *m, int K, int which);

/*
 * The default reference ligand count for the threshold: 10 * R when the
 * model has a parameter "R", otherwise 1 (closed forms are scale-free).
 */
double kps_model_default_L_ref(const kps_model *m, const double *p);

#endif
