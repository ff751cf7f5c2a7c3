/*
 * The defence networks (docs/defence.md) on a small subset of Fashion-MNIST
 * (2000 training, 500 test images): the IDX reader against known counts,
 * labels and pixels; the exact input gradients through the proofreading
 * layer and the network against central finite differences, and the
 * mechanism (m >= 2: dim pixels neither respond nor feed back; m = 1: they
 * feed back); deterministic training; an accuracy floor; FGSM and the
 * gradient-free SPSA fooling an undefended network; the HDF5 weights round
 * trip; clear errors for a missing data directory and a foreign file; the
 * loss landscape (its centre is the clean loss, its (eps, 0) point the loss
 * of FGSM at eps, both computed here from their definitions; the FGSM
 * direction raises the loss more than the random one).
 * Skips when Debian's dataset-fashion-mnist is not installed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../tap.h"
#include "kpsweep/idx.h"
#include "kpsweep/nn.h"
#include "kpsweep/nnattack.h"

static const char *dir = KPS_FASHION_MNIST_DIR;

static void die(const char *what) {
  printf("Bail out! %s\n", what);
  exit(1);
}

static void test_idx(const kps_idx_set *tr, const kps_idx_set *te) {
  kps_idx_set full = {0};
  if (kps_idx_load(dir, "t10k", 0, &full) != KPS_OK) die("t10k");
  tap_ok(full.n == 10000 && full.rows == 28 && full.cols == 28, "t10k: 10,000 images of 28 x 28 (%zu)", full.n);
  kps_idx_destroy(&full);
  if (kps_idx_load(dir, "train", 0, &full) != KPS_OK) die("train");
  tap_ok(full.n == 60000, "train: 60,000 images (%zu)", full.n);
  kps_idx_destroy(&full);
  static const uint8_t tr_labels[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
  static const uint8_t te_labels[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
  tap_ok(tr->n == 2000 && !memcmp(tr->labels, tr_labels, 10) && !memcmp(te->labels, te_labels, 10),
         "the first ten labels of train and t10k, the limit keeps 2000");
  long sum = 0;
  for (int i = 0; i < 784; ++i) sum += tr->pixels[i];
  tap_ok(tr->pixels[14 * 28 + 14] == 217 && sum == 76247 && te->pixels[14 * 28 + 13] == 136,
         "known pixels: train[0](14,14) = 217, its sum 76247, t10k[0](14,13) = 136");
  double x[784];
  kps_idx_pixels(tr, 0, x);
  tap_close(x[14 * 28 + 14], 217 / 255.0, 0, 0, "intensities are byte / 255");
  kps_idx_set none = {0};
  tap_ok(kps_idx_load("/nonexistent-kps", "train", 0, &none) == KPS_ERR_CONFIG && !none.pixels,
         "a missing data directory is a configuration error");
}

/* Input gradient of the loss against central differences on pixels with x > 0.05. */
static void test_gradient(const kps_idx_set *te, kps_layer layer, const char *name) {
  kps_mlp net;
  kps_mlp_work w;
  if (kps_mlp_create(784, 32, 10, layer, 3, &net) || kps_mlp_work_create(&net, &w)) die("alloc");
  /* Non-zero biases keep the ReLUs away from their kinks' symmetric point. */
  for (int j = 0; j < 32; ++j) net.b1[j] = 0.05 * (j % 5);
  double x[784], g[784], xp[784];
  kps_idx_pixels(te, 3, x);
  kps_mlp_input_grad(&net, &w, x, te->labels[3], g, NULL);
  const double h = 1e-6;
  double worst = 0;
  int checked = 0;
  for (int i = 0; i < 784 && checked < 60; ++i) {
    if (x[i] < 0.05) continue;
    memcpy(xp, x, sizeof xp);
    xp[i] = x[i] + h;
    const double lp = kps_mlp_input_grad(&net, &w, xp, te->labels[3], NULL, NULL);
    xp[i] = x[i] - h;
    const double lm = kps_mlp_input_grad(&net, &w, xp, te->labels[3], NULL, NULL);
    const double fd = (lp - lm) / (2 * h);
    const double err = fabs(fd - g[i]) / (fabs(fd) + 1e-3);
    if (err > worst) worst = err;
    ++checked;
  }
  tap_ok(checked > 20 && worst < 1e-5, "%s: dL/dx against central differences (%d pixels, worst rel %.2g)",
         name, checked, worst);
  kps_mlp_work_destroy(&w);
  kps_mlp_destroy(&net);
}

