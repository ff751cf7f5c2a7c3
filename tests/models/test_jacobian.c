/*
 * Unit checks of the ODE models kpr, adaptive_sorting and shp1 against their
 * own right-hand sides: the analytic Jacobian, df/d(input) and dO/dy against
 * central finite differences at random physical states; check_state on valid
 * and invalid states; the binding term against a hand-computed value; the
 * parameter tables.
 *
 * Every model function here is polynomial in y (at most quadratic) and in
 * each parameter except tau_i and Cstar, so central differences are exact up
 * to rounding and a 1e-6 tolerance leaves a wide margin over the ~1e-8
 * rounding error while catching any wrong entry.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "kpsweep/model.h"

#define TOL 1e-6
#define MAX_K 3

static const char *const model_names[] = {"kpr", "adaptive_sorting", "shp1"};

typedef struct shape {
  int N, m, K;
} shape;

static const shape shapes[] = {
    {1, 0, 1}, {1, 0, 2}, {3, 1, 1}, {3, 1, 2}, {3, 1, 3},
    {5, 2, 1}, {5, 2, 2}, {5, 2, 3}, {5, 4, 2},
};

/* splitmix64: a fixed-seed generator so every run checks the same points. */
static uint64_t rng = 0x6b70737765657021ull;

static double urand(void) {
  uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}

static double logrand(double lo, double hi) {
  return lo * exp(urand() * log(hi / lo));
}

/* One evaluation point with its own storage. */
typedef struct point {
  const kps_model *model;
  shape s;
  double p[KPS_MAX_PARAMS], tau[MAX_K], L[MAX_K];
  kps_inputs in;
  int n;          /* state size */
  int nc;         /* complexes, K(N+1) */
  double total;   /* conserved total of the extra species (0: none) */
} point;

static double param(const point *pt, const char *name) {
  int j = kps_model_param_index(pt->model, name);
  return j >= 0 ? pt->p[j] : 0.0;
}

static void point_init(point *pt, const kps_model *model, shape s) {
  memset(pt, 0, sizeof *pt);
  pt->model = model;
  pt->s = s;
  kps_model_defaults(model, pt->p);
  /* Perturb every real parameter so that no two rates coincide. */
  for (int j = 0; j < model->n_params; ++j)
    if (!(model->params[j].flags & KPS_PARAM_INTEGER))
      pt->p[j] *= logrand(0.5, 2.0);
  pt->p[kps_model_param_index(model, "N")] = s.N;
  int jm = kps_model_param_index(model, "m");
  if (jm >= 0) pt->p[jm] = s.m;
  for (int i = 0; i < s.K; ++i) {
    pt->tau[i] = logrand(0.1, 10.0);
    pt->L[i] = logrand(1e3, 1e5);
  }
  pt->in = (kps_inputs){.p = pt->p, .K = s.K, .tau = pt->tau, .L = pt->L};
  pt->n = model->n_state(model, pt->p, s.K);
  pt->nc = s.K * (s.N + 1);
  pt->total = param(pt, "KT") + param(pt, "ST");
}

/*
 * A random physical state: complexes log-uniform over three decades below a
 * cap that keeps sum C below both R and every L_i; the extra species inside
 * (5 %, 95 %) of its total.
 */
static void random_state(const point *pt, double *y) {
  const double R = param(pt, "R");
  const int w = pt->s.N + 1;
  for (int i = 0; i < pt->s.K; ++i) {
    const double cap = 0.9 * fmin(R / pt->s.K, pt->L[i]) / w;
    for (int n = 0; n < w; ++n) y[i * w + n] = cap * logrand(1e-3, 1.0);
  }
  if (pt->n > pt->nc) y[pt->nc] = pt->total * (0.05 + 0.9 * urand());
}

/*
 * The scale of state component j for the finite-difference step: R for a
 * complex, the conserved total for the extra species. The right-hand side
 * holds terms of order kappa L R (1e4 molecules/s) that cancel, so a step
 * relative to |y_j| alone would let rounding reach the tolerance for the
 * small complexes; f is quadratic in y, so a larger step costs no accuracy.
 */
