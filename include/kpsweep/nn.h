/*
 * A one-hidden-layer perceptron for Fashion-MNIST (docs/defence.md):
 * input layer (kpsweep/defence.h: identity or proofreading), dense n_in ->
 * n_hid with ReLU, dense n_hid -> n_out, softmax cross-entropy. Trained by
 * minibatch SGD with momentum from a seed; one thread and fixed summation
 * orders, so a seed gives the same weights bit for bit. Double precision
 * throughout: the input gradients are checked against finite differences.
 * Weights are stored in HDF5 (kps_mlp_save, kps_mlp_load).
 */
#ifndef KPSWEEP_NN_H
#define KPSWEEP_NN_H

#include <stddef.h>
#include <stdint.h>

#include "kpsweep/defence.h"
#include "kpsweep/error.h"
#include "kpsweep/idx.h"

typedef struct kps_mlp {
  size_t n_in, n_hid, n_out;
  kps_layer layer;
  double *W1; /* n_in x n_hid, row i: the weights out of input i */
  double *b1; /* n_hid */
  double *W2; /* n_hid x n_out */
  double *b2; /* n_out */
} kps_mlp;

/* The buffers of one forward/backward pass (one per thread of use). */
typedef struct kps_mlp_work {
  double *y, *T, D; /* layer output, its T_i and feedback */
  double *h;        /* hidden activations after ReLU */
  double *z, *p;    /* logits, softmax probabilities */
  double *gh, *gy;  /* dL/dh, dL/dy */
} kps_mlp_work;

/*
 * A check made between the steps of long work (training minibatches,
 * attacked images): a result other than KPS_OK makes the work stop and
 * return that code (an interrupted run abandons its task this way). It may
 * take part in collectives the caller has arranged.
 */
typedef kps_err (*kps_poll_fn)(void *ctx);

/* How a network was (or is to be) trained; stored with its weights (but
 * poll). */
typedef struct kps_train_opts {
  int epochs;
  size_t batch;
  double lr, momentum; /* lr decays linearly to 0 over the run */
  uint64_t seed;       /* initial weights, shuffles, adversarial starts */
  double adv_eps;      /* > 0: adversarial training at this L-inf radius */
  int adv_steps;       /* PGD steps of adversarial training (1: FGSM, random start) */
  size_t n_train;      /* images used (filled in by kps_mlp_train) */
  kps_poll_fn poll;    /* called before every minibatch; NULL: never */
  void *poll_ctx;
} kps_train_opts;

/* Defaults: 6 epochs, batch 64, lr 0.05, momentum 0.9, seed 1, no adversary. */
kps_train_opts kps_train_defaults(void);

/*
 * Perturbs one training image before its gradient step (adversarial
 * training): writes x_adv from x and label. May use w. Returns KPS_OK or
 * an error.
 */
typedef kps_err (*kps_perturb_fn)(void *ctx, const kps_mlp *net, kps_mlp_work *w, const double *x,
                                  int label, double *x_adv);

/* Allocates a network with He-initialised weights from seed. Not collective. */
kps_err kps_mlp_create(size_t n_in, size_t n_hid, size_t n_out, kps_layer layer, uint64_t seed,
                       kps_mlp *net);
void kps_mlp_destroy(kps_mlp *net);

kps_err kps_mlp_work_create(const kps_mlp *net, kps_mlp_work *w);
void kps_mlp_work_destroy(kps_mlp_work *w);

/* Forward pass of x: logits and probabilities in w; returns the predicted class. */
int kps_mlp_forward(const kps_mlp *net, kps_mlp_work *w, const double *x);

/*
 * Cross-entropy loss of x with label and its exact gradient dL/dx through
 * the network and the input layer into gx (NULL: loss only). Returns the
 * loss; *pred (may be NULL) receives the predicted class.
 */
double kps_mlp_input_grad(const kps_mlp *net, kps_mlp_work *w, const double *x, int label,
                          double *gx, int *pred);

/*
 * Trains net on the first set->n images (all when opts->n_train is 0 or
 * larger) with perturb (NULL: none) applied to every training image.
 * opts->n_train receives the count used. Deterministic. Stops with
 * opts->poll's code when that is not KPS_OK (net then half trained).
 * Not collective (unless opts->poll is).
 */
kps_err kps_mlp_train(kps_mlp *net, const kps_idx_set *set, kps_train_opts *opts,
                      kps_perturb_fn perturb, void *ctx);

/* Clean accuracy on the first n images of set (0: all); per_class (may be
 * NULL) receives n_out accuracies. */
kps_err kps_mlp_accuracy(const kps_mlp *net, const kps_idx_set *set, size_t n, double *acc,
                         double *per_class);

/*
 * Writes /W1, /b1, /W2, /b2 and the layer and training settings as
 * attributes to a new HDF5 file (replacing path). Not collective.
 */
kps_err kps_mlp_save(const kps_mlp *net, const kps_train_opts *opts, const char *path);

/* Reads a file of kps_mlp_save into a new network; opts (may be NULL)
 * receives the training settings. A file of another kind is KPS_ERR_CONFIG. */
kps_err kps_mlp_load(const char *path, kps_mlp *net, kps_train_opts *opts);

/* The generator of the networks and attacks: splitmix64 from a state. */
uint64_t kps_nn_rand(uint64_t *state);
/* Uniform in (0, 1). */
double kps_nn_uniform(uint64_t *state);

#endif
