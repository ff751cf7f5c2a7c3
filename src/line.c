/*
 * Computes one line (task) of the sweep: threshold, agonist alone, then every
 * tau2 point with its output, fold change, decision and exact gradients; then
 * the line statistics and, point by point in axis order, the dose boundaries
 * and attacks, which start from what the line already knows (its steady
 * states, its output and gradient along tau2, the previous point's results).
 */
#include "kpsweep/line.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kpsweep/attack.h"
#include "kpsweep/landscape.h"
#include "kpsweep/search.h"
#include "kpsweep/solver.h"
#include "kpsweep/stats.h"
#include "kpsweep/status.h"
#include "kpsweep/threshold.h"

/*
 * Constants
 *   LINE_STATES_MAX  state values kept of one line for the second pass (the
 *                    steady state of every point); a longer line solves its
 *                    points again in that pass instead
 *   TAU_EXTRA        samples and states the searches along the tau2 curve
 *                    may add to the line's own
 *   TAU_LEG_EVALS    evaluations of one search between two crossings of it
 *   TAU_XTOL         relative width of its crossings (as FGSM's)
 */
#define LINE_STATES_MAX (1L << 24)
#define TAU_EXTRA 4096
#define TAU_LEG_EVALS 1024
#define TAU_XTOL 1e-12

struct kps_line_worker {
  const kps_config *cfg;
  int K;              /* ligand types of a point: agonist, antagonist, self (kps_config_ligands) */
  kps_solver *solver;
  double *y;          /* state of the current point (warm-start source) */
  double *y_probe;    /* state of the statistics and attack probes */
  double *y_d0;       /* the L2* path's dose 0 (agonist, L2 = 0): same for the whole line */
  double *y_aa;       /* the L1* path's dose 0 (antagonist alone) at the previous point */
  double *y_pt;       /* a point's state in the second pass when the line keeps none */
  int y_cap;
  kps_probe probe;
  kps_warm_pool line_pool; /* the line's steady states by tau2, then its searches' */
  kps_warm_pool dose_pool; /* one dose search's states by its dose coordinate */
  kps_sample dose_buf[KPS_DOSE_SAMPLES];
  kps_sample *tau_buf; /* samples of the tau2 curve */
  int tau_cap;
  /* Crossings of the tau2 curve (brackets [cross[2i], cross[2i+1]]), all
   * that lie below tau_known; tau_scanned: computed for this line. */
  double *cross;
  int n_cross, cross_cap, tau_scanned;
  double tau_known;
  /* The descent's start depends on the config only: drawn once. The
   * published method moves individuals (lig0, copied into lig), the
   * normalized one the bins (hist_*). K_desc: the most ligand types the
   * descent evaluates at once (0: no descent). */
  int K_hist, K_desc;
  double hist_tau[KPS_MAX_BINS], hist_L[KPS_MAX_BINS];
  double *lig0, *lig;
  size_t n_lig;
  /* The histogram descent depends on the parameter point only. */
  size_t descent_point;
  kps_descent_result descent;
  size_t cached_point; /* parameter point whose O_th is cached, SIZE_MAX = none */
  double cached_O_th;
  kps_landscape *land; /* the output landscape, per parameter point (NULL: off) */
};

kps_err kps_line_worker_create(const kps_config *cfg, kps_line_worker **out) {
  kps_err rc = KPS_OK;
  kps_line_worker *w = calloc(1, sizeof *w);
  KPS_CHECK_ALLOC(w);
  w->cfg = cfg;
  w->K = 2 + (int)cfg->n_self;
  w->cached_point = SIZE_MAX;
  w->descent_point = SIZE_MAX;
  if (cfg->attack.enabled && cfg->attack.descent) {
    if (cfg->attack.descent_method == KPS_DESCENT_PUBLISHED) {
      KPS_CHECK(kps_attack_ligands(&cfg->attack, 0, NULL, NULL, &w->lig0, &w->n_lig));
      w->lig = malloc(sizeof(double) * (w->n_lig > 0 ? w->n_lig : 1));
      KPS_CHECK_ALLOC(w->lig);
      /* Any bin of the grid may fill. */
      w->K_desc = w->n_lig > 0 ? (int)kps_attack_grid_bins(&cfg->attack) : 0;
    } else {
      w->K_desc = w->K_hist = kps_attack_histogram(&cfg->attack, w->hist_tau, w->hist_L);
    }
  }
  if (cfg->landscape.enabled) KPS_CHECK(kps_landscape_create(cfg, &w->land));
  KPS_CHECK(kps_solver_create(&cfg->solver, &w->solver));
  *out = w;
  w = NULL;
cleanup:
  kps_line_worker_destroy(&w);
  return rc;
}