static double species_scale(const point *pt, int j) {
  return j < pt->nc ? param(pt, "R") : pt->total;
}

/* Scaled deviation of one column: max |a - b| / max(|a|, |b|); NaN fails. */
static double column_dev(const double *a, const double *b, int n, int *at) {
  double diff = 0.0, scale = 0.0;
  *at = 0;
  for (int k = 0; k < n; ++k) {
    if (isnan(a[k]) || isnan(b[k])) {
      *at = k;
      return NAN;
    }
    const double d = fabs(a[k] - b[k]);
    if (d > diff) {
      diff = d;
      *at = k;
    }
    scale = fmax(scale, fmax(fabs(a[k]), fabs(b[k])));
  }
  return scale > 0.0 ? diff / scale : 0.0;
}

static void label(const point *pt, char *buf, size_t n) {
  if (kps_model_param_index(pt->model, "m") >= 0)
    snprintf(buf, n, "%s N=%d m=%d K=%d", pt->model->name, pt->s.N, pt->s.m,
             pt->s.K);
  else
    snprintf(buf, n, "%s N=%d K=%d", pt->model->name, pt->s.N, pt->s.K);
}

static void check_jacobian(const point *pt, const double *y) {
  const int n = pt->n;
  double *J = malloc(sizeof(double) * n * n);
  double *fd = malloc(sizeof(double) * n), *fp = malloc(sizeof(double) * n);
  double *fm = malloc(sizeof(double) * n), *yy = malloc(sizeof(double) * n);
  /* NaN everywhere first: an entry the model forgets to write fails. */
  for (int k = 0; k < n * n; ++k) J[k] = NAN;
  pt->model->jacobian(pt->model, &pt->in, y, J);

  double worst = 0.0, wa = 0.0, wb = 0.0;
  int wr = 0, wc = 0;
  /*
   * The column-scaled norm lets a small entry next to a large one be wrong
   * by up to TOL times the large one, so each entry is also held to TOL of
   * itself, above a floor for the rounding of f in the difference quotient.
   */
  double eworst = 0.0, ea = 0.0, eb = 0.0;
  int er = 0, ec = 0;
  for (int j = 0; j < n; ++j) {
    memcpy(yy, y, sizeof(double) * n);
    const double h = 1e-6 * fmax(fabs(y[j]), species_scale(pt, j));
    yy[j] = y[j] + h;
    const double yp = yy[j];
    pt->model->rhs(pt->model, &pt->in, yy, fp);
    yy[j] = y[j] - h;
    const double ym = yy[j];
    pt->model->rhs(pt->model, &pt->in, yy, fm);
    for (int k = 0; k < n; ++k) {
      fd[k] = (fp[k] - fm[k]) / (yp - ym);
      const double a = J[k + (size_t)j * n];
      const double allowed = TOL * fmax(fabs(a), fabs(fd[k])) +
                             1e-13 * fmax(fabs(fp[k]), fabs(fm[k])) / (yp - ym);
      const double r = allowed > 0.0 ? fabs(a - fd[k]) / allowed
                                     : fabs(a - fd[k]) > 0.0 ? INFINITY : 0.0;
      if (!(r <= eworst)) {
        eworst = isnan(a) ? NAN : r;
        er = k;
        ec = j;
        ea = a;
        eb = fd[k];
      }
    }
    int at;
    const double dev = column_dev(J + (size_t)j * n, fd, n, &at);
    if (isnan(dev) || dev > worst) {
      worst = dev;
      wr = at;
      wc = j;
      wa = J[at + (size_t)j * n];
      wb = fd[at];
      if (isnan(dev)) break;
    }
  }
  char lb[96], rn[32], cn[32];
  label(pt, lb, sizeof lb);
  pt->model->state_name(pt->model, pt->p, pt->s.K, wr, rn, sizeof rn);
  pt->model->state_name(pt->model, pt->p, pt->s.K, wc, cn, sizeof cn);
  tap_ok(!isnan(worst) && worst < TOL,
         "%s: Jacobian worst d f[%s]/d %s analytic %.17g vs FD %.17g "
         "(column-scaled dev %.3g, tol %g)",
         lb, rn, cn, wa, wb, worst, TOL);
  pt->model->state_name(pt->model, pt->p, pt->s.K, er, rn, sizeof rn);
  pt->model->state_name(pt->model, pt->p, pt->s.K, ec, cn, sizeof cn);
  tap_ok(!isnan(eworst) && eworst <= 1.0,
         "%s: Jacobian entrywise worst d f[%s]/d %s analytic %.17g vs FD "
         "%.17g (deviation / allowed %.3g)",
         lb, rn, cn, ea, eb, eworst);
  free(J);
  free(fd);
  free(fp);
  free(fm);
  free(yy);
}

