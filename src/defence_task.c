/*
 * One task of the defence sweep: train one network from the job's seed and
 * evaluate it. Everything is a function of (job, task index): the network's
 * training is bit-reproducible and the attacks' random streams come from
 * (attack_seed, image index), so whichever rank computes a task writes the
 * same numbers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "defence_sweep.h"
#include "kpsweep/nn.h"

kps_err kps_ds_data_load(const kps_ds_job *job, const char *dir, kps_ds_data *d) {
  kps_err rc = KPS_OK;
  size_t n = job->n_test;
  if (job->n_attack > n) n = job->n_attack;
  if (job->n_spsa > n) n = job->n_spsa;
  if (job->land_images > n) n = job->land_images;
  KPS_CHECK(kps_idx_load(dir, "train", job->n_train, &d->train));
  KPS_CHECK(kps_idx_load(dir, "t10k", n, &d->test));
cleanup:
  return rc;
}

void kps_ds_data_destroy(kps_ds_data *d) {
  kps_idx_destroy(&d->train);
  kps_idx_destroy(&d->test);
}

/* Images attacked by a: SPSA costs ~1000x a gradient attack, so fewer. */
static size_t attacked(const kps_ds_job *job, const kps_idx_set *te, kps_nn_attack a) {
  const size_t n = a == KPS_NN_SPSA ? job->n_spsa : job->n_attack;
  return n < te->n ? n : te->n;
}

/*
 * Attacks each image at every eps of the grid: robust accuracy (overall
 * and per class) per eps, and the mean over images that flip of the
 * smallest eps that flips them. Images the network already misclassifies
 * count as fooled (as in `eval`) but never "flip".
 */
static kps_err evaluate_attack(const kps_ds_job *job, const kps_mlp *net, const kps_idx_set *te,
                               int ai, kps_poll_fn poll, void *poll_ctx, double *r) {
  kps_err rc = KPS_OK;
  kps_mlp_work w = {0};
  double *x = NULL, *xa = NULL;
  const kps_nn_attack a = job->attacks[ai];
  kps_nn_attack_cfg cfg = kps_nn_attack_defaults();
  cfg.seed = job->attack_seed;
  const size_t n = attacked(job, te, a), E = (size_t)job->n_eps, A = (size_t)job->n_attacks;
  size_t seen[KPS_FASHION_CLASSES] = {0}, flips = 0;
  size_t held[KPS_DS_MAX_EPS][KPS_FASHION_CLASSES] = {{0}};
  double flip_sum = 0;
  KPS_CHECK(kps_mlp_work_create(net, &w));
  KPS_CHECK_ALLOC(x = malloc(net->n_in * sizeof *x));
  KPS_CHECK_ALLOC(xa = malloc(net->n_in * sizeof *xa));
  for (size_t k = 0; k < n; ++k) {
    const int label = te->labels[k];
    kps_idx_pixels(te, k, x);
    const int clean_ok = kps_mlp_forward(net, &w, x) == label;
    int flipped = 0;
    seen[label] += 1;
    for (size_t e = 0; e < E; ++e) {
      int fooled = 1;
      /* SPSA spends tens of milliseconds per image and eps. */
      if (poll) KPS_CHECK(poll(poll_ctx));
      if (clean_ok) KPS_CHECK(kps_nn_attack_one(net, &w, &cfg, a, job->eps[e], x, label, k, xa, &fooled));
      held[e][label] += (size_t)!fooled;
      if (clean_ok && fooled && !flipped) flipped = 1, flip_sum += job->eps[e], ++flips;
    }
  }
  for (size_t e = 0; e < E; ++e) {
    size_t tot = 0;
    for (int c = 0; c < KPS_FASHION_CLASSES; ++c) {
      tot += held[e][c];
      r[kps_ds_r_robust_class(job) + (e * A + (size_t)ai) * KPS_FASHION_CLASSES + (size_t)c] =
          seen[c] ? (double)held[e][c] / (double)seen[c] : NAN;
    }
    r[KPS_DS_R_ROBUST + e * A + (size_t)ai] = n ? (double)tot / (double)n : NAN;
  }
  r[kps_ds_r_flip(job) + (size_t)ai] = flips ? flip_sum / (double)flips : NAN;
cleanup:
  kps_mlp_work_destroy(&w);
  free(x), free(xa);
  return rc;
}

kps_err kps_ds_task_compute(const kps_ds_job *job, const kps_ds_data *d, size_t t, double *r,
                            kps_poll_fn poll, void *poll_ctx) {
  kps_err rc = KPS_OK;
  kps_mlp net = {0};
  const kps_ds_task *task = &job->tasks[t];
  const size_t len = kps_ds_result_len(job);
  for (size_t i = 0; i < len; ++i) r[i] = NAN;
  if (task->kind == KPS_DS_GRID && task->m >= task->N) {
    r[KPS_DS_R_STATUS] = KPS_DS_INVALID;
    return KPS_OK;
  }
  kps_train_opts o = kps_train_defaults();
  o.epochs = job->epochs, o.seed = job->seed, o.n_train = job->n_train;
  o.poll = poll, o.poll_ctx = poll_ctx;
  const kps_layer layer = task->kind == KPS_DS_GRID
                              ? kps_layer_make(task->N, task->m, task->theta, job->c)
                              : kps_layer_none();
  const size_t n_in = (size_t)d->train.rows * (size_t)d->train.cols;
  KPS_CHECK(kps_mlp_create(n_in, (size_t)job->hidden, KPS_FASHION_CLASSES, layer, job->seed, &net));
  if (task->kind == KPS_DS_ADVERSARIAL) {
    o.adv_eps = job->adv_eps;
    KPS_CHECK(kps_nn_adv_train(&net, &d->train, &o));
  } else {
    KPS_CHECK(kps_mlp_train(&net, &d->train, &o, NULL, NULL));
  }
  KPS_CHECK(kps_mlp_accuracy(&net, &d->test, job->n_test, &r[KPS_DS_R_CLEAN], &r[KPS_DS_R_CLASS]));
  for (int a = 0; a < job->n_attacks; ++a)
    KPS_CHECK(evaluate_attack(job, &net, &d->test, a, poll, poll_ctx, r));
  if (job->land_points > 0)
    KPS_CHECK(kps_nn_loss_landscape(&net, &d->test, job->land_images, job->attack_seed,
                                    job->land_span, job->land_points, poll, poll_ctx,
                                    &r[kps_ds_r_land(job)]));
  r[KPS_DS_R_STATUS] = KPS_DS_COMPUTED;
cleanup:
  kps_mlp_destroy(&net);
  return rc;
}
