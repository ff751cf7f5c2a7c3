/*
 * The perceptron's passes and its training (see kpsweep/nn.h). The dense
 * products are written as sums of scaled rows (axpy), which the compiler
 * vectorises without reassociating any sum, and skip zero inputs (half of
 * a Fashion-MNIST image is black background): the order of every sum is
 * fixed, so results do not depend on the machine's thread count.
 */
#include "kpsweep/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

uint64_t kps_nn_rand(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double kps_nn_uniform(uint64_t *state) {
  return ((double)(kps_nn_rand(state) >> 11) + 0.5) * 0x1.0p-53;
}

static double normal01(uint64_t *state) {
  const double u1 = kps_nn_uniform(state), u2 = kps_nn_uniform(state);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

kps_train_opts kps_train_defaults(void) {
  const kps_train_opts o = {6, 64, 0.05, 0.9, 1, 0.0, 1, 0, NULL, NULL};
  return o;
}

kps_err kps_mlp_create(size_t n_in, size_t n_hid, size_t n_out, kps_layer layer, uint64_t seed,
                       kps_mlp *net) {
  kps_err rc = KPS_OK;
  memset(net, 0, sizeof *net);
  net->n_in = n_in, net->n_hid = n_hid, net->n_out = n_out, net->layer = layer;
  KPS_CHECK_ALLOC(net->W1 = malloc(n_in * n_hid * sizeof *net->W1));
  KPS_CHECK_ALLOC(net->b1 = calloc(n_hid, sizeof *net->b1));
  KPS_CHECK_ALLOC(net->W2 = malloc(n_hid * n_out * sizeof *net->W2));
  KPS_CHECK_ALLOC(net->b2 = calloc(n_out, sizeof *net->b2));
  /* He initialisation (variance 2 / fan-in) suits the ReLU hidden layer. */
  uint64_t s = seed;
  const double s1 = sqrt(2.0 / (double)n_in), s2 = sqrt(2.0 / (double)n_hid);
  for (size_t i = 0; i < n_in * n_hid; ++i) net->W1[i] = s1 * normal01(&s);
  for (size_t i = 0; i < n_hid * n_out; ++i) net->W2[i] = s2 * normal01(&s);
cleanup:
  if (rc != KPS_OK) kps_mlp_destroy(net);
  return rc;
}

void kps_mlp_destroy(kps_mlp *net) {
  free(net->W1), free(net->b1), free(net->W2), free(net->b2);
  memset(net, 0, sizeof *net);
}

kps_err kps_mlp_work_create(const kps_mlp *net, kps_mlp_work *w) {
  kps_err rc = KPS_OK;
  memset(w, 0, sizeof *w);
  KPS_CHECK_ALLOC(w->y = malloc(net->n_in * sizeof *w->y));
  KPS_CHECK_ALLOC(w->T = malloc(net->n_in * sizeof *w->T));
  KPS_CHECK_ALLOC(w->gy = malloc(net->n_in * sizeof *w->gy));
  KPS_CHECK_ALLOC(w->h = malloc(net->n_hid * sizeof *w->h));
  KPS_CHECK_ALLOC(w->gh = malloc(net->n_hid * sizeof *w->gh));
  KPS_CHECK_ALLOC(w->z = malloc(net->n_out * sizeof *w->z));
  KPS_CHECK_ALLOC(w->p = malloc(net->n_out * sizeof *w->p));
cleanup:
  if (rc != KPS_OK) kps_mlp_work_destroy(w);
  return rc;
}

void kps_mlp_work_destroy(kps_mlp_work *w) {
  free(w->y), free(w->T), free(w->gy), free(w->h), free(w->gh), free(w->z), free(w->p);
  memset(w, 0, sizeof *w);
}

int kps_mlp_forward(const kps_mlp *net, kps_mlp_work *w, const double *x) {
  const size_t nh = net->n_hid, no = net->n_out;
  kps_layer_forward(&net->layer, net->n_in, x, w->y, w->T, &w->D);
  double *restrict h = w->h;
  memcpy(h, net->b1, nh * sizeof *h);
  for (size_t i = 0; i < net->n_in; ++i) {
    const double yi = w->y[i];
    if (yi == 0.0) continue;
    const double *restrict row = net->W1 + i * nh;
    for (size_t j = 0; j < nh; ++j) h[j] += yi * row[j];
  }
  for (size_t j = 0; j < nh; ++j) h[j] = h[j] > 0.0 ? h[j] : 0.0;
  double *restrict z = w->z;
  memcpy(z, net->b2, no * sizeof *z);
  for (size_t j = 0; j < nh; ++j) {
    if (h[j] == 0.0) continue;
    const double *restrict row = net->W2 + j * no;
    for (size_t k = 0; k < no; ++k) z[k] += h[j] * row[k];
  }
  int best = 0;
  for (size_t k = 1; k < no; ++k)
    if (z[k] > z[best]) best = (int)k;
  double sum = 0.0;
  for (size_t k = 0; k < no; ++k) sum += w->p[k] = exp(z[k] - z[best]);
  for (size_t k = 0; k < no; ++k) w->p[k] /= sum;
  return best;
}

/* dL/dh (masked by the ReLU) into w->gh from the forward pass; dz = p - e_label. */
static void backward_hidden(const kps_mlp *net, kps_mlp_work *w, int label) {
  const size_t no = net->n_out;
  for (size_t j = 0; j < net->n_hid; ++j) {
    double g = 0.0;
    if (w->h[j] > 0.0) {
      const double *row = net->W2 + j * no;
      for (size_t k = 0; k < no; ++k) g += row[k] * (w->p[k] - (k == (size_t)label));
    }
    w->gh[j] = g;
  }
}

double kps_mlp_input_grad(const kps_mlp *net, kps_mlp_work *w, const double *x, int label,
                          double *gx, int *pred) {
  const int c = kps_mlp_forward(net, w, x);
  if (pred) *pred = c;
  const double loss = -log(fmax(w->p[label], 1e-300));
  if (!gx) return loss;
  backward_hidden(net, w, label);
  const size_t nh = net->n_hid;
  for (size_t i = 0; i < net->n_in; ++i) {
    /* Four interleaved partial sums: a fixed order the compiler may
     * vectorise. */
    const double *row = net->W1 + i * nh;
    double a[4] = {0, 0, 0, 0};
    size_t j = 0;
    for (; j + 4 <= nh; j += 4)
      for (int q = 0; q < 4; ++q) a[q] += row[j + q] * w->gh[j + q];
    for (; j < nh; ++j) a[0] += row[j] * w->gh[j];
    w->gy[i] = (a[0] + a[1]) + (a[2] + a[3]);
  }
  kps_layer_backward(&net->layer, net->n_in, x, w->T, w->D, w->gy, gx);
  return loss;
}

/* Adds the parameter gradient of the last forward pass (label) to g. */
static void accumulate(const kps_mlp *net, kps_mlp_work *w, int label, kps_mlp *g) {
  const size_t nh = net->n_hid, no = net->n_out;
  backward_hidden(net, w, label);
  for (size_t k = 0; k < no; ++k) g->b2[k] += w->p[k] - (k == (size_t)label);
  for (size_t j = 0; j < nh; ++j) {
    if (w->h[j] == 0.0) continue;
    double *restrict row = g->W2 + j * no;
    for (size_t k = 0; k < no; ++k) row[k] += w->h[j] * (w->p[k] - (k == (size_t)label));
  }
  const double *restrict gh = w->gh;
  for (size_t j = 0; j < nh; ++j) g->b1[j] += gh[j];
  for (size_t i = 0; i < net->n_in; ++i) {
    const double yi = w->y[i];
    if (yi == 0.0) continue;
    double *restrict row = g->W1 + i * nh;
    for (size_t j = 0; j < nh; ++j) row[j] += yi * gh[j];
  }
}

/* v = mu v - lr g / b; p += v, over n values. */
static void momentum_step(size_t n, double *restrict p, double *restrict v,
                          const double *restrict g, double mu, double lr_b) {
  for (size_t i = 0; i < n; ++i) {
    v[i] = mu * v[i] - lr_b * g[i];
    p[i] += v[i];
  }
}

kps_err kps_mlp_train(kps_mlp *net, const kps_idx_set *set, kps_train_opts *opts,
                      kps_perturb_fn perturb, void *ctx) {
  kps_err rc = KPS_OK;
  kps_mlp g = {0}, v = {0};
  kps_mlp_work w = {0};
  size_t *order = NULL;
  double *x = NULL, *xa = NULL;
  const size_t n = opts->n_train > 0 && opts->n_train < set->n ? opts->n_train : set->n;
  const size_t d = (size_t)set->rows * (size_t)set->cols;
  if (d != net->n_in)
    KPS_FAIL(KPS_ERR_CONFIG, "images of %zu pixels for a network of %zu inputs", d, net->n_in);
  if (n == 0 || opts->batch == 0 || opts->epochs < 1)
    KPS_FAIL(KPS_ERR_CONFIG, "training needs images, a batch size and epochs >= 1");
  opts->n_train = n;
  KPS_CHECK(kps_mlp_create(net->n_in, net->n_hid, net->n_out, net->layer, 0, &g));
  KPS_CHECK(kps_mlp_create(net->n_in, net->n_hid, net->n_out, net->layer, 0, &v));
  memset(v.W1, 0, net->n_in * net->n_hid * sizeof *v.W1);
  memset(v.W2, 0, net->n_hid * net->n_out * sizeof *v.W2);
  KPS_CHECK(kps_mlp_work_create(net, &w));
  KPS_CHECK_ALLOC(order = malloc(n * sizeof *order));
  KPS_CHECK_ALLOC(x = malloc(d * sizeof *x));
  KPS_CHECK_ALLOC(xa = malloc(d * sizeof *xa));
  for (size_t k = 0; k < n; ++k) order[k] = k;
  /* The shuffles draw from their own stream, apart from the initial weights'. */
  uint64_t s = opts->seed ^ 0xD1B54A32D192ED03ull;
  const size_t per_epoch = (n + opts->batch - 1) / opts->batch;
  const double total = (double)per_epoch * opts->epochs;
  size_t step = 0;
  for (int e = 0; e < opts->epochs; ++e) {
    for (size_t k = n - 1; k > 0; --k) {
      const size_t r = (size_t)(kps_nn_rand(&s) % (k + 1));
      const size_t t = order[k];
      order[k] = order[r], order[r] = t;
    }
    for (size_t b0 = 0; b0 < n; b0 += opts->batch, ++step) {
      const size_t b1 = b0 + opts->batch < n ? b0 + opts->batch : n;
      if (opts->poll) KPS_CHECK(opts->poll(opts->poll_ctx));
      memset(g.W1, 0, net->n_in * net->n_hid * sizeof *g.W1);
      memset(g.b1, 0, net->n_hid * sizeof *g.b1);
      memset(g.W2, 0, net->n_hid * net->n_out * sizeof *g.W2);
      memset(g.b2, 0, net->n_out * sizeof *g.b2);
      for (size_t q = b0; q < b1; ++q) {
        const size_t k = order[q];
        const int label = set->labels[k];
        kps_idx_pixels(set, k, x);
        const double *in = x;
        if (perturb) {
          KPS_CHECK(perturb(ctx, net, &w, x, label, xa));
          in = xa;
        }
        kps_mlp_forward(net, &w, in);
        accumulate(net, &w, label, &g);
      }
      const double lr_b = opts->lr * (1.0 - (double)step / total) / (double)(b1 - b0);
      const double mu = opts->momentum;
      momentum_step(net->n_in * net->n_hid, net->W1, v.W1, g.W1, mu, lr_b);
      momentum_step(net->n_hid, net->b1, v.b1, g.b1, mu, lr_b);
      momentum_step(net->n_hid * net->n_out, net->W2, v.W2, g.W2, mu, lr_b);
      momentum_step(net->n_out, net->b2, v.b2, g.b2, mu, lr_b);
    }
  }
cleanup:
  kps_mlp_destroy(&g);
  kps_mlp_destroy(&v);
  kps_mlp_work_destroy(&w);
  free(order), free(x), free(xa);
  return rc;
}

kps_err kps_mlp_accuracy(const kps_mlp *net, const kps_idx_set *set, size_t n, double *acc,
                         double *per_class) {
  kps_err rc = KPS_OK;
  kps_mlp_work w = {0};
  double *x = NULL;
  size_t hit[KPS_FASHION_CLASSES] = {0}, seen[KPS_FASHION_CLASSES] = {0}, total = 0;
  if (n == 0 || n > set->n) n = set->n;
  if (net->n_out != KPS_FASHION_CLASSES)
    KPS_FAIL(KPS_ERR_CONFIG, "a network of %zu outputs for %d classes", net->n_out,
             KPS_FASHION_CLASSES);
  KPS_CHECK(kps_mlp_work_create(net, &w));
  KPS_CHECK_ALLOC(x = malloc(net->n_in * sizeof *x));
  for (size_t k = 0; k < n; ++k) {
    kps_idx_pixels(set, k, x);
    const int c = set->labels[k];
    const int ok = kps_mlp_forward(net, &w, x) == c;
    hit[c] += (size_t)ok, seen[c] += 1, total += (size_t)ok;
  }
  *acc = n ? (double)total / (double)n : 0.0;
  if (per_class)
    for (int c = 0; c < KPS_FASHION_CLASSES; ++c)
      per_class[c] = seen[c] ? (double)hit[c] / (double)seen[c] : NAN;
cleanup:
  kps_mlp_work_destroy(&w);
  free(x);
  return rc;
}
