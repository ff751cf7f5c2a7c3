/*
 * `kpsweep defence`: the machine-learning half of the biomimetic defence
 * (docs/defence.md). `train` fits a perceptron on Fashion-MNIST, with or
 * without the proofreading input layer, optionally adversarially, and
 * writes its weights to HDF5; `eval` measures clean and robust accuracy of
 * such a file under FGSM, PGD and SPSA over an eps grid. Runs on rank 0
 * only; other ranks return at once.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "defence_sweep.h"
#include "kpsweep/cli.h"
#include "kpsweep/idx.h"
#include "kpsweep/nn.h"
#include "kpsweep/nnattack.h"

static const char *defence_help =
    "usage: kpsweep defence train -o NET.h5 [--layer N,m,theta] [--c C] [--hidden H]\n"
    "                             [--epochs E] [--batch B] [--lr LR] [--momentum MU]\n"
    "                             [--seed S] [--adv-eps EPS [--adv-steps K]]\n"
    "                             [--n-train N] [--data DIR] [--force]\n"
    "       kpsweep defence eval NET.h5 [--eps E1,E2,...] [--attack fgsm|pgd|spsa|all]...\n"
    "                             [--n-test N] [--n-attack N] [--n-spsa N]\n"
    "                             [--pgd-steps K] [--spsa-iters K] [--spsa-pairs P]\n"
    "                             [--seed S] [--data DIR]\n"
    "       kpsweep defence sweep JOB.yaml -o OUT.h5 [--resume | --force] [--data DIR]\n"
    "\n"
    "Cellular decision networks are classifiers that antagonists fool; adaptive\n"
    "proofreading with a late feedback (m >= 2 in T_{N,m}) ignores small changes of\n"
    "weak inputs. This verb tests the same mechanism as an input layer of a neural\n"
    "network on Fashion-MNIST (Debian's dataset-fashion-mnist): each pixel x in [0, 1]\n"
    "is a binding time, T_i = x_i^N / (theta^(N-m) (mean_j x_j^m + c)), y_i = T_i/(1+T_i),\n"
    "followed by a dense ReLU layer of H units and a softmax over the 10 classes.\n"
    "\n"
    "train: minibatch SGD with momentum, lr decaying linearly to 0, deterministic\n"
    "from --seed (one thread, fixed summation order). Prints the clean test accuracy.\n"
    "  -o NET.h5          weights file to write (refused if it exists, unless --force)\n"
    "  --layer N,m,theta  the proofreading layer (integers 1 <= N <= 16, 0 <= m < N,\n"
    "                     0 < theta <= 1); without it the network is undefended\n"
    "  --c C              feedback floor, 0 < C <= 1 (default 0.01)\n"
    "  --hidden H         hidden units (default 128)\n"
    "  --epochs E         passes over the training images (default 6)\n"
    "  --batch B          minibatch size (default 64)\n"
    "  --lr LR            initial learning rate (default 0.05)\n"
    "  --momentum MU      momentum in [0, 1) (default 0.9)\n"
    "  --seed S           initial weights, shuffles, adversarial starts (default 1)\n"
    "  --adv-eps EPS      adversarial training: every image replaced by its PGD\n"
    "                     perturbation at L-inf radius EPS (the ML baseline defence)\n"
    "  --adv-steps K      PGD steps of adversarial training (default 1: FGSM with a\n"
    "                     random start and step 1.25 EPS)\n"
    "  --n-train N        use the first N of the 60,000 training images (default all)\n"
    "\n"
    "eval: the clean accuracy (and per class) on the test images, then the robust\n"
    "accuracy under each attack and eps (L-inf ball within [0, 1]): fgsm (one signed\n"
    "exact-gradient step), pgd (random start, K signed steps of 2.5 eps/K), spsa\n"
    "(gradient-free: margin differences along random +-1 directions, signed steps).\n"
    "  --eps LIST         comma-separated radii (default 0.05,0.1,0.2)\n"
    "  --attack NAME      fgsm | pgd | spsa | all (repeatable; default all)\n"
    "  --n-test N         test images for the clean accuracy (default all 10,000)\n"
    "  --n-attack N       test images attacked by fgsm and pgd (default 2000)\n"
    "  --n-spsa N         test images attacked by spsa (default 500: 1280 queries each)\n"
    "  --pgd-steps K      (default 10)   --spsa-iters K (default 40)\n"
    "  --spsa-pairs P     direction pairs per SPSA iteration (default 16)\n"
    "  --seed S           the attacks' random streams (default 7)\n"
    "\n"
    "  --data DIR         directory of the gzipped IDX files\n"
    "                     (default " KPS_FASHION_MNIST_DIR ")\n"
    "\n"
    "sweep: one network per (N, m, theta) of a job file and its baselines, trained\n"
    "and attacked over MPI ranks into one HDF5 file ('kpsweep defence sweep --help').\n"
    "\n"
    "examples:\n"
    "  kpsweep defence train -o plain.h5\n"
    "  kpsweep defence train -o kpr.h5 --layer 4,2,0.5\n"
    "  kpsweep defence train -o adv.h5 --adv-eps 0.1\n"
    "  kpsweep defence eval kpr.h5 --eps 0.05,0.1,0.2\n";

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports a usage error; exit status 2. */
static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "kpsweep defence: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\nTry 'kpsweep defence --help'.\n");
  va_end(ap);
  return KPS_EXIT_USAGE;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A finite number in [lo, hi]; 0 on anything else. */
