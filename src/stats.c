/*
 * Line statistics (tau*, edge exponent, inflection, regime) and dose
 * boundaries (L2*, L1*). Definitions and choices: science.md section 6 and
 * docs/statistics.md.
 */
#include "kpsweep/stats.h"

#include <math.h>

#include "kpsweep/status.h"

/*
 * Constants
 *   EDGE_STEP    relative step of the log-slope at the lower edge
 *   ROOT_XTOL    relative width at which tau* is accepted
 *   GOLDEN_XTOL  relative width of the inflection search
 *   DOSE_MAX     end of the dose path: no boundary up to it reads +inf
 *   DOSE_REL     scale of the dose coordinate, relative to the total count
 *   DOSE_GAPS    the dose path [0, DOSE_MAX] is covered with gaps of at most
 *                1/DOSE_GAPS of its length in that coordinate (the guarantee)
 *   DOSE_XTOL    relative width of the final bracket in that coordinate
 *   DOSE_XABS    its absolute width near dose 0 (a boundary exactly at 0
 *                ends there; tiny boundaries of ideal keep their digits)
 *   DOSE_NEAR0   where a closed form undefined at dose 0 starts its path
 *   DOSE_EVALS   evaluations one dose search may make (its samples fit the
 *                caller's KPS_DOSE_SAMPLES)
 */
#define EDGE_STEP 1e-4
#define ROOT_XTOL 1e-13
#define GOLDEN_XTOL 1e-9
#define DOSE_MAX 1e15
#define DOSE_REL 1e-3
#define DOSE_GAPS 16
#define DOSE_XTOL 1e-13
#define DOSE_XABS 1e-30
#define DOSE_NEAR0 1e-9
#define DOSE_EVALS (KPS_DOSE_SAMPLES - 8)

/* dO/dtau of the probe's second ligand at tau2 = x. */
static int g_at(void *ctx, double x, double *gx) {
  kps_probe *pr = ctx;
  double O, g[2 * KPS_MAX_BINS];
  pr->tau[1] = x;
  int st = kps_probe_eval(pr, &O, g);
  *gx = g[1];
  return st;
}

/* Minimises sgn * g(x) on [a, b] by golden-section search. */
static int golden(kps_probe *pr, double sgn, double a, double b, double *xmin) {
  const double r = 0.5 * (sqrt(5.0) - 1.0);
  double c = b - r * (b - a), d = a + r * (b - a), gc, gd;
  int st = g_at(pr, c, &gc);
  if (kps_status_is_ok(st)) st = g_at(pr, d, &gd);
  while (kps_status_is_ok(st) && fabs(b - a) > GOLDEN_XTOL * fabs(b)) {
    if (sgn * gc < sgn * gd) {
      b = d, d = c, gd = gc;
      c = b - r * (b - a);
      st = g_at(pr, c, &gc);
    } else {
      a = c, c = d, gc = gd;
      d = a + r * (b - a);
      st = g_at(pr, d, &gd);
    }
  }
  *xmin = 0.5 * (a + b);
  return st;
}

/*
 * tau_infl: the extremum of dO/dtau2 (a minimum: the gradient is negative
 * below tau*) on [tau2[0], tau2[upper]], refined by golden section. When
 * the grid's most negative gradient sits at the lower end but the gradient
 * grows away from it (p > 0), the extremum lies in the first cell.
 */
static int inflection(kps_probe *pr, const double *tau2, const double *g, size_t upper,
                      double p_edge, double *tau_infl) {
  *tau_infl = NAN;
  if (upper < 1) return KPS_ST_OK;
  size_t k = 0;
  for (size_t j = 1; j <= upper; ++j)
    if (g[j] < g[k]) k = j;
  double lo, hi;
  if (k > 0) lo = tau2[k - 1], hi = tau2[k + 1];
  else if (p_edge > 0) lo = tau2[0], hi = tau2[1];
  else return KPS_ST_OK;
  pr->warm = 0;
  return golden(pr, 1.0, lo, hi, tau_infl);
}

