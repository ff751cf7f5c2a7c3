/* Warm-started point evaluations, pools of states along a path, a bracketing root finder. */
#include "kpsweep/probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kpsweep/status.h"

/* Root finder: maximum iterations before giving up on a bracket. */
#define ROOT_MAXIT 200

void kps_probe_reset(kps_probe *pr, int K, const double *tau, const double *L) {
  pr->K = K;
  memcpy(pr->tau, tau, sizeof(double) * (size_t)K);
  memcpy(pr->L, L, sizeof(double) * (size_t)K);
  pr->warm = 0;
}

kps_err kps_warm_pool_reset(kps_warm_pool *wp, int cap, int n_state) {
  wp->n = 0;
  wp->n_state = n_state;
  const size_t need = (size_t)(cap > 0 ? cap : 1) * (size_t)(n_state > 0 ? n_state : 1);
  if (cap > wp->cap || need > wp->y_cap) {
    double *key = realloc(wp->key, sizeof(double) * (size_t)(cap > wp->cap ? cap : wp->cap));
    if (key) wp->key = key;
    double *y = key ? realloc(wp->y, sizeof(double) * need) : NULL;
    if (!key || !y) {
      kps_warm_pool_free(wp);
      return KPS_ERR_NOMEM;
    }
    wp->y = y;
    if (cap > wp->cap) wp->cap = cap;
    wp->y_cap = need;
  }
  return KPS_OK;
}

void kps_warm_pool_free(kps_warm_pool *wp) {
  free(wp->key);
  free(wp->y);
  wp->key = wp->y = NULL;
  wp->n = wp->cap = wp->y_cap = 0;
}

void kps_warm_pool_put(kps_warm_pool *wp, double key, const double *y) {
  if (wp->n >= wp->cap || (size_t)(wp->n + 1) * (size_t)wp->n_state > wp->y_cap) return;
  wp->key[wp->n] = key;
  memcpy(wp->y + (size_t)wp->n * (size_t)wp->n_state, y, sizeof(double) * (size_t)wp->n_state);
  ++wp->n;
}

const double *kps_warm_pool_nearest(const kps_warm_pool *wp, double key) {
  int best = -1;
  double d = INFINITY;
  for (int i = 0; i < wp->n; ++i) {
    const double e = fabs(wp->key[i] - key);
    if (e < d) d = e, best = i;
  }
  return best < 0 ? NULL : wp->y + (size_t)best * (size_t)wp->n_state;
}

const double *kps_warm_pool_latest(const kps_warm_pool *wp, double key) {
  for (int i = wp->n - 1; i >= 0; --i)
    if (wp->key[i] == key) return wp->y + (size_t)i * (size_t)wp->n_state;
  return NULL;
}

int kps_probe_eval(kps_probe *pr, double *O, double *g) {
  const kps_inputs in = {.p = pr->p, .K = pr->K, .tau = pr->tau, .L = pr->L};
  kps_eval ev = {.dO_dtau = g, .dO_dL = g ? g + pr->K : NULL, .reuse_lu = pr->reuse_lu};
  const int n = kps_model_state_size(pr->m, pr->p, pr->K);
  kps_warm_pool *wp = pr->pool && n > 0 && pr->pool->n_state == n ? pr->pool : NULL;
  const double *y0 = wp ? kps_warm_pool_nearest(wp, pr->key) : NULL;
  if (y0) {
    memcpy(pr->y, y0, sizeof(double) * (size_t)n);
    pr->warm = 1;
  }
  ++pr->evals;
  const int st = kps_evaluate(pr->s, pr->m, &in, pr->y, pr->warm, &ev);
  pr->warm = kps_status_is_ok(st) && !pr->m->closed_form;
  if (wp && pr->warm) kps_warm_pool_put(wp, pr->key, pr->y);
  *O = ev.O;
  return st;
}

int kps_bracket_root(kps_scalar_fn f, void *ctx, double a, double fa, double b, double fb,
                     double xtol, double *root) {
  int side = 0;
  for (int it = 0; it < ROOT_MAXIT; ++it) {
    if (fa == 0.0) {
      *root = a;
      return KPS_ST_OK;
    }
    if (fb == 0.0) {
      *root = b;
      return KPS_ST_OK;
    }
    if (fabs(b - a) <= xtol * fmax(fabs(a), fabs(b))) break;
    double x = (a * fb - b * fa) / (fb - fa);
    /* Keep the secant step well inside the bracket; bisect otherwise. */
    const double lo = fmin(a, b), hi = fmax(a, b), w = hi - lo;
    if (!(x > lo + 1e-3 * w && x < hi - 1e-3 * w) || it % 8 == 7) x = 0.5 * (a + b);
    double fx;
    const int st = f(ctx, x, &fx);
    if (!kps_status_is_ok(st)) return st;
    if ((fx < 0) == (fa < 0)) {
      a = x, fa = fx;
      if (side == -1) fb *= 0.5;
      side = -1;
    } else {
      b = x, fb = fx;
      if (side == 1) fa *= 0.5;
      side = 1;
    }
  }
  *root = fabs(fa) < fabs(fb) ? a : b;
  return KPS_ST_OK;
}
