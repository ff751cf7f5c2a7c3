/*
 * Attacks on the defence networks (docs/defence.md), all in the L-infinity
 * ball of radius eps intersected with the pixel box [0, 1]:
 *   FGSM  one signed step of the exact input gradient of the loss;
 *   PGD   from a uniform random start, `pgd_steps` signed steps of size
 *         2.5 eps / pgd_steps, projected after each;
 *   SPSA  gradient-free (Uesato et al. 2018): the margin
 *         z_label - max_k!=label z_k estimated along random +-1 directions
 *         by finite differences of the forward pass alone, signed steps,
 *         stopping at the first flip. It never calls a gradient, so a
 *         defence that only masks gradients does not stop it.
 * and adversarial training (PGD/FGSM with random start on every training
 * image), the machine-learning baseline defence. Per-image random streams
 * come from (seed, image index): results do not depend on the order or the
 * split of the images. Not collective.
 */
#ifndef KPSWEEP_NNATTACK_H
#define KPSWEEP_NNATTACK_H

#include <stdint.h>

#include "kpsweep/nn.h"

typedef enum kps_nn_attack { KPS_NN_FGSM, KPS_NN_PGD, KPS_NN_SPSA, KPS_NN_N_ATTACKS } kps_nn_attack;

typedef struct kps_nn_attack_cfg {
  int pgd_steps;    /* default 10 */
  int spsa_iters;   /* default 40 */
  int spsa_pairs;   /* +-v direction pairs per iteration, default 16 */
  double spsa_delta; /* finite-difference step, default 0.01 */
  uint64_t seed;    /* default 7 */
} kps_nn_attack_cfg;

kps_nn_attack_cfg kps_nn_attack_defaults(void);

/* "fgsm", "pgd", "spsa". */
const char *kps_nn_attack_name(kps_nn_attack a);

/*
 * Attacks image x (label) of index `index` at radius eps: the adversarial
 * image into x_adv (n_in values) and whether the network then errs into
 * *fooled. A clean misclassification counts as fooled with x_adv = x.
 */
kps_err kps_nn_attack_one(const kps_mlp *net, kps_mlp_work *w, const kps_nn_attack_cfg *cfg,
                          kps_nn_attack a, double eps, const double *x, int label, uint64_t index,
                          double *x_adv, int *fooled);

/*
 * Robust accuracy of net on the first n images of set (0: all) under
 * attack a at eps (eps = 0: clean accuracy); per_class (may be NULL)
 * receives 10 accuracies.
 */
kps_err kps_nn_robust_accuracy(const kps_mlp *net, const kps_idx_set *set, size_t n,
                               const kps_nn_attack_cfg *cfg, kps_nn_attack a, double eps,
                               double *acc, double *per_class);

/*
 * The loss landscape around the first n images of set (0: all): for
 * u_i = span (2i / (k - 1) - 1) and v_j likewise (i, j = 0..k-1; k odd, so
 * u = v = 0 is a grid point), loss[i * k + j] receives the mean
 * cross-entropy over the images of x + u_i d_F + v_j d_R clipped to
 * [0, 1], where d_F = sign(dL/dx) at x (the FGSM direction: (u, 0) is
 * FGSM at eps u for u > 0) and d_R a random +-1 direction per image from
 * (seed, image index). Both directions have L-infinity norm 1 (d_F is 0
 * where the gradient is), so u and v are pixel intensities. poll (may be
 * NULL) is called before every image; its code other than KPS_OK stops
 * the computation. Not collective (unless poll is).
 */
kps_err kps_nn_loss_landscape(const kps_mlp *net, const kps_idx_set *set, size_t n, uint64_t seed,
                              double span, int k, kps_poll_fn poll, void *poll_ctx, double *loss);

/*
 * Trains net adversarially: every training image is replaced by its PGD
 * perturbation at opts->adv_eps with opts->adv_steps steps from a uniform
 * random start (one step of 1.25 eps: FGSM with random start, Wong et al.
 * 2020). opts->adv_eps must be > 0.
 */
kps_err kps_nn_adv_train(kps_mlp *net, const kps_idx_set *set, kps_train_opts *opts);

#endif