/* The address of input `which` in a copy of the point (tau, L or p). */
static double *input_slot(point *pt, int which) {
  const int K = pt->s.K;
  if (which < K) return &pt->tau[which];
  if (which < 2 * K) return &pt->L[which - K];
  return &pt->p[which - 2 * K];
}

static void input_name(const point *pt, int which, char *buf, size_t n) {
  const int K = pt->s.K;
  if (which < K)
    snprintf(buf, n, "tau[%d]", which);
  else if (which < 2 * K)
    snprintf(buf, n, "L[%d]", which - K);
  else
    snprintf(buf, n, "%s", pt->model->params[which - 2 * K].name);
}

/*
 * The step for an input is 1e-4 relative: f is linear in every input but
 * tau_i and Cstar (through 1/x, truncation error ~1e-8 at this step), and a
 * smaller step lets the cancelling binding terms' rounding approach the
 * tolerance.
 */
static void check_dfdp(const point *pt, const double *y) {
  const int n = pt->n, nw = 2 * pt->s.K + pt->model->n_params;
  double *col = malloc(sizeof(double) * n), *fd = malloc(sizeof(double) * n);
  double *fp = malloc(sizeof(double) * n), *fm = malloc(sizeof(double) * n);
  char lb[96], wn[32];
  label(pt, lb, sizeof lb);
  for (int which = 0; which < nw; ++which) {
    if (!kps_model_is_differentiable(pt->model, pt->s.K, which)) continue;
    for (int k = 0; k < n; ++k) col[k] = NAN;
    pt->model->dfdp(pt->model, &pt->in, y, which, col);

    point q = *pt;
    q.in = (kps_inputs){.p = q.p, .K = q.s.K, .tau = q.tau, .L = q.L};
    double *x = input_slot(&q, which);
    const double x0 = *x, h = 1e-4 * fabs(x0);
    *x = x0 + h;
    const double xp = *x;
    pt->model->rhs(pt->model, &q.in, y, fp);
    *x = x0 - h;
    const double xm = *x;
    pt->model->rhs(pt->model, &q.in, y, fm);
    for (int k = 0; k < n; ++k) fd[k] = (fp[k] - fm[k]) / (xp - xm);

    int at;
    const double dev = column_dev(col, fd, n, &at);
    char rn[32];
    input_name(pt, which, wn, sizeof wn);
    pt->model->state_name(pt->model, pt->p, pt->s.K, at, rn, sizeof rn);
    tap_ok(!isnan(dev) && dev < TOL,
           "%s: d f[%s]/d %s analytic %.17g vs FD %.17g (column-scaled dev "
           "%.3g, tol %g)",
           lb, rn, wn, col[at], fd[at], dev, TOL);
  }
  free(col);
  free(fd);
  free(fp);
  free(fm);
}

