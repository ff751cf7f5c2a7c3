/*
 * The defence sweep's job file (docs/defence.md): YAML through yaml_tree,
 * every error "FILE:LINE:COL: key: reason" so that it points at the value.
 * The grid keeps m >= N combinations as tasks (stored as invalid) so that
 * the file's task axis is the full product the user wrote.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "defence_sweep.h"
#include "kpsweep/config.h"
#include "yaml_tree.h"

typedef struct jctx {
  const char *path;
  char *err;
  size_t errlen;
} jctx;

static kps_err jfail(const jctx *c, const kps_ynode *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static kps_err jfail(const jctx *c, const kps_ynode *n, const char *key, const char *fmt, ...) {
  char why[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  snprintf(c->err, c->errlen, "%s:%d:%d: %s: %s", c->path, n ? n->line : 1, n ? n->column : 1, key,
           why);
  return KPS_ERR_CONFIG;
}

/* A finite number in [lo, hi]. */
static kps_err number(const jctx *c, const kps_ynode *n, const char *key, double lo, double hi,
                      double *v) {
  char *end = NULL;
  if (n->kind != KPS_YNODE_SCALAR) return jfail(c, n, key, "wants a number, got %s", kps_ynode_kind_name(n->kind));
  *v = strtod(n->text, &end);
  if (end == n->text || *end || !isfinite(*v)) return jfail(c, n, key, "'%s' is not a number", n->text);
  if (*v < lo || *v > hi) return jfail(c, n, key, "%s is outside [%g, %g]", n->text, lo, hi);
  return KPS_OK;
}

static kps_err integer(const jctx *c, const kps_ynode *n, const char *key, double lo, double hi,
                       long long *v) {
  double d = 0;
  kps_err rc = number(c, n, key, lo, hi, &d);
  if (rc) return rc;
  if (d != floor(d) || strpbrk(n->text, ".eE")) return jfail(c, n, key, "wants an integer, got '%s'", n->text);
  *v = (long long)d;
  return KPS_OK;
}

static kps_err boolean(const jctx *c, const kps_ynode *n, const char *key, int *v) {
  if (n->kind == KPS_YNODE_SCALAR && !strcmp(n->text, "true")) return *v = 1, KPS_OK;
  if (n->kind == KPS_YNODE_SCALAR && !strcmp(n->text, "false")) return *v = 0, KPS_OK;
  return jfail(c, n, key, "wants true or false");
}

/* A non-empty sequence of at most max numbers in [lo, hi]. */
static kps_err list(const jctx *c, const kps_ynode *n, const char *key, double lo, double hi,
                    int whole, int max, double *v, int *count) {
  if (n->kind != KPS_YNODE_SEQUENCE) return jfail(c, n, key, "wants a list, got %s", kps_ynode_kind_name(n->kind));
  if (n->n == 0) return jfail(c, n, key, "the list is empty");
  if (n->n > (size_t)max) return jfail(c, n, key, "at most %d values", max);
  for (size_t i = 0; i < n->n; ++i) {
    long long w = 0;
    kps_err rc = whole ? integer(c, n->items[i], key, lo, hi, &w) : number(c, n->items[i], key, lo, hi, &v[i]);
    if (rc) return rc;
    if (whole) v[i] = (double)w;
    for (size_t j = 0; j < i; ++j)
      if (v[j] == v[i]) return jfail(c, n->items[i], key, "%s appears twice", n->items[i]->text);
  }
  *count = (int)n->n;
  return KPS_OK;
}

static const char *const top_keys[] = {"name", "layers", "undefended", "adversarial", "eps",
                                       "attacks", "epochs", "hidden", "seed", "attack_seed",
                                       "c", "n_train", "n_test", "n_attack", "n_spsa",
                                       "landscape", NULL};

