/*
 * Computes one line (task) of the sweep: threshold, agonist alone, then every
 * tau2 point with its output, fold change, decision and exact gradients.
 */
#include "kpsweep/line.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kpsweep/solver.h"
#include "kpsweep/status.h"
#include "kpsweep/threshold.h"

struct kps_line_worker {
  const kps_config *cfg;
  kps_solver *solver;
  double *y;          /* state of the current point (warm-start source) */
  int y_cap;
  size_t cached_point; /* parameter point whose O_th is cached, SIZE_MAX = none */
  double cached_O_th;
  int cached_status;
};

kps_err kps_line_worker_create(const kps_config *cfg, kps_line_worker **out) {
  kps_err rc = KPS_OK;
  kps_line_worker *w = calloc(1, sizeof *w);
  KPS_CHECK_ALLOC(w);
  w->cfg = cfg;
  w->cached_point = SIZE_MAX;
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
  free(*wp);
  *wp = NULL;
}

static kps_err ensure_state(kps_line_worker *w, int n) {
  if (n <= w->y_cap) return KPS_OK;
  double *y = realloc(w->y, sizeof(double) * (size_t)(n > 0 ? n : 1));
  if (!y) return KPS_ERR_NOMEM;
  w->y = y;
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
      else if (fi[f].type == KPS_I32) kps_batch_i32(b, (kps_field_id)f, row)[k] = 0;
      else kps_batch_i8(b, (kps_field_id)f, row)[k] = -1;
    }
  }
  int8_t *st = kps_batch_i8(b, F_STATUS, row);
  for (size_t k = 0; k < b->n_tau; ++k) st[k] = (int8_t)status;
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
  KPS_CHECK(ensure_state(w, kps_model_state_size(m, p, 2)));

  /* The threshold depends on the parameter point only, not on L2. */
  const size_t point = (size_t)line / cfg->L2.n;
  if (point != w->cached_point) {
    w->cached_status = kps_threshold(w->solver, m, p, cfg->threshold_explicit,
                                     cfg->threshold_value, cfg->tau_c, cfg->L_ref,
                                     &w->cached_O_th);
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
  }
cleanup:
  return rc;
}
