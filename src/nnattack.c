/* FGSM, PGD, SPSA and adversarial training (see kpsweep/nnattack.h). */
#include "kpsweep/nnattack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

kps_nn_attack_cfg kps_nn_attack_defaults(void) {
  const kps_nn_attack_cfg c = {10, 40, 16, 0.01, 7};
  return c;
}

const char *kps_nn_attack_name(kps_nn_attack a) {
  static const char *const names[KPS_NN_N_ATTACKS] = {"fgsm", "pgd", "spsa"};
  return a >= 0 && a < KPS_NN_N_ATTACKS ? names[a] : "?";
}

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Projects xa onto the eps ball around x and the box [0, 1]. */
static void project(size_t n, const double *x, double eps, double *xa) {
  for (size_t i = 0; i < n; ++i)
    xa[i] = clampd(clampd(xa[i], x[i] - eps, x[i] + eps), 0.0, 1.0);
}

static double sgn(double v) { return v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0; }

/* The margin z_label - max_k!=label z_k of the last forward pass (< 0: fooled). */
static double margin(const kps_mlp *net, const kps_mlp_work *w, int label) {
  double best = -INFINITY;
  for (size_t k = 0; k < net->n_out; ++k)
    if ((int)k != label && w->z[k] > best) best = w->z[k];
  return w->z[label] - best;
}

/* Signed-gradient ascent of the loss from xa (steps of alpha), projected. */
static void pgd_walk(const kps_mlp *net, kps_mlp_work *w, const double *x, int label, double eps,
                     int steps, double alpha, double *xa, double *g) {
  for (int s = 0; s < steps; ++s) {
    kps_mlp_input_grad(net, w, xa, label, g, NULL);
    for (size_t i = 0; i < net->n_in; ++i) xa[i] += alpha * sgn(g[i]);
    project(net->n_in, x, eps, xa);
  }
}

/* A stream per (seed, image, purpose): independent of the images' order. */
static uint64_t stream(uint64_t seed, uint64_t index, uint64_t purpose) {
  uint64_t s = seed ^ (0x9E3779B97F4A7C15ull * (index + 1)) ^ (purpose << 56);
  kps_nn_rand(&s);
  return s;
}

static void spsa(const kps_mlp *net, kps_mlp_work *w, const kps_nn_attack_cfg *cfg, double eps,
                 const double *x, int label, uint64_t *s, double *xa, double *g, double *q,
                 int8_t *v) {
  const size_t n = net->n_in;
  const double alpha = eps / 4.0;
  memcpy(xa, x, n * sizeof *xa);
  for (int it = 0; it < cfg->spsa_iters; ++it) {
    memset(g, 0, n * sizeof *g);
    for (int p = 0; p < cfg->spsa_pairs; ++p) {
      for (size_t i = 0; i < n; ++i) v[i] = (kps_nn_rand(s) >> 63) ? 1 : -1;
      /* Queries stay in the box: the layer is defined on [0, 1]. */
      for (size_t i = 0; i < n; ++i) q[i] = clampd(xa[i] + cfg->spsa_delta * v[i], 0.0, 1.0);
      kps_mlp_forward(net, w, q);
      const double fp = margin(net, w, label);
      for (size_t i = 0; i < n; ++i) q[i] = clampd(xa[i] - cfg->spsa_delta * v[i], 0.0, 1.0);
      kps_mlp_forward(net, w, q);
      const double d = fp - margin(net, w, label);
      for (size_t i = 0; i < n; ++i) g[i] += d * v[i];
    }
    for (size_t i = 0; i < n; ++i) xa[i] -= alpha * sgn(g[i]);
    project(n, x, eps, xa);
    if (kps_mlp_forward(net, w, xa) != label) return;
  }
}

kps_err kps_nn_attack_one(const kps_mlp *net, kps_mlp_work *w, const kps_nn_attack_cfg *cfg,
                          kps_nn_attack a, double eps, const double *x, int label, uint64_t index,
                          double *x_adv, int *fooled) {
  kps_err rc = KPS_OK;
  const size_t n = net->n_in;
  double *g = NULL, *q = NULL;
  int8_t *v = NULL;
  KPS_CHECK_ALLOC(g = malloc(n * sizeof *g));
  memcpy(x_adv, x, n * sizeof *x_adv);
  if (kps_mlp_forward(net, w, x) != label) {
    *fooled = 1;
    goto cleanup;
  }
  if (eps > 0) {
    if (a == KPS_NN_FGSM) {
      kps_mlp_input_grad(net, w, x, label, g, NULL);
      for (size_t i = 0; i < n; ++i) x_adv[i] = x[i] + eps * sgn(g[i]);
      project(n, x, eps, x_adv);
    } else if (a == KPS_NN_PGD) {
      uint64_t s = stream(cfg->seed, index, 1);
      for (size_t i = 0; i < n; ++i) x_adv[i] = x[i] + eps * (2.0 * kps_nn_uniform(&s) - 1.0);
      project(n, x, eps, x_adv);
      pgd_walk(net, w, x, label, eps, cfg->pgd_steps, 2.5 * eps / cfg->pgd_steps, x_adv, g);
    } else if (a == KPS_NN_SPSA) {
      uint64_t s = stream(cfg->seed, index, 2);
      KPS_CHECK_ALLOC(q = malloc(n * sizeof *q));
      KPS_CHECK_ALLOC(v = malloc(n * sizeof *v));
      spsa(net, w, cfg, eps, x, label, &s, x_adv, g, q, v);
    } else {
      KPS_FAIL(KPS_ERR_INTERNAL, "unknown attack %d", (int)a);
    }
  }
  *fooled = kps_mlp_forward(net, w, x_adv) != label;
cleanup:
  free(g), free(q), free(v);
  return rc;
}

