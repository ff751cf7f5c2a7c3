/*
 * Computes one line (task) of the sweep: threshold, agonist alone, then every
 * tau2 point with its output, fold change, decision and exact gradients.
 */
#include "kpsweep/line.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kpsweep/attack.h"
#include "kpsweep/solver.h"
#include "kpsweep/stats.h"
#include "kpsweep/status.h"
#include "kpsweep/threshold.h"

struct kps_line_worker {
  const kps_config *cfg;
  kps_solver *solver;
  double *y;          /* state of the current point (warm-start source) */
  double *y_probe;    /* state of the statistics and attack probes */
  int y_cap;
  kps_probe probe;
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
};

kps_err kps_line_worker_create(const kps_config *cfg, kps_line_worker **out) {
  kps_err rc = KPS_OK;
  kps_line_worker *w = calloc(1, sizeof *w);
  KPS_CHECK_ALLOC(w);
  w->cfg = cfg;
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
  KPS_CHECK(kps_solver_create(&cfg->solver, &w->solver));
  *out = w;
  w = NULL;
cleanup:
  kps_line_worker_destroy(&w);
  return rc;
}

void kps_line_worker_destroy(kps_line_worker **wp) {
  if (!wp || !*wp) return;
  kps_solver_destroy(&(*wp)->solver);
  free((*wp)->y);
  free((*wp)->y_probe);
  free((*wp)->lig0);
  free((*wp)->lig);
  free(*wp);
  *wp = NULL;
}