void kps_line_worker_destroy(kps_line_worker **wp) {
  if (!wp || !*wp) return;
  kps_line_worker *w = *wp;
  kps_solver_destroy(&w->solver);
  free(w->y);
  free(w->y_probe);
  free(w->y_d0);
  free(w->y_aa);
  free(w->y_pt);
  kps_warm_pool_free(&w->line_pool);
  kps_warm_pool_free(&w->dose_pool);
  free(w->tau_buf);
  free(w->cross);
  free(w->lig0);
  free(w->lig);
  kps_landscape_destroy(&w->land);
  free(w);
  *wp = NULL;
}

static kps_err grow(double **p, size_t n) {
  double *q = realloc(*p, sizeof(double) * (n > 0 ? n : 1));
  if (!q) return KPS_ERR_NOMEM;
  *p = q;
  return KPS_OK;
}

static kps_err ensure_state(kps_line_worker *w, int n) {
  kps_err rc = KPS_OK;
  if (n <= w->y_cap) return KPS_OK;
  KPS_CHECK(grow(&w->y, (size_t)n));
  KPS_CHECK(grow(&w->y_probe, (size_t)n));
  KPS_CHECK(grow(&w->y_d0, (size_t)n));
  KPS_CHECK(grow(&w->y_aa, (size_t)n));
  KPS_CHECK(grow(&w->y_pt, (size_t)n));
  w->y_cap = n;
cleanup:
  return rc;
}

/* Room for the tau2 curve's samples and crossings of a line of n_tau points. */
static kps_err ensure_tau(kps_line_worker *w, size_t n_tau) {
  kps_err rc = KPS_OK;
  const int need = (int)n_tau + TAU_EXTRA;
  if (need > w->tau_cap) {
    kps_sample *t = realloc(w->tau_buf, sizeof *t * (size_t)need);
    KPS_CHECK_ALLOC(t);
    w->tau_buf = t;
    KPS_CHECK(grow(&w->cross, 2 * (size_t)need));
    w->tau_cap = w->cross_cap = need;
  }
cleanup:
  return rc;
}

/* Marks every point of a row as not computable with the given status. */
static void fill_row_failed(kps_batch *b, size_t row, int status) {
  const kps_field_info *fi = kps_fields();
  for (int f = 0; f < KPS_N_FIELDS; ++f) {
    size_t len = kps_batch_field_len(b, (kps_field_id)f);
    for (size_t k = 0; k < len; ++k) {
      if (fi[f].type == KPS_F64) kps_batch_f64(b, (kps_field_id)f, row)[k] = NAN;
      else if (fi[f].type == KPS_I32) kps_batch_i32(b, (kps_field_id)f, row)[k] = -1;
      else kps_batch_i8(b, (kps_field_id)f, row)[k] = -1;
    }
  }
  int8_t *st = kps_batch_i8(b, F_STATUS, row);
  for (size_t k = 0; k < b->n_tau; ++k) st[k] = (int8_t)status;
}