int kps_line_statistics(kps_probe *pr, const double *tau2, size_t n, const double *O,
                        const double *g, const int8_t *status, double O_ag, double fc_tol,
                        kps_line_stats *out) {
  out->tau_star = out->O_star = out->FC_min = out->p_edge = out->tau_infl = NAN;
  out->regime = KPS_REGIME_UNKNOWN;
  out->edge_class = KPS_EDGE_UNKNOWN;
  if (n < 2 || !(O_ag > 0) || !isfinite(O_ag)) return KPS_ST_OK;
  for (size_t j = 0; j < n; ++j) {
    if (!kps_status_is_ok(status[j])) return status[j];
    if (j > 0 && !(tau2[j] > tau2[j - 1])) return KPS_ST_OK;
  }
  size_t jm = 0;
  for (size_t j = 1; j < n; ++j)
    if (O[j] < O[jm]) jm = j;
  out->FC_min = O[jm] / O_ag;
  const double FC_lo = O[0] / O_ag;

  /* Edge exponent: local log-slope of |dO/dtau2| at the lower end (none
   * along a line that tau2 does not affect, e.g. L2 = 0). */
  double gmax = 0.0;
  for (size_t j = 0; j < n; ++j) gmax = fmax(gmax, fabs(g[j]));
  int st = KPS_ST_OK;
  if (gmax > 0.0) {
    double gh;
    pr->warm = 0;
    st = g_at(pr, tau2[0] * (1.0 + EDGE_STEP), &gh);
    if (!kps_status_is_ok(st)) return st;
    if (g[0] != 0.0 && gh != 0.0 && (g[0] > 0) == (gh > 0))
      out->p_edge = log(fabs(gh) / fabs(g[0])) / log1p(EDGE_STEP);
  }
  if (out->FC_min >= 1.0 - fc_tol) {
    out->regime = KPS_REGIME_NONE;
    out->edge_class = KPS_EDGE_STEEP;
    return KPS_ST_OK;
  }

  /* tau*: the grid minimum of O, refined to the zero of dO/dtau2 next to it.
   * It counts when the dip is deeper than fc_tol below the weakest ligands'
   * FC; toward the upper end the exact gradient's sign change already
   * proves an interior minimum, however close tau* is to the end. */
  const int dip = jm > 0 && jm < n - 1 && out->FC_min < FC_lo - fc_tol;
  if (dip) {
    size_t a = g[jm] <= 0.0 ? jm : jm - 1;
    if (!(g[a] <= 0.0 && g[a + 1] >= 0.0)) a = a == jm ? jm - 1 : jm;
    /* Grid and gradient disagree: no sign change next to the minimum. */
    if (!(g[a] <= 0.0 && g[a + 1] >= 0.0)) return KPS_ST_OK;
    pr->warm = 0;
    double root, Ostar, gg[2 * KPS_MAX_BINS];
    st = kps_bracket_root(g_at, pr, tau2[a], g[a], tau2[a + 1], g[a + 1], ROOT_XTOL, &root);
    if (!kps_status_is_ok(st)) return st;
    pr->tau[1] = root;
    st = kps_probe_eval(pr, &Ostar, gg);
    if (!kps_status_is_ok(st)) return st;
    out->tau_star = root;
    out->O_star = Ostar;
    out->FC_min = fmin(out->FC_min, Ostar / O_ag);
    out->regime = KPS_REGIME_CRITICAL;
    st = inflection(pr, tau2, g, a, out->p_edge, &out->tau_infl);
    if (!kps_status_is_ok(st)) return st;
    out->edge_class = isnan(out->tau_infl) ? KPS_EDGE_STEEP : KPS_EDGE_FLAT;
    return KPS_ST_OK;
  }
  out->regime = jm == n - 1 ? KPS_REGIME_BEYOND : KPS_REGIME_EDGE;
  out->edge_class = KPS_EDGE_STEEP;
  return KPS_ST_OK;
}

double kps_dose_scale(const double *L, int K) {
  double total = 0.0;
  for (int i = 0; i < K; ++i) total += L[i];
  return total > 0.0 ? DOSE_REL * total : 1.0;
}

/* The dose path of ligand `which`: x = log(1 + L / L_s), f = O - O_th. */
typedef struct dose_ctx {
  kps_probe *pr;
  int which;
  double O_th, Ls;
} dose_ctx;

static int dose_path(void *ctx, double x, kps_sample *out) {
  dose_ctx *c = ctx;
  kps_probe *pr = c->pr;
  double O, g[2 * KPS_MAX_BINS];
  const double L = x > 0.0 ? c->Ls * expm1(x) : 0.0;
  pr->L[c->which] = L;
  pr->key = x;
  const int st = kps_probe_eval(pr, &O, g);
  out->f = O - c->O_th;
  out->df = g[pr->K + c->which] * (c->Ls + L);
  return st;
}

int kps_dose_boundary(kps_probe *pr, int which, double O_th, int target,
                      const kps_dose_known *known, kps_samples *set, double *dose) {
  const double L0 = pr->L[which];
  const int reuse = pr->reuse_lu;
  dose_ctx c = {pr, which, O_th, kps_dose_scale(pr->L, pr->K)};
  *dose = NAN;
  set->n = 0;
  pr->reuse_lu = 1;
  /* Dose 0, or just above it where the output is undefined there (ideal
   * with no ligand at all: 0/0): the limit from above decides. */
  double a = 0.0;
  kps_sample s0 = {.x = a};
  int st = dose_path(&c, a, &s0);
  if (!kps_status_is_ok(st) && pr->m->closed_form) {
    s0.x = a = DOSE_NEAR0;
    st = dose_path(&c, a, &s0);
  }
  if (!kps_status_is_ok(st)) goto done;
  kps_samples_insert(set, s0);
  if ((s0.f > 0) == (target == 1)) {
    *dose = 0.0;
    goto done;
  }
  /* The current dose is a sample the caller usually has already. */
  if (known && L0 > 0 && isfinite(known->O) && isfinite(known->dO_dL))
    kps_samples_insert(set, (kps_sample){log1p(L0 / c.Ls), known->O - O_th, known->dO_dL * (c.Ls + L0)});
  const double x_max = log1p(DOSE_MAX / c.Ls);
  const double hint = known && known->hint > 0 ? log1p(known->hint / c.Ls) : NAN;
  const kps_search_opts o = {.a = a, .b = x_max, .h = x_max / DOSE_GAPS, .tol_abs = DOSE_XABS,
                             .tol_rel = DOSE_XTOL, .hint = hint, .max_evals = DOSE_EVALS};
  kps_search_result r;
  st = kps_search_first(dose_path, &c, &o, set, &r);
  if (!kps_status_is_ok(st)) goto done;
  if (r.found == 1) *dose = c.Ls * expm1(r.hi);
  else if (r.found == 0) *dose = INFINITY;
done:
  pr->L[which] = L0;
  pr->warm = 0;
  pr->reuse_lu = reuse;
  return st;
}