static void check_output_gradient(const point *pt, const double *y) {
  const int n = pt->n;
  double *g = malloc(sizeof(double) * n), *fd = malloc(sizeof(double) * n);
  double *yy = malloc(sizeof(double) * n);
  for (int k = 0; k < n; ++k) g[k] = NAN;
  const double O = pt->model->output(pt->model, &pt->in, y, g);
  for (int j = 0; j < n; ++j) {
    memcpy(yy, y, sizeof(double) * n);
    const double h = 1e-6 * fmax(fabs(y[j]), species_scale(pt, j));
    yy[j] = y[j] + h;
    const double yp = yy[j], Op = pt->model->output(pt->model, &pt->in, yy, NULL);
    yy[j] = y[j] - h;
    const double ym = yy[j], Om = pt->model->output(pt->model, &pt->in, yy, NULL);
    fd[j] = (Op - Om) / (yp - ym);
  }
  int at;
  const double dev = column_dev(g, fd, n, &at);
  char lb[96], rn[32];
  label(pt, lb, sizeof lb);
  pt->model->state_name(pt->model, pt->p, pt->s.K, at, rn, sizeof rn);
  tap_ok(!isnan(dev) && dev < TOL,
         "%s: dO/d %s analytic %.17g vs FD %.17g (scaled dev %.3g, tol %g)",
         lb, rn, g[at], fd[at], dev, TOL);

  double expect = 0.0;
  for (int i = 0; i < pt->s.K; ++i) expect += y[i * (pt->s.N + 1) + pt->s.N];
  tap_close(O, expect, 1e-15, 0.0, "output is sum_i C[N,i]");
  free(g);
  free(fd);
  free(yy);
}

static void check_validity(const point *pt, const double *y) {
  const int n = pt->n, w = pt->s.N + 1;
  const double tol = 1e-9, R = param(pt, "R");
  double *z = malloc(sizeof(double) * n);
  char lb[96];
  label(pt, lb, sizeof lb);
  const kps_model *md = pt->model;
  int rc;

  md->initial_state(md, &pt->in, z);
  rc = md->check_state(md, &pt->in, z, tol);
  tap_ok(rc == 0, "%s: check_state(initial state) = %d, expected 0", lb, rc);
  rc = md->check_state(md, &pt->in, y, tol);
  tap_ok(rc == 0, "%s: check_state(random valid state) = %d, expected 0", lb,
         rc);

  memcpy(z, y, sizeof(double) * n);
  z[pt->nc - 1] = -1e-3 * R;
  rc = md->check_state(md, &pt->in, z, tol);
  tap_ok(rc != 0, "%s: check_state(C[%d,%d] = %g) = %d, expected non-zero",
         lb, pt->s.N, pt->s.K - 1, z[pt->nc - 1], rc);

  /* Receptors over-committed while every ligand stays in excess. */
  point q = *pt;
  q.in = (kps_inputs){.p = q.p, .K = q.s.K, .tau = q.tau, .L = q.L};
  for (int i = 0; i < q.s.K; ++i) q.L[i] = 10.0 * R;
  memcpy(z, y, sizeof(double) * n);
  double sum = 0.0;
  for (int k = 0; k < pt->nc; ++k) sum += z[k];
  z[0] += 1.01 * R - sum;
  rc = md->check_state(md, &q.in, z, tol);
  tap_ok(rc != 0, "%s: check_state(sum C = %.6g > R = %.6g) = %d, expected "
         "non-zero", lb, 1.01 * R, R, rc);

  /* Ligand 0 over-committed while receptors stay free. */
  q = *pt;
  q.in = (kps_inputs){.p = q.p, .K = q.s.K, .tau = q.tau, .L = q.L};
  double T0 = 0.0;
  for (int nn = 0; nn < w; ++nn) T0 += y[nn];
  q.L[0] = 0.5 * T0;
  rc = md->check_state(md, &q.in, y, tol);
  tap_ok(rc != 0, "%s: check_state(sum_n C[n,0] = %.6g > L[0] = %.6g) = %d, "
         "expected non-zero", lb, T0, q.L[0], rc);

  if (n > pt->nc) {
    char nm[32];
    md->state_name(md, pt->p, pt->s.K, pt->nc, nm, sizeof nm);
    memcpy(z, y, sizeof(double) * n);
    z[pt->nc] = 1.01 * pt->total;
    rc = md->check_state(md, &pt->in, z, tol);
    tap_ok(rc != 0, "%s: check_state(%s = %.6g > total %.6g) = %d, expected "
           "non-zero", lb, nm, z[pt->nc], pt->total, rc);
    z[pt->nc] = -0.01 * pt->total;
    rc = md->check_state(md, &pt->in, z, tol);
    tap_ok(rc != 0, "%s: check_state(%s = %.6g) = %d, expected non-zero", lb,
           nm, z[pt->nc], rc);
  }
  free(z);
}