/* tau, L: the line's ligand types (tau[1] is set here). */
static void line_statistics(kps_line_worker *w, kps_batch *b, size_t row, double *tau,
                            const double *L, double O_ag) {
  const kps_config *cfg = w->cfg;
  kps_line_stats ls = {NAN, NAN, NAN, NAN, NAN, KPS_REGIME_UNKNOWN, KPS_EDGE_UNKNOWN};
  const size_t n = cfg->tau2.n;
  if (cfg->stats.line_stats && n > 0) {
    tau[1] = cfg->tau2.values[0];
    kps_probe_reset(&w->probe, w->K, tau, L);
    const double *t2 = cfg->tau2.values, *O = kps_batch_f64(b, F_O, row);
    const double *g = kps_batch_f64(b, F_DO_DTAU2, row);
    const int8_t *st = kps_batch_i8(b, F_STATUS, row);
    /* The statistics read the axis upwards; a falling axis is read reversed. */
    double *rev = n > 1 && t2[1] < t2[0] ? malloc(sizeof(double) * 3 * n) : NULL;
    int8_t *rst = rev ? malloc(n) : NULL;
    if (rev && rst) {
      for (size_t j = 0; j < n; ++j) {
        rev[j] = t2[n - 1 - j], rev[n + j] = O[n - 1 - j], rev[2 * n + j] = g[n - 1 - j];
        rst[j] = st[n - 1 - j];
      }
      t2 = rev, O = rev + n, g = rev + 2 * n, st = rst;
    }
    kps_line_statistics(&w->probe, t2, n, O, g, st, O_ag, cfg->stats.fc_tol, &ls);
    free(rev);
    free(rst);
  }
  *kps_batch_f64(b, F_TAU_STAR, row) = ls.tau_star;
  *kps_batch_f64(b, F_TAU_STAR_REL, row) = ls.tau_star / cfg->tau_c;
  *kps_batch_f64(b, F_FC_STAR, row) = ls.O_star / O_ag;
  *kps_batch_f64(b, F_P_EDGE, row) = ls.p_edge;
  *kps_batch_f64(b, F_TAU_INFL, row) = ls.tau_infl;
  *kps_batch_i8(b, F_REGIME, row) = (int8_t)ls.regime;
  *kps_batch_i8(b, F_EDGE_CLASS, row) = (int8_t)ls.edge_class;
  *kps_batch_f64(b, F_FC_MIN, row) = ls.FC_min;
}

/* The tau2 curve of the line: f = O - O_th and dO/dtau2 at the antagonist's tau2 = x. */
typedef struct tau_ctx {
  kps_probe *pr;
  double O_th;
} tau_ctx;

static int tau_path(void *ctx, double x, kps_sample *out) {
  tau_ctx *c = ctx;
  double O, g[2 * KPS_LINE_MAX_K];
  c->pr->tau[1] = x;
  c->pr->key = x;
  const int st = kps_probe_eval(c->pr, &O, g);
  out->f = O - c->O_th;
  out->df = g[1];
  return st;
}

/*
 * Every crossing of the threshold along the line's tau2 curve on
 * [min(tau_min, axis), tau_c]: the region FGSM in binding times and PGD
 * explore when only the antagonist moves, the same curve for every point
 * of the line. Searched once, at the FGSM resolution (gaps of at most
 * fgsm_eps_tau_max / KPS_FGSM_TAU_GAPS), from the line's own points as
 * seeds; a failed search leaves what lies beyond it unknown (tau_known).
 */
static void scan_tau_curve(kps_line_worker *w, kps_batch *b, size_t row, const double *tau,
                           const double *L, double O_th) {
  const kps_config *cfg = w->cfg;
  const kps_attack_config *a = &cfg->attack;
  const size_t n = cfg->tau2.n;
  const double *t2 = cfg->tau2.values, *O = kps_batch_f64(b, F_O, row);
  const double *g = kps_batch_f64(b, F_DO_DTAU2, row);
  const int8_t *st = kps_batch_i8(b, F_STATUS, row);
  double lo = a->tau_min;
  for (size_t j = 0; j < n; ++j) lo = fmin(lo, t2[j]);
  const double hi = cfg->tau_c;
  w->tau_scanned = 1;
  w->n_cross = 0;
  w->tau_known = lo;
  if (!(hi > lo)) {
    w->tau_known = hi;
    return;
  }
  kps_samples set = {w->tau_buf, 0, w->tau_cap};
  for (size_t j = 0; j < n; ++j)
    if (kps_status_is_ok(st[j]) && t2[j] >= lo && t2[j] <= hi)
      kps_samples_insert(&set, (kps_sample){t2[j], O[j] - O_th, g[j]});
  kps_probe *pr = &w->probe;
  kps_probe_reset(pr, w->K, tau, L);
  pr->pool = &w->line_pool;
  pr->reuse_lu = 1;
  tau_ctx c = {pr, O_th};
  const double h = a->fgsm_eps_tau_max / KPS_FGSM_TAU_GAPS;
  for (double from = lo; w->n_cross < w->cross_cap;) {
    const kps_search_opts o = {.a = from, .b = hi, .h = h, .tol_abs = TAU_XTOL * h,
                               .tol_rel = TAU_XTOL, .hint = NAN, .max_evals = TAU_LEG_EVALS};
    kps_search_result r;
    if (!kps_status_is_ok(kps_search_first(tau_path, &c, &o, &set, &r)) || r.found < 0) break;
    if (r.found == 0) {
      w->tau_known = hi;
      break;
    }
    w->cross[2 * w->n_cross] = r.lo, w->cross[2 * w->n_cross + 1] = r.hi;
    ++w->n_cross;
    w->tau_known = from = r.hi;
  }
  pr->pool = NULL;
  pr->reuse_lu = 0;
}