static kps_err ensure_state(kps_line_worker *w, int n) {
  if (n <= w->y_cap) return KPS_OK;
  const size_t bytes = sizeof(double) * (size_t)(n > 0 ? n : 1);
  double *y = realloc(w->y, bytes);
  if (!y) return KPS_ERR_NOMEM;
  w->y = y;
  double *yp = realloc(w->y_probe, bytes);
  if (!yp) return KPS_ERR_NOMEM;
  w->y_probe = yp;
  w->y_cap = n;
  return KPS_OK;
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

static void line_statistics(kps_line_worker *w, kps_batch *b, size_t row, double tau1,
                            double L1, double L2, double O_ag) {
  const kps_config *cfg = w->cfg;
  kps_line_stats ls = {NAN, NAN, NAN, NAN, NAN, KPS_REGIME_UNKNOWN, KPS_EDGE_UNKNOWN};
  const size_t n = cfg->tau2.n;
  if (cfg->stats.line_stats && n > 0) {
    const double tau[2] = {tau1, cfg->tau2.values[0]}, L[2] = {L1, L2};
    kps_probe_reset(&w->probe, 2, tau, L);
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

/* Puts the probe at a point, warm from the line's state there (a copy). */
static void probe_at_point(kps_line_worker *w, const double *tau, const double *L, int n,
                           int warm) {
  kps_probe_reset(&w->probe, 2, tau, L);
  if (warm) memcpy(w->y_probe, w->y, sizeof(double) * (size_t)n);
  w->probe.warm = warm;
}

/*
 * Point j's dose boundaries L2*, L1* and FGSM/PGD attacks. Each starts warm
 * from the point's steady state y (copied, so the line's continuation is
 * untouched).
 */
static void point_extras(kps_line_worker *w, kps_batch *b, size_t row, size_t j, double tau1,
                         double L1, double L2, double O_th, int n) {
  const kps_config *cfg = w->cfg;
  const kps_attack_config *a = &cfg->attack;
  double *L2s = kps_batch_f64(b, F_L2_STAR, row), *L1s = kps_batch_f64(b, F_L1_STAR, row);
  double *fL = kps_batch_f64(b, F_FGSM_L, row), *ft = kps_batch_f64(b, F_FGSM_TAU, row);
  int8_t *pf = kps_batch_i8(b, F_PGD_FLIP, row);
  int32_t *ps = kps_batch_i32(b, F_PGD_STEPS, row);
  L2s[j] = L1s[j] = fL[j] = ft[j] = NAN;
  pf[j] = -1, ps[j] = -1;
  if (!kps_status_is_ok(kps_batch_i8(b, F_STATUS, row)[j]) || isnan(O_th)) return;
  const double tau[2] = {tau1, cfg->tau2.values[j]}, L[2] = {L1, L2};
  kps_probe *pr = &w->probe;
  const int warm = !cfg->model->closed_form;
  if (cfg->stats.boundary) {
    probe_at_point(w, tau, L, n, warm);
    kps_dose_boundary(pr, 1, O_th, 0, &L2s[j]);
    probe_at_point(w, tau, L, n, warm);
    kps_dose_boundary(pr, 0, O_th, 1, &L1s[j]);
  }
  if (!a->enabled) return;
  uint8_t mov[2];
  kps_attack_movable(a, cfg->tau_c, 2, tau, mov);
  kps_fgsm_result fr;
  if (a->fgsm_L) {
    probe_at_point(w, tau, L, n, warm);
    if (kps_status_is_ok(kps_attack_fgsm(pr, a, cfg->tau_c, O_th, mov, 0, &fr)) && fr.applicable)
      fL[j] = fr.eps_star;
  }
  if (a->fgsm_tau) {
    probe_at_point(w, tau, L, n, warm);
    if (kps_status_is_ok(kps_attack_fgsm(pr, a, cfg->tau_c, O_th, mov, 1, &fr)) && fr.applicable)
      ft[j] = fr.eps_star;
  }
  kps_pgd_result pgd;
  if (a->pgd) {
    probe_at_point(w, tau, L, n, warm);
    if (kps_status_is_ok(kps_attack_pgd(pr, a, cfg->tau_c, O_th, mov, &pgd)) && pgd.applicable)
      pf[j] = (int8_t)pgd.flipped, ps[j] = pgd.steps;
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
}

kps_err kps_line_compute(kps_line_worker *w, uint64_t line, kps_batch *b) {
  kps_err rc = KPS_OK;
  const kps_config *cfg = w->cfg;
  const kps_model *m = cfg->model;
  double p[KPS_MAX_PARAMS], L2;
  kps_config_line_params(cfg, (size_t)line, p, &L2);
  long row_l = kps_batch_add(b, line);
  if (row_l < 0) KPS_FAIL(KPS_ERR_NOMEM, "batch growth");
  const size_t row = (size_t)row_l;

  char why[256];
  if (m->check_params && m->check_params(p, why, sizeof why)) {
    fill_row_failed(b, row, KPS_ST_INVALID_PARAMS);
    return KPS_OK;
  }
  const int n_state = kps_model_state_size(m, p, 2);
  KPS_CHECK(ensure_state(w, kps_model_state_size(m, p, w->K_desc > 2 ? w->K_desc : 2)));
  w->probe = (kps_probe){.s = w->solver, .m = m, .p = p, .y = w->y_probe};

  /* The threshold depends on the parameter point only, not on L2. */
  const size_t point = (size_t)line / cfg->L2.n;
  if (point != w->cached_point) {
    /* A failed threshold solve leaves O_th NaN: decisions become -1. */
    kps_threshold(w->solver, m, p, cfg->threshold_explicit, cfg->threshold_value, cfg->tau_c,
                  cfg->L_ref_agonist ? cfg->agonist_L : cfg->L_ref, &w->cached_O_th);
    w->cached_point = point;
  }
  const double O_th = w->cached_O_th;

  kps_eval ev = {0};
  const double tau_ag = cfg->agonist_tau, L_ag = cfg->agonist_L;
  const kps_inputs in_ag = {.p = p, .K = 1, .tau = &tau_ag, .L = &L_ag};
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

  double tau[2] = {tau_ag, 0.0}, L[2] = {L_ag, L2}, gt[2], gL[2];
  const kps_inputs in = {.p = p, .K = 2, .tau = tau, .L = L};
  int have_prev = 0;
  for (size_t j = 0; j < cfg->tau2.n; ++j) {
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
    point_extras(w, b, row, j, tau_ag, L_ag, L2, O_th, n_state);
  }
  line_statistics(w, b, row, tau_ag, L_ag, L2, O_ag);
  line_descent(w, b, row, point, O_th);
cleanup:
  return rc;
}