/*
 * With C[0,i] = C[1,i] = 0 the C[0,i] row of f is the binding term alone in
 * every model. Integer-valued complexes make R_f and the free ligand exact.
 */
static void check_binding(const point *pt, const double *y) {
  const int n = pt->n, w = pt->s.N + 1;
  double *z = malloc(sizeof(double) * n), *f = malloc(sizeof(double) * n);
  memcpy(z, y, sizeof(double) * n);
  double sum = 0.0;
  for (int i = 0; i < pt->s.K; ++i)
    for (int nn = 0; nn < w; ++nn) {
      z[i * w + nn] = nn < 2 ? 0.0 : 50.0 * (nn + 1) + 10.0 * i;
      sum += z[i * w + nn];
    }
  pt->model->rhs(pt->model, &pt->in, z, f);
  const double Rf = param(pt, "R") - sum, kappa = param(pt, "kappa");
  char lb[96], what[256];
  label(pt, lb, sizeof lb);
  for (int i = 0; i < pt->s.K; ++i) {
    double T = 0.0;
    for (int nn = 0; nn < w; ++nn) T += z[i * w + nn];
    snprintf(what, sizeof what,
             "%s: f[C[0,%d]] = kappa (L - T) R_f with R_f = %.6g, free L = "
             "%.6g",
             lb, i, Rf, pt->L[i] - T);
    tap_close(f[i * w], kappa * (pt->L[i] - T) * Rf, 1e-13, 0.0, what);
  }
  free(z);
  free(f);
}

/*
 * Central difference of rhs(in, y) in the value *slot (a component of y, a
 * pool or an input), restored afterwards: fd = (f(x + h) - f(x - h)) / 2h,
 * with fp, fm as scratch.
 */
static void central(const kps_model *md, const kps_inputs *in, const double *y, double *slot,
                    double h, double *fp, double *fm, double *fd, int n) {
  const double x0 = *slot;
  *slot = x0 + h;
  const double xp = *slot;
  md->rhs(md, in, y, fp);
  *slot = x0 - h;
  const double xm = *slot;
  md->rhs(md, in, y, fm);
  *slot = x0;
  for (int k = 0; k < n; ++k) fd[k] = (fp[k] - fm[k]) / (xp - xm);
}

/*
 * Conserved pools (kps_model.n_pools): with the pools set to their values
 * total - a . y, rhs is the same as without; jacobian, dfdp and dfdpool at
 * fixed pools match central differences with the pools held; and the total
 * Jacobian is the fixed-pool one minus dfdpool a^T (the chain rule).
 */