/*
 * FGSM in binding times along the tau2 curve from grid point t0 in
 * direction dir (only the antagonist moves): the distance to the first
 * crossing past which the decision has flipped, +inf when there is none
 * within eps_max (or before tau_c / the lower end), NaN when that stretch
 * of the curve is unknown.
 */
static double tau_curve_eps(const kps_line_worker *w, double t0, int dir, double eps_max) {
  if (dir == 0) return INFINITY;
  if (t0 > w->tau_known) return NAN;
  if (dir > 0) {
    for (int i = 0; i < w->n_cross; ++i)
      if (w->cross[2 * i] >= t0) {
        const double e = w->cross[2 * i + 1] - t0;
        return e <= eps_max ? e : INFINITY;
      }
    return fmin(t0 + eps_max, w->cfg->tau_c) <= w->tau_known ? INFINITY : NAN;
  }
  for (int i = w->n_cross - 1; i >= 0; --i)
    if (w->cross[2 * i + 1] <= t0) {
      const double e = t0 - w->cross[2 * i];
      return e <= eps_max ? e : INFINITY;
    }
  return INFINITY;
}

/* Whether the tau2 curve is known to keep its decision within pgd_eps of t0
 * (then no PGD step, all inside that ball, can flip it). */
static int tau_curve_calm(const kps_line_worker *w, double t0, double radius) {
  const double lo = t0 - radius, hi = fmin(t0 + radius, w->cfg->tau_c);
  if (hi > w->tau_known) return 0;
  for (int i = 0; i < w->n_cross; ++i)
    if (w->cross[2 * i + 1] > lo && w->cross[2 * i] < hi) return 0;
  return 1;
}

/* Puts the probe at a point with a copy of its steady state y (NULL: cold). */
static void probe_at_point(kps_line_worker *w, const double *tau, const double *L, int n,
                           const double *y) {
  kps_probe_reset(&w->probe, w->K, tau, L);
  w->probe.pool = NULL;
  w->probe.reuse_lu = 0;
  if (y) memcpy(w->y_probe, y, sizeof(double) * (size_t)n);
  w->probe.warm = y != NULL;
}

/* What the second pass carries from one point of the line to the next. */
typedef struct extras_state {
  int have_d0, have_aa; /* y_d0 / y_aa hold a steady state */
  double L2s, L1s;      /* the previous point's boundaries (hints) */
} extras_state;

/*
 * One dose search of a point: warm starts from the point's own state (at its
 * dose) and from the path's dose-0 state y0 of the previous point (when
 * *have0), which the search's own dose-0 solve then replaces.
 */
static void dose_search(kps_line_worker *w, int which, int target, double O_th, const double *tau,
                        const double *L, int n, const double *y_pt, double *y0, int *have0,
                        const kps_dose_known *known, kps_samples *set, double *dose) {
  kps_probe *pr = &w->probe;
  probe_at_point(w, tau, L, n, y_pt);
  if (n > 0) {
    /* Reserved by kps_line_compute: emptying it cannot fail. */
    if (kps_warm_pool_reset(&w->dose_pool, KPS_DOSE_SAMPLES + 2, n) != KPS_OK) return;
    kps_warm_pool_put(&w->dose_pool, log1p(L[which] / kps_dose_scale(L, w->K)), y_pt);
    if (*have0) kps_warm_pool_put(&w->dose_pool, 0.0, y0);
    pr->pool = &w->dose_pool;
  }
  kps_dose_boundary(pr, which, O_th, target, known, set, dose);
  const double *y_new = n > 0 ? kps_warm_pool_latest(&w->dose_pool, 0.0) : NULL;
  if (y_new && y_new != y0) {
    memcpy(y0, y_new, sizeof(double) * (size_t)n);
    *have0 = 1;
  }
  pr->pool = NULL;
}