static int num(const char *s, double lo, double hi, double *v) {
  char *end = NULL;
  if (!s || !*s) return 0;
  *v = strtod(s, &end);
  return end != s && !*end && isfinite(*v) && *v >= lo && *v <= hi;
}

/* A whole number in [lo, hi]. */
static int whole(const char *s, double lo, double hi, long long *v) {
  double d = 0;
  if (!num(s, lo, hi, &d) || d != floor(d) || strpbrk(s, ".eE")) return 0;
  *v = (long long)d;
  return 1;
}

/* The value of option argv[*i]: argv[*i + 1], advancing *i; NULL at the end. */
static const char *value(int argc, char **argv, int *i) {
  return *i + 1 < argc ? argv[++*i] : NULL;
}

static int train(int argc, char **argv) {
  kps_train_opts o = kps_train_defaults();
  const char *out = NULL, *data = KPS_FASHION_MNIST_DIR;
  int force = 0, have_layer = 0;
  long long N = 0, m = 0, hidden = 128, t = 0;
  double theta = 0, c = 0.01;
  for (int i = 0; i < argc; ++i) {
    const char *a = argv[i], *v = NULL;
    if (!strcmp(a, "--force")) {
      force = 1;
      continue;
    }
    if (a[0] != '-') return fail("train: unexpected argument '%s'", a);
    if (!(v = value(argc, argv, &i))) return fail("train: %s needs a value", a);
    if (!strcmp(a, "-o")) out = v;
    else if (!strcmp(a, "--data")) data = v;
    else if (!strcmp(a, "--layer")) {
      char buf[256];
      snprintf(buf, sizeof buf, "%s", v);
      char *p1 = strchr(buf, ','), *p2 = p1 ? strchr(p1 + 1, ',') : NULL;
      if (!p2) return fail("--layer %s: wants N,m,theta (for example 4,2,0.5)", v);
      *p1 = 0, *p2 = 0;
      if (!whole(buf, 1, 16, &N) || !whole(p1 + 1, 0, 15, &m) || !num(p2 + 1, 1e-6, 1, &theta))
        return fail("--layer %s: N an integer in 1..16, m an integer in 0..N-1, theta in (0, 1]", v);
      have_layer = 1;
    } else if (!strcmp(a, "--c")) {
      if (!num(v, 1e-12, 1, &c)) return fail("--c %s: wants a number in (0, 1]", v);
    } else if (!strcmp(a, "--hidden")) {
      if (!whole(v, 1, 4096, &hidden)) return fail("--hidden %s: wants an integer in 1..4096", v);
    } else if (!strcmp(a, "--epochs")) {
      if (!whole(v, 1, 1000, &t)) return fail("--epochs %s: wants an integer in 1..1000", v);
      o.epochs = (int)t;
    } else if (!strcmp(a, "--batch")) {
      if (!whole(v, 1, 60000, &t)) return fail("--batch %s: wants an integer in 1..60000", v);
      o.batch = (size_t)t;
    } else if (!strcmp(a, "--lr")) {
      if (!num(v, 1e-9, 10, &o.lr)) return fail("--lr %s: wants a number in (0, 10]", v);
    } else if (!strcmp(a, "--momentum")) {
      if (!num(v, 0, 0.999, &o.momentum)) return fail("--momentum %s: wants a number in [0, 1)", v);
    } else if (!strcmp(a, "--seed")) {
      if (!whole(v, 0, 9007199254740992.0, &t)) return fail("--seed %s: wants an integer >= 0", v);
      o.seed = (uint64_t)t;
    } else if (!strcmp(a, "--adv-eps")) {
      if (!num(v, 1e-9, 1, &o.adv_eps)) return fail("--adv-eps %s: wants a number in (0, 1]", v);
    } else if (!strcmp(a, "--adv-steps")) {
      if (!whole(v, 1, 100, &t)) return fail("--adv-steps %s: wants an integer in 1..100", v);
      o.adv_steps = (int)t;
    } else if (!strcmp(a, "--n-train")) {
      if (!whole(v, 1, 1e9, &t)) return fail("--n-train %s: wants a positive integer", v);
      o.n_train = (size_t)t;
    } else return fail("train: unknown option '%s'", a);
  }
  if (!out) return fail("train: -o NET.h5 is required");
  struct stat st;
  if (!force && stat(out, &st) == 0) return fail("train: %s exists (use --force to replace it)", out);
  kps_layer layer = have_layer ? kps_layer_make((int)N, (int)m, theta, c) : kps_layer_none();
  char why[256];
  if (*kps_layer_check(&layer, why, sizeof why)) return fail("--layer: %s", why);

  kps_err rc = KPS_OK;
  kps_idx_set tr = {0}, te = {0};
  kps_mlp net = {0};
  double acc = 0, pc[KPS_FASHION_CLASSES];
  KPS_CHECK(kps_idx_load(data, "train", o.n_train, &tr));
  KPS_CHECK(kps_idx_load(data, "t10k", 0, &te));
  const size_t d = (size_t)tr.rows * (size_t)tr.cols;
  KPS_CHECK(kps_mlp_create(d, (size_t)hidden, KPS_FASHION_CLASSES, layer, o.seed, &net));
  const double t0 = now_s();
  if (o.adv_eps > 0) KPS_CHECK(kps_nn_adv_train(&net, &tr, &o));
  else KPS_CHECK(kps_mlp_train(&net, &tr, &o, NULL, NULL));
  const double t1 = now_s();
  KPS_CHECK(kps_mlp_accuracy(&net, &te, 0, &acc, pc));
  KPS_CHECK(kps_mlp_save(&net, &o, out));
  if (layer.on) printf("layer      T_{%d,%d}, theta %g, c %g\n", layer.N, layer.m, layer.theta, layer.c);
  else printf("layer      none (undefended)\n");
  if (o.adv_eps > 0) printf("adversary  eps %g, %d step(s), random start\n", o.adv_eps, o.adv_steps);
  printf("trained    %zu images, %d epochs, %zu hidden units, seed %llu: %.1f s\n", o.n_train,
         o.epochs, (size_t)hidden, (unsigned long long)o.seed, t1 - t0);
  printf("clean      %.4f on %zu test images\n", acc, te.n);
  printf("wrote      %s\n", out);
cleanup:
  kps_mlp_destroy(&net);
  kps_idx_destroy(&tr);
  kps_idx_destroy(&te);
  return kps_exit_code(rc);
}