/* The mechanism: at a black pixel, m >= 2 gives y = 0 and dy/dx = 0; m = 1 feeds back. */
static void test_dim_pixels(const kps_idx_set *te) {
  double x[784], y[784], T[784], gy[784], gx[784], D = 0;
  kps_idx_pixels(te, 0, x);
  int zero = 0;
  while (x[zero] != 0.0) ++zero;
  for (int i = 0; i < 784; ++i) gy[i] = 1.0;
  const kps_layer l42 = kps_layer_make(4, 2, 0.5, 0.01), l41 = kps_layer_make(4, 1, 0.5, 0.01);
  kps_layer_forward(&l42, 784, x, y, T, &D);
  kps_layer_backward(&l42, 784, x, T, D, gy, gx);
  tap_ok(y[zero] == 0.0 && gx[zero] == 0.0, "T_{4,2}: a black pixel has response 0 and gradient 0");
  kps_layer_forward(&l41, 784, x, y, T, &D);
  kps_layer_backward(&l41, 784, x, T, D, gy, gx);
  tap_ok(y[zero] == 0.0 && gx[zero] < 0.0,
         "T_{4,1}: a black pixel responds 0 but feeds back (gradient %.3g < 0)", gx[zero]);
  /* A uniform image at the threshold: T = 1 when c is negligible. */
  for (int i = 0; i < 784; ++i) x[i] = 0.5;
  const kps_layer lt = kps_layer_make(4, 2, 0.5, 1e-12);
  kps_layer_forward(&lt, 784, x, y, T, &D);
  tap_close(T[0], 1.0, 1e-9, 0, "T_{4,2} of a uniform image at x = theta is 1");
}

static kps_mlp train(const kps_idx_set *tr, kps_layer layer, int epochs) {
  kps_mlp net;
  kps_train_opts o = kps_train_defaults();
  o.epochs = epochs;
  if (kps_mlp_create(784, 64, 10, layer, o.seed, &net) || kps_mlp_train(&net, tr, &o, NULL, NULL))
    die("training");
  return net;
}

/* The loss landscape of net on the first n test images against the losses
 * computed here from the definitions. */