/*
 * Point j's dose boundaries L2*, L1* and its FGSM/PGD attacks, from its
 * ligand types tau, L (w->K of them), its steady state y (copied: the
 * line's states are untouched), its output and gradients, the previous
 * point's boundaries (as hints) and dose-0 states, and the line's tau2 curve.
 */
/* Point j's boundaries and attacks as "not computed"; the batch's lines are
 * reused between lines, so every point's fields must be written. */
static void extras_unset(kps_batch *b, size_t row, size_t j) {
  kps_batch_f64(b, F_L2_STAR, row)[j] = kps_batch_f64(b, F_L1_STAR, row)[j] = NAN;
  kps_batch_f64(b, F_FGSM_L, row)[j] = kps_batch_f64(b, F_FGSM_TAU, row)[j] = NAN;
  kps_batch_i8(b, F_PGD_FLIP, row)[j] = -1;
  kps_batch_i32(b, F_PGD_STEPS, row)[j] = -1;
}

static void point_extras(kps_line_worker *w, kps_batch *b, size_t row, size_t j,
                         const double *tau, const double *L, double O_th, int n,
                         const double *y, extras_state *es) {
  const kps_config *cfg = w->cfg;
  const kps_attack_config *a = &cfg->attack;
  double *L2s = kps_batch_f64(b, F_L2_STAR, row), *L1s = kps_batch_f64(b, F_L1_STAR, row);
  double *fL = kps_batch_f64(b, F_FGSM_L, row), *ft = kps_batch_f64(b, F_FGSM_TAU, row);
  int8_t *pf = kps_batch_i8(b, F_PGD_FLIP, row);
  int32_t *ps = kps_batch_i32(b, F_PGD_STEPS, row);
  extras_unset(b, row, j);
  if (!kps_status_is_ok(kps_batch_i8(b, F_STATUS, row)[j]) || isnan(O_th)) {
    es->L2s = es->L1s = NAN;
    return;
  }
  const int K = w->K;
  const double O = kps_batch_f64(b, F_O, row)[j];
  /* The gradients as the probe lays them out (dO/dtau_0..K-1, dO/dL_0..K-1).
   * The self types' are not stored: NaN, never read, as the attacks read
   * the movable types' only and self ligands never move. */
  double g[2 * KPS_LINE_MAX_K];
  for (int i = 0; i < 2 * K; ++i) g[i] = NAN;
  g[0] = kps_batch_f64(b, F_DO_DTAU1, row)[j], g[1] = kps_batch_f64(b, F_DO_DTAU2, row)[j];
  g[K] = kps_batch_f64(b, F_DO_DL1, row)[j], g[K + 1] = kps_batch_f64(b, F_DO_DL2, row)[j];
  const double *y_pt = n > 0 ? y : NULL;
  kps_probe *pr = &w->probe;
  kps_samples dose = {w->dose_buf, 0, KPS_DOSE_SAMPLES};
  if (cfg->stats.boundary) {
    const kps_dose_known k2 = {O, g[K + 1], es->L2s}, k1 = {O, g[K], es->L1s};
    dose_search(w, 0, 1, O_th, tau, L, n, y_pt, w->y_aa, &es->have_aa, &k1, &dose, &L1s[j]);
    /* Last, so that its samples (and states) serve FGSM in counts below. */
    dose_search(w, 1, 0, O_th, tau, L, n, y_pt, w->y_d0, &es->have_d0, &k2, &dose, &L2s[j]);
    es->L2s = L2s[j], es->L1s = L1s[j];
  }
  if (!a->enabled) return;
  uint8_t mov[KPS_LINE_MAX_K];
  kps_attack_movable(a, cfg->tau_c, K, tau, mov);
  for (int i = 2; i < K; ++i) mov[i] = 0; /* self ligands are background: never moved */
  const int d0 = O > O_th, applicable = (a->direction == KPS_DIR_OFF) == d0;
  if (a->fgsm_L) {
    kps_fgsm_known k = {O, g, NULL, 1, kps_dose_scale(L, K)};
    if (cfg->stats.boundary && n > 0) {
      /* The dose search's samples and states, on the same ray when L2 alone moves. */
      k.dose = &dose;
      probe_at_point(w, tau, L, n, y_pt);
      pr->pool = &w->dose_pool;
    } else {
      probe_at_point(w, tau, L, n, y_pt);
    }
    kps_fgsm_result fr;
    if (kps_status_is_ok(kps_attack_fgsm(pr, a, cfg->tau_c, O_th, mov, 0, &k, &fr)) && fr.applicable)
      fL[j] = fr.eps_star;
    pr->pool = NULL;
  }
  /* Only the antagonist can move (self ligands never do): both tau attacks
   * stay on the line's tau2 curve. */
  const int on_curve = !mov[0];
  if (a->fgsm_tau && applicable) {
    if (on_curve) {
      if (mov[1] && !w->tau_scanned) scan_tau_curve(w, b, row, tau, L, O_th);
      ft[j] = mov[1] ? tau_curve_eps(w, tau[1], a->direction * ((g[1] > 0) - (g[1] < 0)),
                                      a->fgsm_eps_tau_max)
                     : INFINITY;
    } else {
      const kps_fgsm_known k = {O, g, NULL, -1, 1.0};
      kps_fgsm_result fr;
      probe_at_point(w, tau, L, n, y_pt);
      if (kps_status_is_ok(kps_attack_fgsm(pr, a, cfg->tau_c, O_th, mov, 1, &k, &fr)))
        ft[j] = fr.eps_star;
    }
  }
  if (a->pgd && applicable) {
    if (on_curve && mov[1] && !w->tau_scanned) scan_tau_curve(w, b, row, tau, L, O_th);
    if (on_curve && mov[1] && tau_curve_calm(w, tau[1], a->pgd_eps)) {
      pf[j] = 0, ps[j] = a->pgd_steps;
    } else {
      kps_pgd_result pgd;
      probe_at_point(w, tau, L, n, y_pt);
      if (kps_status_is_ok(kps_attack_pgd(pr, a, cfg->tau_c, O_th, mov, &O, g, &pgd)) &&
          pgd.applicable)
        pf[j] = (int8_t)pgd.flipped, ps[j] = pgd.steps;
    }
  }
}