kps_err kps_nn_robust_accuracy(const kps_mlp *net, const kps_idx_set *set, size_t n,
                               const kps_nn_attack_cfg *cfg, kps_nn_attack a, double eps,
                               double *acc, double *per_class) {
  kps_err rc = KPS_OK;
  kps_mlp_work w = {0};
  double *x = NULL, *xa = NULL;
  size_t hit[KPS_FASHION_CLASSES] = {0}, seen[KPS_FASHION_CLASSES] = {0}, total = 0;
  if (n == 0 || n > set->n) n = set->n;
  KPS_CHECK(kps_mlp_work_create(net, &w));
  KPS_CHECK_ALLOC(x = malloc(net->n_in * sizeof *x));
  KPS_CHECK_ALLOC(xa = malloc(net->n_in * sizeof *xa));
  for (size_t k = 0; k < n; ++k) {
    int fooled = 0;
    const int c = set->labels[k];
    kps_idx_pixels(set, k, x);
    KPS_CHECK(kps_nn_attack_one(net, &w, cfg, a, eps, x, c, k, xa, &fooled));
    hit[c] += (size_t)!fooled, seen[c] += 1, total += (size_t)!fooled;
  }
  *acc = n ? (double)total / (double)n : 0.0;
  if (per_class)
    for (int c = 0; c < KPS_FASHION_CLASSES; ++c)
      per_class[c] = seen[c] ? (double)hit[c] / (double)seen[c] : NAN;
cleanup:
  kps_mlp_work_destroy(&w);
  free(x), free(xa);
  return rc;
}

kps_err kps_nn_loss_landscape(const kps_mlp *net, const kps_idx_set *set, size_t n, uint64_t seed,
                              double span, int k, kps_poll_fn poll, void *poll_ctx, double *loss) {
  kps_err rc = KPS_OK;
  kps_mlp_work w = {0};
  double *x = NULL, *dF = NULL, *dR = NULL, *q = NULL;
  const size_t d = net->n_in, kk = (size_t)k * (size_t)k;
  if (n == 0 || n > set->n) n = set->n;
  if (k < 3 || k % 2 == 0 || !(span > 0))
    KPS_FAIL(KPS_ERR_CONFIG, "a landscape needs an odd number of points >= 3 and a span > 0");
  KPS_CHECK(kps_mlp_work_create(net, &w));
  KPS_CHECK_ALLOC(x = malloc(d * sizeof *x));
  KPS_CHECK_ALLOC(dF = malloc(d * sizeof *dF));
  KPS_CHECK_ALLOC(dR = malloc(d * sizeof *dR));
  KPS_CHECK_ALLOC(q = malloc(d * sizeof *q));
  for (size_t p = 0; p < kk; ++p) loss[p] = 0.0;
  for (size_t img = 0; img < n; ++img) {
    if (poll) KPS_CHECK(poll(poll_ctx));
    const int label = set->labels[img];
    kps_idx_pixels(set, img, x);
    kps_mlp_input_grad(net, &w, x, label, dF, NULL);
    uint64_t s = stream(seed, img, 3);
    for (size_t i = 0; i < d; ++i) dF[i] = sgn(dF[i]), dR[i] = (kps_nn_rand(&s) >> 63) ? 1.0 : -1.0;
    for (int i = 0; i < k; ++i) {
      const double u = span * (2.0 * i / (k - 1) - 1.0);
      for (int j = 0; j < k; ++j) {
        const double v = span * (2.0 * j / (k - 1) - 1.0);
        for (size_t p = 0; p < d; ++p) q[p] = clampd(x[p] + u * dF[p] + v * dR[p], 0.0, 1.0);
        /* Summed in image order: the same mean on any machine. */
        loss[(size_t)i * (size_t)k + (size_t)j] +=
            kps_mlp_input_grad(net, &w, q, label, NULL, NULL);
      }
    }
  }
  for (size_t p = 0; p < kk; ++p) loss[p] /= (double)n;
cleanup:
  kps_mlp_work_destroy(&w);
  free(x), free(dF), free(dR), free(q);
  return rc;
}

/* The adversary of adversarial training: its own stream and a gradient buffer. */
typedef struct adv_ctx {
  double eps;
  int steps;
  uint64_t s;
  double *g;
} adv_ctx;

static kps_err adv_perturb(void *ctx, const kps_mlp *net, kps_mlp_work *w, const double *x,
                           int label, double *xa) {
  adv_ctx *c = ctx;
  for (size_t i = 0; i < net->n_in; ++i) xa[i] = x[i] + c->eps * (2.0 * kps_nn_uniform(&c->s) - 1.0);
  project(net->n_in, x, c->eps, xa);
  const double alpha = c->steps == 1 ? 1.25 * c->eps : 2.5 * c->eps / c->steps;
  pgd_walk(net, w, x, label, c->eps, c->steps, alpha, xa, c->g);
  return KPS_OK;
}

kps_err kps_nn_adv_train(kps_mlp *net, const kps_idx_set *set, kps_train_opts *opts) {
  kps_err rc = KPS_OK;
  adv_ctx c = {opts->adv_eps, opts->adv_steps, opts->seed ^ 0xA0761D6478BD642Full, NULL};
  if (!(opts->adv_eps > 0) || opts->adv_steps < 1)
    KPS_FAIL(KPS_ERR_CONFIG, "adversarial training needs eps > 0 and steps >= 1");
  KPS_CHECK_ALLOC(c.g = malloc(net->n_in * sizeof *c.g));
  KPS_CHECK(kps_mlp_train(net, set, opts, adv_perturb, &c));
cleanup:
  free(c.g);
  return rc;
}