static void check_pools(const point *pt, const double *y) {
  const kps_model *md = pt->model;
  if (!md->n_pools) return;
  const int n = pt->n, np = md->n_pools(md, pt->p, pt->s.K);
  char lb[96];
  label(pt, lb, sizeof lb);
  if (!tap_ok(np >= 1 && np <= KPS_MAX_POOLS && md->pool_law && md->dfdpool,
              "%s: %d pools, pool_law and dfdpool set", lb, np))
    return;
  double q[KPS_MAX_POOLS], *a = malloc(sizeof(double) * n * np);
  double *f0 = malloc(sizeof(double) * n), *f1 = malloc(sizeof(double) * n);
  double *Jt = malloc(sizeof(double) * n * n), *Jq = malloc(sizeof(double) * n * n);
  double *col = malloc(sizeof(double) * n), *fd = malloc(sizeof(double) * n);
  double *yy = malloc(sizeof(double) * n);
  int law_ok = 1;
  for (int k = 0; k < np; ++k) {
    int which = -1;
    const double tot = md->pool_law(md, &pt->in, k, a + (size_t)k * n, &which);
    double sum = 0.0;
    for (int j = 0; j < n; ++j) sum += a[(size_t)k * n + j] * y[j];
    q[k] = tot - sum;
    point cp = *pt;
    if (which < 2 * pt->s.K || which >= 2 * pt->s.K + md->n_params ||
        *input_slot(&cp, which) != tot || !(q[k] > 0.0))
      law_ok = 0;
  }
  tap_ok(law_ok, "%s: each law's total is the input it names; pools positive", lb);
  kps_inputs pin = pt->in;
  pin.pool = q;
  md->rhs(md, &pt->in, y, f0);
  md->rhs(md, &pin, y, f1);
  int at;
  tap_ok(column_dev(f1, f0, n, &at) < 1e-12, "%s: rhs with the pools given = rhs without",
         lb);

  /* Jacobian at fixed pools against differences in y (pools held). */
  md->jacobian(md, &pin, y, Jq);
  double worst = 0.0;
  for (int j = 0; j < n; ++j) {
    memcpy(yy, y, sizeof(double) * n);
    central(md, &pin, yy, &yy[j], 1e-6 * fmax(fabs(y[j]), species_scale(pt, j)), f0, f1, fd, n);
    worst = fmax(worst, column_dev(Jq + (size_t)j * n, fd, n, &at));
  }
  tap_ok(worst < TOL, "%s: Jacobian at fixed pools vs FD (worst column dev %.3g)", lb, worst);

  /* dfdpool against differences in each pool; the chain rule. */
  md->jacobian(md, &pt->in, y, Jt);
  double wq = 0.0, wc = 0.0;
  for (int k = 0; k < np; ++k) {
    double qq[KPS_MAX_POOLS];
    memcpy(qq, q, sizeof q);
    kps_inputs qi = pin;
    qi.pool = qq;
    central(md, &qi, y, &qq[k], 1e-6 * q[k], f0, f1, fd, n);
    md->dfdpool(md, &pin, y, k, col);
    wq = fmax(wq, column_dev(col, fd, n, &at));
    for (int j = 0; j < n; ++j)
      for (int r = 0; r < n; ++r) Jq[r + (size_t)j * n] -= col[r] * a[(size_t)k * n + j];
  }
  for (int j = 0; j < n; ++j)
    wc = fmax(wc, column_dev(Jq + (size_t)j * n, Jt + (size_t)j * n, n, &at));
  tap_ok(wq < TOL, "%s: dfdpool vs FD (worst column dev %.3g)", lb, wq);
  tap_ok(wc < 1e-12, "%s: J = J(fixed pools) - dfdpool a^T (worst column dev %.3g)", lb, wc);

  /* dfdp at fixed pools against differences of each input (pools held). */
  double wp = 0.0;
  for (int which = 0; which < 2 * pt->s.K + md->n_params; ++which) {
    if (!kps_model_is_differentiable(md, pt->s.K, which)) continue;
    md->dfdp(md, &pin, y, which, col);
    point cp = *pt;
    cp.in = (kps_inputs){.p = cp.p, .K = cp.s.K, .tau = cp.tau, .L = cp.L, .pool = q};
    double *x = input_slot(&cp, which);
    central(md, &cp.in, y, x, 1e-4 * fabs(*x), f0, f1, fd, n);
    wp = fmax(wp, column_dev(col, fd, n, &at));
  }
  tap_ok(wp < TOL, "%s: df/dx at fixed pools vs FD (worst column dev %.3g)", lb, wp);
  free(a), free(f0), free(f1), free(Jt), free(Jq), free(col), free(fd), free(yy);
}