/* The histogram descent, once per parameter point (cached across doses). */
static void line_descent(kps_line_worker *w, kps_batch *b, size_t row, size_t point,
                         double O_th) {
  const kps_config *cfg = w->cfg;
  const kps_attack_config *a = &cfg->attack;
  kps_descent_result *d = &w->descent;
  if (point != w->descent_point) {
    memset(d, 0, sizeof *d);
    d->O0 = NAN;
    if (w->K_desc > 0 && !isnan(O_th)) {
      int st;
      if (a->descent_method == KPS_DESCENT_PUBLISHED) {
        memcpy(w->lig, w->lig0, sizeof(double) * w->n_lig);
        st = kps_attack_descent_published(&w->probe, a, cfg->tau_c, O_th, w->lig, w->n_lig, d);
      } else {
        uint8_t mov[KPS_MAX_BINS];
        kps_attack_movable(a, cfg->tau_c, w->K_hist, w->hist_tau, mov);
        kps_probe_reset(&w->probe, w->K_hist, w->hist_tau, w->hist_L);
        st = kps_attack_descent(&w->probe, a, cfg->tau_c, O_th, mov, d);
      }
      if (!kps_status_is_ok(st)) d->applicable = 0;
    }
    w->descent_point = point;
  }
  const int ok = d->applicable;
  *kps_batch_i8(b, F_DESC_FLIP, row) = (int8_t)(ok ? d->flipped : -1);
  *kps_batch_i32(b, F_DESC_STEPS, row) = ok ? d->steps : -1;
  *kps_batch_f64(b, F_DESC_TAU, row) = ok ? d->tau_mean : NAN;
  *kps_batch_f64(b, F_DESC_NEAR0, row) = ok ? d->frac_near0 : NAN;
  /* A descent that does not apply (the start already has the target
   * decision) still reports its starting output and histogram. */
  const int started = !isnan(d->O0);
  *kps_batch_f64(b, F_DESC_O0, row) = d->O0;
  *kps_batch_f64(b, F_DESC_O, row) = ok ? d->O_final : NAN;
  int32_t *h = kps_batch_i32(b, F_DESC_HIST, row);
  for (size_t k = 0; k < b->n_bins; ++k)
    h[k] = started && (int)k < d->n_grid ? d->hist[k] : -1;
  /* The published descent moved w->lig in place: its final binding times. */
  const int keep = a->descent_ligands && started && a->descent_method == KPS_DESCENT_PUBLISHED;
  double *lt = kps_batch_f64(b, F_DESC_LIG_TAU, row);
  for (size_t i = 0; i < b->n_ligands; ++i) lt[i] = keep && i < w->n_lig ? w->lig[i] : NAN;
}