static void test_landscape(const kps_mlp *net, const kps_idx_set *te) {
  enum { K = 7, C = K / 2, n = 60 };
  const double span = 0.15;
  double loss[K * K], again[K * K], x[784], g[784], xa[784], clean = 0, fgsm = 0;
  kps_mlp_work w;
  if (kps_mlp_work_create(net, &w)) die("work");
  if (kps_nn_loss_landscape(net, te, n, 7, span, K, NULL, NULL, loss) ||
      kps_nn_loss_landscape(net, te, n, 7, span, K, NULL, NULL, again))
    die("landscape");
  for (size_t k = 0; k < n; ++k) {
    const int label = te->labels[k];
    kps_idx_pixels(te, k, x);
    kps_mlp_forward(net, &w, x);
    clean += -log(w.p[label]);
    kps_mlp_input_grad(net, &w, x, label, g, NULL);
    for (int i = 0; i < 784; ++i) {
      const double v = x[i] + (g[i] > 0 ? span : g[i] < 0 ? -span : 0.0);
      xa[i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    kps_mlp_forward(net, &w, xa);
    fgsm += -log(w.p[label]);
  }
  clean /= n, fgsm /= n;
  tap_close(loss[C * K + C], clean, 1e-12, 0, "landscape at (0, 0) is the clean loss %.4f", clean);
  tap_close(loss[(K - 1) * K + C], fgsm, 1e-12, 0, "landscape at (eps, 0) is the FGSM loss %.4f", fgsm);
  tap_ok(loss[(K - 1) * K + C] > loss[(C + 1) * K + C] && loss[(C + 1) * K + C] > loss[C * K + C] &&
             loss[C * K + C] > loss[0 * K + C],
         "the loss rises along the FGSM direction (%.3f at -eps, %.3f, %.3f at eps)",
         loss[0 * K + C], loss[C * K + C], loss[(K - 1) * K + C]);
  tap_ok(loss[C * K + K - 1] < loss[(K - 1) * K + C],
         "a random direction raises it less (%.3f at v = eps)", loss[C * K + K - 1]);
  tap_ok(!memcmp(loss, again, sizeof loss), "the landscape is deterministic");
  tap_ok(kps_nn_loss_landscape(net, te, n, 7, span, 6, NULL, NULL, again) == KPS_ERR_CONFIG,
         "an even number of points is refused (no centre)");
  kps_mlp_work_destroy(&w);
}

static int same_weights(const kps_mlp *a, const kps_mlp *b) {
  return a->n_hid == b->n_hid && !memcmp(a->W1, b->W1, 784 * a->n_hid * sizeof(double)) &&
         !memcmp(a->b1, b->b1, a->n_hid * sizeof(double)) &&
         !memcmp(a->W2, b->W2, a->n_hid * 10 * sizeof(double)) &&
         !memcmp(a->b2, b->b2, 10 * sizeof(double));
}

int main(int argc, char **argv) {
  if (argc > 1) dir = argv[1];
  char probe[4096];
  struct stat st;
  snprintf(probe, sizeof probe, "%s/t10k-images-idx3-ubyte.gz", dir);
  /* A declared test dependency (scripts/setup.sh installs it): its absence
   * fails the test, it does not skip it. */
  if (stat(probe, &st) != 0) {
    printf("1..1\nnot ok 1 - Fashion-MNIST at %s (install Debian's dataset-fashion-mnist: "
           "scripts/test.sh does)\n", dir);
    return 1;
  }
  if (kps_hdf5_quiet() != KPS_OK) die("hdf5");
  kps_idx_set tr = {0}, te = {0};
  if (kps_idx_load(dir, "train", 2000, &tr) || kps_idx_load(dir, "t10k", 500, &te)) die("load");
  test_idx(&tr, &te);
  test_gradient(&te, kps_layer_none(), "undefended");
  test_gradient(&te, kps_layer_make(4, 2, 0.5, 0.01), "T_{4,2}");
  test_gradient(&te, kps_layer_make(3, 1, 0.4, 0.01), "T_{3,1}");
  test_gradient(&te, kps_layer_make(2, 0, 0.6, 0.01), "T_{2,0}");
  test_dim_pixels(&te);

  kps_mlp a = train(&tr, kps_layer_none(), 2), b = train(&tr, kps_layer_none(), 2);
  tap_ok(same_weights(&a, &b), "two trainings from one seed give identical weights");
  kps_mlp_destroy(&b);
  kps_mlp_destroy(&a);

  kps_mlp plain = train(&tr, kps_layer_none(), 4);
  kps_mlp kpr = train(&tr, kps_layer_make(4, 2, 0.5, 0.01), 4);
  double acc = 0, acc_kpr = 0, fgsm = 0, spsa = 0, pc[10];
  if (kps_mlp_accuracy(&plain, &te, 0, &acc, pc) || kps_mlp_accuracy(&kpr, &te, 0, &acc_kpr, NULL))
    die("accuracy");
  tap_ok(acc >= 0.75, "undefended, 2000 images, 4 epochs: clean accuracy %.3f >= 0.75", acc);
  tap_ok(acc_kpr >= 0.72, "T_{4,2}-defended: clean accuracy %.3f >= 0.72", acc_kpr);
  kps_nn_attack_cfg cfg = kps_nn_attack_defaults();
  if (kps_nn_robust_accuracy(&plain, &te, 0, &cfg, KPS_NN_FGSM, 0.1, &fgsm, NULL)) die("fgsm");
  tap_ok(fgsm < acc - 0.3, "FGSM at eps 0.1 fools the undefended network: %.3f from %.3f", fgsm, acc);
  if (kps_nn_robust_accuracy(&plain, &te, 100, &cfg, KPS_NN_SPSA, 0.1, &spsa, NULL)) die("spsa");
  double clean100 = 0;
  if (kps_nn_robust_accuracy(&plain, &te, 100, &cfg, KPS_NN_SPSA, 0.0, &clean100, NULL)) die("clean");
  tap_ok(spsa < clean100 - 0.15,
         "gradient-free SPSA at eps 0.1 finds flips on the undefended network: %.3f from %.3f",
         spsa, clean100);

  test_landscape(&plain, &te);

  /* The weights round trip, with the layer and the training settings. */
  const char *path = "test_defence_weights.h5";
  kps_train_opts o = kps_train_defaults(), o2;
  o.n_train = 2000, o.epochs = 4;
  kps_mlp back;
  if (kps_mlp_save(&kpr, &o, path) || kps_mlp_load(path, &back, &o2)) die("round trip");
  double acc_back = 0;
  if (kps_mlp_accuracy(&back, &te, 0, &acc_back, NULL)) die("accuracy");
  tap_ok(same_weights(&kpr, &back) && back.layer.on && back.layer.N == 4 && back.layer.m == 2 &&
             back.layer.theta == 0.5 && back.layer.c == 0.01 && o2.n_train == 2000 &&
             o2.epochs == 4 && o2.seed == o.seed && acc_back == acc_kpr,
         "HDF5 weights round trip: weights, layer, training settings, predictions");
  kps_mlp_destroy(&back);
  FILE *f = fopen("test_defence_foreign.h5", "w");
  if (f) fputs("not hdf5\n", f), fclose(f);
  tap_ok(kps_mlp_load("test_defence_foreign.h5", &back, NULL) == KPS_ERR_CONFIG,
         "a file that is no weights file is a configuration error");
  remove(path);
  remove("test_defence_foreign.h5");

  kps_mlp_destroy(&plain);
  kps_mlp_destroy(&kpr);
  kps_idx_destroy(&tr);
  kps_idx_destroy(&te);
  return tap_done();
}
