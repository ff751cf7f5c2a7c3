/*
 * The output landscape around the descent's starting histogram: its base
 * point and directions, and the grid walked with warm starts
 * (docs/science.md section 5.4).
 */
#include "kpsweep/landscape.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kpsweep/attack.h"
#include "kpsweep/probe.h"
#include "kpsweep/status.h"

struct kps_landscape {
  const kps_config *cfg;
  int n, n_grid;
  /* The evaluated ligand types: the bins that can hold ligands at some
   * grid point (movable, or not empty at the start); the others hold none
   * anywhere and add nothing to the output. act[t]: grid bin of type t. */
  int K, act[KPS_MAX_BINS];
  double centre[KPS_MAX_BINS], L0[KPS_MAX_BINS], z[KPS_MAX_BINS];
  uint8_t mov[KPS_MAX_BINS];
  double *y; /* the probe's state */
  int y_cap;
  size_t point; /* parameter point of the kept landscape, SIZE_MAX: none */
  double *value, u[KPS_MAX_BINS], v[KPS_MAX_BINS];
};

double kps_landscape_step(const kps_landscape_config *c, int i) {
  return c->eps_max * (double)(2 * i - (c->n - 1)) / (double)(c->n - 1);
}

kps_err kps_landscape_create(const kps_config *cfg, kps_landscape **out) {
  kps_err rc = KPS_OK;
  const kps_attack_config *a = &cfg->attack;
  kps_landscape *ls = calloc(1, sizeof *ls);
  KPS_CHECK_ALLOC(ls);
  ls->cfg = cfg;
  ls->point = SIZE_MAX;
  ls->n = cfg->landscape.n;
  ls->n_grid = (int)kps_attack_grid_bins(a);
  ls->value = malloc(sizeof(double) * (size_t)ls->n * (size_t)ls->n);
  KPS_CHECK_ALLOC(ls->value);
  KPS_CHECK(kps_attack_start_grid(a, ls->L0));
  for (int k = 0; k < ls->n_grid; ++k) ls->centre[k] = ((double)k + 0.5) * a->bin_width;
  kps_attack_movable(a, cfg->tau_c, ls->n_grid, ls->centre, ls->mov);
  kps_attack_normals(cfg->landscape.seed, ls->n_grid, ls->z);
  for (int k = 0; k < ls->n_grid; ++k)
    if (ls->mov[k] || ls->L0[k] > 0.0) ls->act[ls->K++] = k;
  *out = ls;
  ls = NULL;
cleanup:
  kps_landscape_destroy(&ls);
  return rc;
}

void kps_landscape_destroy(kps_landscape **lp) {
  if (!lp || !*lp) return;
  free((*lp)->y);
  free((*lp)->value);
  free(*lp);
  *lp = NULL;
}

static int sgn(double x) { return (x > 0) - (x < 0); }

/* u = s sign(dO/dL) on the movable bins; v = the draw on them minus its
 * projection on u, scaled to |u| (0 when u or that remainder is 0). */
static void directions(kps_landscape *ls, const double *dO_dL) {
  const int s = ls->cfg->attack.direction;
  double uu = 0.0, zu = 0.0, vv = 0.0;
  for (int k = 0; k < ls->n_grid; ++k) ls->u[k] = ls->v[k] = 0.0;
  for (int t = 0; t < ls->K; ++t) {
    const int k = ls->act[t];
    if (!ls->mov[k]) continue;
    ls->u[k] = s * sgn(dO_dL[t]);
    uu += ls->u[k] * ls->u[k];
    zu += ls->z[k] * ls->u[k];
  }
  if (!(uu > 0.0)) return;
  for (int k = 0; k < ls->n_grid; ++k) {
    if (!ls->mov[k]) continue;
    ls->v[k] = ls->z[k] - zu / uu * ls->u[k];
    vv += ls->v[k] * ls->v[k];
  }
  const double scale = vv > 0.0 ? sqrt(uu / vv) : 0.0;
  for (int k = 0; k < ls->n_grid; ++k) ls->v[k] *= scale;
}

/* Computes the landscape of one parameter point into ls. */
static kps_err compute(kps_landscape *ls, kps_solver *s, const kps_model *m, const double *p,
                       double O_th) {
  kps_err rc = KPS_OK;
  const kps_landscape_config *c = &ls->cfg->landscape;
  const int n = ls->n, K = ls->K, mid = (n - 1) / 2;
  double tau[KPS_MAX_BINS], L[KPS_MAX_BINS], g[2 * KPS_MAX_BINS], O = NAN;
  for (size_t i = 0; i < (size_t)n * (size_t)n; ++i) ls->value[i] = NAN;
  for (int k = 0; k < ls->n_grid; ++k) ls->u[k] = ls->v[k] = NAN;
  if (K == 0 || isnan(O_th)) goto cleanup;
  const int n_state = kps_model_state_size(m, p, K);
  if (n_state > ls->y_cap) {
    double *y = realloc(ls->y, sizeof(double) * (size_t)n_state);
    KPS_CHECK_ALLOC(y);
    ls->y = y;
    ls->y_cap = n_state;
  }
  for (int t = 0; t < K; ++t) tau[t] = ls->centre[ls->act[t]], L[t] = ls->L0[ls->act[t]];
  kps_probe pr = {.s = s, .m = m, .p = p, .y = ls->y};
  kps_probe_reset(&pr, K, tau, L);
  if (!kps_status_is_ok(kps_probe_eval(&pr, &O, g))) goto cleanup;
  directions(ls, g + K);
  ls->value[(size_t)mid * (size_t)n + (size_t)mid] = O / O_th;
  /* Back and forth along the rows: every solve starts from its neighbour's
   * steady state (the first from the base point's). */
  for (int i = 0; i < n; ++i) {
    const double da = kps_landscape_step(c, i);
    for (int jj = 0; jj < n; ++jj) {
      const int j = i % 2 == 0 ? jj : n - 1 - jj;
      if (i == mid && j == mid) continue;
      const double db = kps_landscape_step(c, j);
      for (int t = 0; t < K; ++t) {
        const int k = ls->act[t];
        pr.L[t] = fmax(0.0, ls->L0[k] + da * ls->u[k] + db * ls->v[k]);
      }
      if (kps_status_is_ok(kps_probe_eval(&pr, &O, NULL)))
        ls->value[(size_t)i * (size_t)n + (size_t)j] = O / O_th;
    }
  }
cleanup:
  return rc;
}

kps_err kps_landscape_point(kps_landscape *ls, kps_solver *s, const kps_model *m, const double *p,
                            size_t point, double O_th, double *value, double *u, double *v) {
  kps_err rc = KPS_OK;
  if (point != ls->point) {
    ls->point = SIZE_MAX;
    KPS_CHECK(compute(ls, s, m, p, O_th));
    ls->point = point;
  }
  memcpy(value, ls->value, sizeof(double) * (size_t)ls->n * (size_t)ls->n);
  memcpy(u, ls->u, sizeof(double) * (size_t)ls->n_grid);
  memcpy(v, ls->v, sizeof(double) * (size_t)ls->n_grid);
cleanup:
  return rc;
}