/* The output landscape, once per parameter point (kept across doses). */
static kps_err line_landscape(kps_line_worker *w, kps_batch *b, size_t row, size_t point,
                              const double *p, double O_th) {
  double *value = kps_batch_f64(b, F_LAND, row), *u = kps_batch_f64(b, F_LAND_U, row);
  double *v = kps_batch_f64(b, F_LAND_V, row);
  if (!w->land) {
    for (size_t k = 0; k < b->n_land * b->n_land; ++k) value[k] = NAN;
    for (size_t k = 0; k < b->n_bins; ++k) u[k] = v[k] = NAN;
    return KPS_OK;
  }
  return kps_landscape_point(w->land, w->solver, w->cfg->model, p, point, O_th, value, u, v);
}

kps_err kps_line_compute(kps_line_worker *w, uint64_t line, kps_batch *b) {
  kps_err rc = KPS_OK;
  const kps_config *cfg = w->cfg;
  const kps_model *m = cfg->model;
  kps_line_inputs li;
  kps_config_line_inputs(cfg, (size_t)line, &li);
  const double *p = li.p;
  const int K = w->K;
  double tau[KPS_LINE_MAX_K], L[KPS_LINE_MAX_K], gt[KPS_LINE_MAX_K], gL[KPS_LINE_MAX_K];
  kps_config_ligands(cfg, &li, NAN, tau, L);
  long row_l = kps_batch_add(b, line);
  if (row_l < 0) KPS_FAIL(KPS_ERR_NOMEM, "batch growth");
  const size_t row = (size_t)row_l;

  char why[256];
  if (m->check_params && m->check_params(m, p, why, sizeof why)) {
    fill_row_failed(b, row, KPS_ST_INVALID_PARAMS);
    return KPS_OK;
  }
  const int n_state = kps_model_state_size(m, p, K);
  KPS_CHECK(ensure_state(w, kps_model_state_size(m, p, w->K_desc > K ? w->K_desc : K)));
  w->probe = (kps_probe){.s = w->solver, .m = m, .p = p, .y = w->y_probe};

  /* The threshold depends on the parameter point only, not on L2. The
   * point covers the agonist's axes too, so an L_ref that is the agonist's
   * swept dose L1 is never taken from another point. */
  const size_t point = (size_t)line / cfg->L2.n;
  if (point != w->cached_point) {
    /* A failed threshold solve leaves O_th NaN: decisions become -1. */
    kps_threshold(w->solver, m, p, cfg->threshold_explicit, cfg->threshold_value, cfg->tau_c,
                  cfg->L_ref_agonist ? li.L1 : cfg->L_ref, &w->cached_O_th);
    w->cached_point = point;
  }
  const double O_th = w->cached_O_th;

  /* "The agonist alone": every type but the antagonist (index 1). */
  double tau_ag[KPS_LINE_MAX_K], L_ag[KPS_LINE_MAX_K];
  tau_ag[0] = tau[0], L_ag[0] = L[0];
  for (int i = 2; i < K; ++i) tau_ag[i - 1] = tau[i], L_ag[i - 1] = L[i];
  kps_eval ev = {0};
  const kps_inputs in_ag = {.p = p, .K = K - 1, .tau = tau_ag, .L = L_ag};
  kps_evaluate(w->solver, m, &in_ag, w->y, 0, &ev);
  const double O_ag = kps_status_is_ok(ev.status) ? ev.O : NAN;
  *kps_batch_f64(b, F_O_TH, row) = O_th;
  *kps_batch_f64(b, F_O_AG, row) = O_ag;

  double *O = kps_batch_f64(b, F_O, row), *O_rel = kps_batch_f64(b, F_O_REL, row);
  double *FC = kps_batch_f64(b, F_FC, row);
  double *g_t2 = kps_batch_f64(b, F_DO_DTAU2, row), *g_L2 = kps_batch_f64(b, F_DO_DL2, row);
  double *g_t1 = kps_batch_f64(b, F_DO_DTAU1, row), *g_L1 = kps_batch_f64(b, F_DO_DL1, row);
  int8_t *dec = kps_batch_i8(b, F_DECISION, row), *st = kps_batch_i8(b, F_STATUS, row);
  int32_t *steps = kps_batch_i32(b, F_CV_STEPS, row), *nit = kps_batch_i32(b, F_NEWTON, row);
  double *adj = kps_batch_f64(b, F_ADJ_CHECK, row);

  int32_t *n_solves = kps_batch_i32(b, F_N_SOLVES, row);
  const size_t n_tau = cfg->tau2.n;
  for (size_t j = 0; j < n_tau; ++j) n_solves[j] = 0;
  if (n_tau > 0) n_solves[0] = 1; /* the agonist alone */

  /* The second pass needs every point's steady state: kept in the line's
   * pool (keyed by tau2, where the searches along tau2 add theirs) unless
   * the line is too long for that. */
  const int extras = cfg->stats.boundary || cfg->attack.enabled;
  const int keep = extras && n_state > 0 && (double)n_tau * n_state <= (double)LINE_STATES_MAX;
  if (extras) {
    KPS_CHECK(kps_warm_pool_reset(&w->line_pool, (keep ? (int)n_tau : 0) + TAU_EXTRA, n_state));
    KPS_CHECK(kps_warm_pool_reset(&w->dose_pool, KPS_DOSE_SAMPLES + 2, n_state));
    KPS_CHECK(ensure_tau(w, n_tau));
  }
  w->tau_scanned = 0;

  const kps_inputs in = {.p = p, .K = K, .tau = tau, .L = L};
  int have_prev = 0;
  for (size_t j = 0; j < n_tau; ++j) {
    tau[1] = cfg->tau2.values[j];
    kps_eval e = {.dO_dtau = gt, .dO_dL = gL};
    int s = kps_evaluate(w->solver, m, &in, w->y, have_prev && cfg->solver.warm_start, &e);
    have_prev = kps_status_is_ok(s);
    st[j] = (int8_t)s;
    O[j] = e.O;
    O_rel[j] = e.O / O_th;
    FC[j] = e.O / O_ag;
    dec[j] = (int8_t)(isnan(O_rel[j]) ? -1 : O_rel[j] > 1.0);
    g_t2[j] = gt[1], g_L2[j] = gL[1], g_t1[j] = gt[0], g_L1[j] = gL[0];
    steps[j] = (int32_t)e.stats.cv_steps;
    nit[j] = (int32_t)e.stats.newton_iters;
    adj[j] = e.adjoint_check;
    ++n_solves[j];
    if (keep && have_prev) kps_warm_pool_put(&w->line_pool, tau[1], w->y);
  }
  w->probe.evals = 0;
  line_statistics(w, b, row, tau, L, O_ag);
  if (n_tau > 0) n_solves[0] += (int32_t)w->probe.evals;
  if (extras) {
    /* In axis order: each point may start from the previous point's results. */
    extras_state es = {0, 0, NAN, NAN};
    have_prev = 0;
    size_t kept = 0; /* the line pool holds the converged points' states in order */
    for (size_t j = 0; j < n_tau; ++j) {
      tau[1] = cfg->tau2.values[j];
      w->probe.evals = 0;
      const double *y = NULL;
      if (keep && kps_status_is_ok(st[j])) y = w->line_pool.y + kept++ * (size_t)n_state;
      if (!keep && n_state > 0 && kps_status_is_ok(st[j])) {
        /* Not kept: solved again, continuing along the line as in the first pass. */
        kps_eval e = {0};
        const int s = kps_evaluate(w->solver, m, &in, w->y_pt, have_prev, &e);
        have_prev = kps_status_is_ok(s);
        y = have_prev ? w->y_pt : NULL;
        ++n_solves[j];
      }
      point_extras(w, b, row, j, tau, L, O_th, n_state, y, &es);
      n_solves[j] += (int32_t)w->probe.evals;
    }
  } else {
    for (size_t j = 0; j < n_tau; ++j) extras_unset(b, row, j);
  }
  line_descent(w, b, row, point, O_th);
  KPS_CHECK(line_landscape(w, b, row, point, p, O_th));
cleanup:
  return rc;
}