static kps_err unknown_keys(const jctx *c, const kps_ynode *map, const char *where,
                            const char *const *known) {
  for (size_t i = 0; i < map->n; ++i) {
    int ok = 0;
    for (const char *const *k = known; *k; ++k) ok |= !strcmp(*k, map->keys[i]->text);
    if (!ok) {
      char key[128];
      snprintf(key, sizeof key, "%s%s", where, map->keys[i]->text);
      return jfail(c, map->keys[i], key, "unknown key");
    }
  }
  return KPS_OK;
}

static kps_err read_file(const char *path, char **text, size_t *len, const jctx *c) {
  FILE *f = fopen(path, "rb");
  if (!f) return jfail(c, NULL, "file", "cannot be read");
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    char *b = realloc(buf, 2 * cap + 1);
    if (!b) free(buf);
    buf = b, cap *= 2;
  }
  const int bad = ferror(f);
  fclose(f);
  if (!buf) return KPS_ERR_NOMEM;
  if (bad) {
    free(buf);
    return jfail(c, NULL, "file", "read error");
  }
  buf[n] = '\0';
  *text = buf, *len = n;
  return KPS_OK;
}

kps_err kps_ds_job_load(const char *path, kps_ds_job *job, char *err, size_t errlen) {
  kps_err rc = KPS_OK;
  kps_ynode *root = NULL;
  kps_yerror yerr;
  const jctx c = {path, err, errlen};
  const kps_ynode *n = NULL;
  double Ns[KPS_DS_MAX_AXIS], ms[KPS_DS_MAX_AXIS], thetas[KPS_DS_MAX_AXIS];
  int nN = 0, nm = 0, nt = 0, undefended = 0;
  long long w = 0;
  memset(job, 0, sizeof *job);
  err[0] = '\0';
  job->epochs = 6, job->hidden = 128, job->seed = 1, job->attack_seed = 7, job->c = 0.01;
  job->n_train = 60000, job->n_test = 10000, job->n_attack = 2000, job->n_spsa = 500;
  if ((rc = read_file(path, &job->text, &job->text_len, &c))) goto cleanup;
  job->hash = kps_hash64(job->text, job->text_len);
  if ((rc = kps_ytree_load(job->text, job->text_len, &root, &yerr))) {
    snprintf(err, errlen, "%s:%d:%d: yaml: %s", path, yerr.line, yerr.column, yerr.reason);
    goto cleanup;
  }
  if (!root || root->kind != KPS_YNODE_MAPPING) {
    rc = jfail(&c, root, "layers", "the job is a mapping with at least 'layers' or 'undefended'");
    goto cleanup;
  }
  if ((rc = unknown_keys(&c, root, "", top_keys))) goto cleanup;

  if ((n = kps_ynode_get(root, "layers"))) {
    static const char *const layer_keys[] = {"N", "m", "theta", NULL};
    const kps_ynode *v = NULL;
    if (n->kind != KPS_YNODE_MAPPING) {
      rc = jfail(&c, n, "layers", "wants a mapping {N: [...], m: [...], theta: [...]}");
      goto cleanup;
    }
    if ((rc = unknown_keys(&c, n, "layers.", layer_keys))) goto cleanup;
    const char *names[3] = {"N", "m", "theta"};
    for (int k = 0; k < 3; ++k)
      if (!kps_ynode_get(n, names[k])) {
        char key[32];
        snprintf(key, sizeof key, "layers.%s", names[k]);
        rc = jfail(&c, n, key, "missing required key");
        goto cleanup;
      }
    v = kps_ynode_get(n, "N");
    if ((rc = list(&c, v, "layers.N", 1, 16, 1, KPS_DS_MAX_AXIS, Ns, &nN))) goto cleanup;
    v = kps_ynode_get(n, "m");
    if ((rc = list(&c, v, "layers.m", 0, 16, 1, KPS_DS_MAX_AXIS, ms, &nm))) goto cleanup;
    v = kps_ynode_get(n, "theta");
    if ((rc = list(&c, v, "layers.theta", 1e-6, 1, 0, KPS_DS_MAX_AXIS, thetas, &nt))) goto cleanup;
  }
  if ((n = kps_ynode_get(root, "undefended")) && (rc = boolean(&c, n, "undefended", &undefended)))
    goto cleanup;
  if ((n = kps_ynode_get(root, "adversarial"))) {
    const kps_ynode *e = kps_ynode_get(n, "eps");
    static const char *const adv_keys[] = {"eps", NULL};
    if (n->kind != KPS_YNODE_MAPPING || !e) {
      rc = jfail(&c, n, "adversarial", "wants a mapping {eps: EPS}");
      goto cleanup;
    }
    if ((rc = unknown_keys(&c, n, "adversarial.", adv_keys))) goto cleanup;
    if ((rc = number(&c, e, "adversarial.eps", 1e-9, 1, &job->adv_eps))) goto cleanup;
  }
  if ((n = kps_ynode_get(root, "eps"))) {
    if ((rc = list(&c, n, "eps", 1e-9, 1, 0, KPS_DS_MAX_EPS, job->eps, &job->n_eps))) goto cleanup;
    /* Increasing, so that the first radius that flips an image is its smallest. */
    for (int i = 1; i < job->n_eps; ++i)
      if (job->eps[i] <= job->eps[i - 1]) {
        rc = jfail(&c, n->items[i], "eps", "radii must increase");
        goto cleanup;
      }
  } else {
    job->n_eps = 3, job->eps[0] = 0.05, job->eps[1] = 0.1, job->eps[2] = 0.2;
  }
  if ((n = kps_ynode_get(root, "attacks"))) {
    if (n->kind != KPS_YNODE_SEQUENCE || n->n == 0) {
      rc = jfail(&c, n, "attacks", "wants a non-empty list of fgsm, pgd, spsa");
      goto cleanup;
    }
    for (size_t i = 0; i < n->n; ++i) {
      const kps_ynode *a = n->items[i];
      int k = 0;
      while (a->kind == KPS_YNODE_SCALAR && k < KPS_NN_N_ATTACKS &&
             strcmp(a->text, kps_nn_attack_name((kps_nn_attack)k)))
        ++k;
      if (a->kind != KPS_YNODE_SCALAR || k == KPS_NN_N_ATTACKS) {
        rc = jfail(&c, a, "attacks", "wants fgsm, pgd or spsa");
        goto cleanup;
      }
      for (int j = 0; j < job->n_attacks; ++j)
        if (job->attacks[j] == (kps_nn_attack)k) {
          rc = jfail(&c, a, "attacks", "%s appears twice", a->text);
          goto cleanup;
        }
      job->attacks[job->n_attacks++] = (kps_nn_attack)k;
    }
  } else {
    for (int k = 0; k < KPS_NN_N_ATTACKS; ++k) job->attacks[job->n_attacks++] = (kps_nn_attack)k;
  }
  /* Integer settings: key, bounds, destination. */
  struct { const char *key; double lo, hi; long long *dst; } ints[] = {
      {"epochs", 1, 1000, NULL}, {"hidden", 1, 4096, NULL}, {"seed", 0, 9007199254740992.0, NULL},
      {"attack_seed", 0, 9007199254740992.0, NULL}, {"n_train", 1, 60000, NULL},
      {"n_test", 1, 10000, NULL}, {"n_attack", 1, 10000, NULL}, {"n_spsa", 1, 10000, NULL}};
  for (size_t k = 0; k < sizeof ints / sizeof ints[0]; ++k) {
    if (!(n = kps_ynode_get(root, ints[k].key))) continue;
    if ((rc = integer(&c, n, ints[k].key, ints[k].lo, ints[k].hi, &w))) goto cleanup;
    switch (k) {
      case 0: job->epochs = (int)w; break;
      case 1: job->hidden = (int)w; break;
      case 2: job->seed = (uint64_t)w; break;
      case 3: job->attack_seed = (uint64_t)w; break;
      case 4: job->n_train = (size_t)w; break;
      case 5: job->n_test = (size_t)w; break;
      case 6: job->n_attack = (size_t)w; break;
      default: job->n_spsa = (size_t)w; break;
    }
  }
  if ((n = kps_ynode_get(root, "c")) && (rc = number(&c, n, "c", 1e-12, 1, &job->c))) goto cleanup;
  if ((n = kps_ynode_get(root, "landscape"))) {
    static const char *const land_keys[] = {"points", "images", "span", NULL};
    const kps_ynode *v = NULL;
    if (n->kind != KPS_YNODE_MAPPING) {
      rc = jfail(&c, n, "landscape", "wants a mapping {points: K, images: B, span: S}");
      goto cleanup;
    }
    if ((rc = unknown_keys(&c, n, "landscape.", land_keys))) goto cleanup;
    job->land_points = 21, job->land_images = 100, job->land_span = 0.2;
    if ((v = kps_ynode_get(n, "points"))) {
      if ((rc = integer(&c, v, "landscape.points", 3, KPS_DS_MAX_LAND, &w))) goto cleanup;
      /* Odd, so that the unperturbed images (u = v = 0) are a grid point. */
      if (w % 2 == 0) {
        rc = jfail(&c, v, "landscape.points", "wants an odd number (the centre is u = v = 0)");
        goto cleanup;
      }
      job->land_points = (int)w;
    }
    if ((v = kps_ynode_get(n, "images"))) {
      if ((rc = integer(&c, v, "landscape.images", 1, 10000, &w))) goto cleanup;
      job->land_images = (size_t)w;
    }
    if ((v = kps_ynode_get(n, "span")) &&
        (rc = number(&c, v, "landscape.span", 1e-6, 1, &job->land_span)))
      goto cleanup;
  }

  job->n_tasks = (size_t)(nN * nm * nt) + (size_t)undefended + (job->adv_eps > 0);
  if (job->n_tasks == 0) {
    rc = jfail(&c, root, "layers", "no task: give layers, undefended: true or adversarial");
    goto cleanup;
  }
  job->tasks = calloc(job->n_tasks, sizeof *job->tasks);
  if (!job->tasks) {
    rc = KPS_ERR_NOMEM;
    snprintf(err, errlen, "%s: out of memory", path);
    goto cleanup;
  }
  size_t t = 0;
  for (int a = 0; a < nN; ++a)
    for (int b = 0; b < nm; ++b)
      for (int k = 0; k < nt; ++k)
        job->tasks[t++] = (kps_ds_task){KPS_DS_GRID, (int)Ns[a], (int)ms[b], thetas[k]};
  if (undefended) job->tasks[t++] = (kps_ds_task){KPS_DS_UNDEFENDED, 0, 0, 0};
  if (job->adv_eps > 0) job->tasks[t++] = (kps_ds_task){KPS_DS_ADVERSARIAL, 0, 0, 0};
cleanup:
  kps_ytree_free(root);
  if (rc) kps_ds_job_destroy(job);
  return rc;
}

void kps_ds_job_destroy(kps_ds_job *job) {
  free(job->text);
  free(job->tasks);
  job->text = NULL, job->tasks = NULL, job->n_tasks = 0;
}

size_t kps_ds_r_robust_class(const kps_ds_job *job) {
  return KPS_DS_R_ROBUST + (size_t)(job->n_eps * job->n_attacks);
}

size_t kps_ds_r_flip(const kps_ds_job *job) {
  return kps_ds_r_robust_class(job) + (size_t)(job->n_eps * job->n_attacks) * KPS_FASHION_CLASSES;
}

size_t kps_ds_r_land(const kps_ds_job *job) { return kps_ds_r_flip(job) + (size_t)job->n_attacks; }

size_t kps_ds_result_len(const kps_ds_job *job) {
  return kps_ds_r_land(job) + (size_t)job->land_points * (size_t)job->land_points;
}