static void check_table(const kps_model *md) {
  int ok = 1;
  for (int j = 0; j < md->n_params; ++j) {
    const kps_param_info *q = &md->params[j];
    int in_range = q->def >= q->min && q->def <= q->max;
    int integral = !(q->flags & KPS_PARAM_INTEGER) || q->def == floor(q->def);
    tap_ok(in_range && integral,
           "%s: param %s default %g in [%g, %g]%s", md->name, q->name, q->def,
           q->min, q->max, (q->flags & KPS_PARAM_INTEGER) ? ", integral" : "");
    for (int k = 0; k < j; ++k)
      if (strcmp(md->params[k].name, q->name) == 0) ok = 0;
  }
  tap_ok(ok, "%s: %d parameter names unique", md->name, md->n_params);
  tap_ok(md->n_params <= KPS_MAX_PARAMS, "%s: n_params %d <= %d", md->name,
         md->n_params, KPS_MAX_PARAMS);
  tap_ok(md->closed_form == NULL && md->n_state && md->initial_state &&
             md->rhs && md->jacobian && md->output && md->dfdp &&
             md->check_state && md->state_name,
         "%s: ODE entry points set, closed_form NULL", md->name);

  double p[KPS_MAX_PARAMS];
  kps_model_defaults(md, p);
  char why[128] = "";
  int rc = md->check_params ? md->check_params(md, p, why, sizeof why) : 0;
  tap_ok(rc == 0, "%s: check_params(defaults) = %d, expected 0", md->name,
         rc);
  const int jm = kps_model_param_index(md, "m");
  if (jm >= 0) {
    p[jm] = p[kps_model_param_index(md, "N")];
    why[0] = '\0';
    rc = md->check_params ? md->check_params(md, p, why, sizeof why) : 0;
    tap_ok(rc != 0 && why[0] != '\0',
           "%s: check_params(m = N) = %d, expected non-zero (\"%s\")",
           md->name, rc, why);
  }
}

static void check_names(const point *pt) {
  char buf[32], lb[96];
  label(pt, lb, sizeof lb);
  const int extra = pt->n - pt->nc;
  tap_ok(extra == (pt->total > 0 ? 1 : 0), "%s: n_state %d = K(N+1) %d + %d",
         lb, pt->n, pt->nc, extra);
  const int k = pt->nc - 1;
  pt->model->state_name(pt->model, pt->p, pt->s.K, k, buf, sizeof buf);
  char want[32];
  snprintf(want, sizeof want, "C[%d,%d]", pt->s.N, pt->s.K - 1);
  tap_ok(strcmp(buf, want) == 0, "%s: state_name(%d) \"%s\" vs \"%s\"", lb, k,
         buf, want);
  if (extra) {
    pt->model->state_name(pt->model, pt->p, pt->s.K, pt->nc, buf, sizeof buf);
    const char *w = strcmp(pt->model->name, "shp1") == 0 ? "S" : "K";
    tap_ok(strcmp(buf, w) == 0, "%s: state_name(%d) \"%s\" vs \"%s\"", lb,
           pt->nc, buf, w);
  }
}

int main(void) {
  for (size_t mi = 0; mi < sizeof model_names / sizeof *model_names; ++mi) {
    const kps_model *md = kps_model_find(model_names[mi]);
    if (!tap_ok(md != NULL, "model %s registered", model_names[mi])) continue;
    check_table(md);
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; ++si) {
      point pt;
      point_init(&pt, md, shapes[si]);
      double *y = malloc(sizeof(double) * pt.n);
      random_state(&pt, y);
      check_names(&pt);
      check_jacobian(&pt, y);
      check_dfdp(&pt, y);
      check_output_gradient(&pt, y);
      check_validity(&pt, y);
      check_binding(&pt, y);
      check_pools(&pt, y);
      free(y);
    }
  }
  return tap_done();
}