#define MAX_EPS 32

static int eval(int argc, char **argv) {
  const char *path = NULL, *data = KPS_FASHION_MNIST_DIR;
  double eps[MAX_EPS] = {0.05, 0.1, 0.2};
  int n_eps = 3;
  unsigned attacks = 0;
  long long n_test = 0, n_attack = 2000, n_spsa = 500, t = 0;
  kps_nn_attack_cfg cfg = kps_nn_attack_defaults();
  for (int i = 0; i < argc; ++i) {
    const char *a = argv[i], *v = NULL;
    if (a[0] != '-') {
      if (path) return fail("eval: one weights file only ('%s' and '%s')", path, a);
      path = a;
      continue;
    }
    if (!(v = value(argc, argv, &i))) return fail("eval: %s needs a value", a);
    if (!strcmp(a, "--data")) data = v;
    else if (!strcmp(a, "--eps")) {
      char buf[1024];
      snprintf(buf, sizeof buf, "%s", v);
      n_eps = 0;
      for (char *s = strtok(buf, ","); s; s = strtok(NULL, ",")) {
        if (n_eps == MAX_EPS) return fail("--eps: at most %d radii", MAX_EPS);
        if (!num(s, 1e-9, 1, &eps[n_eps])) return fail("--eps %s: radii in (0, 1]", v);
        ++n_eps;
      }
      if (n_eps == 0) return fail("--eps %s: no radius", v);
    } else if (!strcmp(a, "--attack")) {
      if (!strcmp(v, "all")) attacks |= 7u;
      else {
        int k = 0;
        while (k < KPS_NN_N_ATTACKS && strcmp(v, kps_nn_attack_name((kps_nn_attack)k))) ++k;
        if (k == KPS_NN_N_ATTACKS) return fail("--attack %s: wants fgsm, pgd, spsa or all", v);
        attacks |= 1u << k;
      }
    } else if (!strcmp(a, "--n-test")) {
      if (!whole(v, 1, 1e9, &n_test)) return fail("--n-test %s: wants a positive integer", v);
    } else if (!strcmp(a, "--n-attack")) {
      if (!whole(v, 1, 1e9, &n_attack)) return fail("--n-attack %s: wants a positive integer", v);
    } else if (!strcmp(a, "--n-spsa")) {
      if (!whole(v, 1, 1e9, &n_spsa)) return fail("--n-spsa %s: wants a positive integer", v);
    } else if (!strcmp(a, "--pgd-steps")) {
      if (!whole(v, 1, 1000, &t)) return fail("--pgd-steps %s: wants an integer in 1..1000", v);
      cfg.pgd_steps = (int)t;
    } else if (!strcmp(a, "--spsa-iters")) {
      if (!whole(v, 1, 10000, &t)) return fail("--spsa-iters %s: wants an integer in 1..10000", v);
      cfg.spsa_iters = (int)t;
    } else if (!strcmp(a, "--spsa-pairs")) {
      if (!whole(v, 1, 10000, &t)) return fail("--spsa-pairs %s: wants an integer in 1..10000", v);
      cfg.spsa_pairs = (int)t;
    } else if (!strcmp(a, "--seed")) {
      if (!whole(v, 0, 9007199254740992.0, &t)) return fail("--seed %s: wants an integer >= 0", v);
      cfg.seed = (uint64_t)t;
    } else return fail("eval: unknown option '%s'", a);
  }
  if (!path) return fail("eval: which weights file? (kpsweep defence eval NET.h5)");
  if (!attacks) attacks = 7u;

  kps_err rc = KPS_OK;
  kps_idx_set te = {0};
  kps_mlp net = {0};
  kps_train_opts o;
  double acc = 0, pc[KPS_FASHION_CLASSES];
  KPS_CHECK(kps_mlp_load(path, &net, &o));
  KPS_CHECK(kps_idx_load(data, "t10k", (size_t)n_test, &te));
  if ((size_t)te.rows * (size_t)te.cols != net.n_in)
    KPS_FAIL(KPS_ERR_CONFIG, "%s has %zu inputs, the images %d x %d pixels", path, net.n_in,
             te.rows, te.cols);
  KPS_CHECK(kps_mlp_accuracy(&net, &te, 0, &acc, pc));
  if (net.layer.on)
    printf("network    %s: layer T_{%d,%d}, theta %g, c %g", path, net.layer.N, net.layer.m,
           net.layer.theta, net.layer.c);
  else printf("network    %s: no input layer", path);
  if (o.adv_eps > 0) printf(", adversarially trained (eps %g, %d step(s))", o.adv_eps, o.adv_steps);
  printf("\nclean      %.4f on %zu test images; per class:", acc, te.n);
  for (int k = 0; k < KPS_FASHION_CLASSES; ++k) printf(" %.2f", pc[k]);
  printf("\n\n%-6s %6s %9s %7s %8s\n", "attack", "eps", "accuracy", "images", "time_s");
  for (int a = 0; a < KPS_NN_N_ATTACKS; ++a) {
    if (!(attacks & (1u << a))) continue;
    const size_t n = (size_t)(a == KPS_NN_SPSA ? n_spsa : n_attack);
    const size_t used = n < te.n ? n : te.n;
    for (int e = 0; e < n_eps; ++e) {
      double r = 0;
      const double t0 = now_s();
      KPS_CHECK(kps_nn_robust_accuracy(&net, &te, used, &cfg, (kps_nn_attack)a, eps[e], &r, NULL));
      printf("%-6s %6g %9.4f %7zu %8.1f\n", kps_nn_attack_name((kps_nn_attack)a), eps[e], r, used,
             now_s() - t0);
      fflush(stdout);
    }
  }
cleanup:
  kps_mlp_destroy(&net);
  kps_idx_destroy(&te);
  return kps_exit_code(rc);
}

int kps_cmd_defence(int argc, char **argv, MPI_Comm comm, volatile sig_atomic_t *stop) {
  /* The sweep is the one action that uses every rank. */
  if (argc >= 1 && !strcmp(argv[0], "sweep"))
    return kps_defence_sweep(argc - 1, argv + 1, comm, stop);
  if (!kps_is_root(comm)) return KPS_EXIT_OK;
  if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
    fputs(defence_help, argc < 1 ? stderr : stdout);
    return argc < 1 ? KPS_EXIT_USAGE : KPS_EXIT_OK;
  }
  for (int i = 1; i < argc; ++i)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(defence_help, stdout);
      return KPS_EXIT_OK;
    }
  if (!strcmp(argv[0], "train")) return train(argc - 1, argv + 1);
  if (!strcmp(argv[0], "eval")) return eval(argc - 1, argv + 1);
  return fail("unknown action '%s' (train, eval or sweep)", argv[0]);
}
