/*
 * FGSM (counts, binding times), PGD and the iterative descent on a ligand
 * histogram; the drawn histograms of the descent. Choices beyond
 * science.md section 5 are in docs/statistics.md.
 */
#include "kpsweep/attack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kpsweep/stats.h"
#include "kpsweep/status.h"

/*
 * Constants
 *   FGSM_SCAN   points of each of the two eps scans (linear on [0, eps_max],
 *               geometric over FGSM_DECADES decades below eps_max) whose
 *               union is searched for the first flip before it is refined
 *   EPS_XTOL    relative width of the refined flipping eps
 */
#define FGSM_SCAN 64
#define FGSM_DECADES 9.0
#define EPS_XTOL 1e-12
#define KPS_PI 3.14159265358979323846

void kps_attack_movable(const kps_attack_config *a, double tau_c, int K, const double *tau,
                        uint8_t *movable) {
  for (int j = 0; j < K; ++j)
    movable[j] = a->movable == KPS_MOVE_ALL || tau[j] < tau_c;
}

static int sgn(double x) { return (x > 0) - (x < 0); }

/*
 * round(x) individual ligands. Counts are validated to [0, KPS_MAX_LIGANDS]
 * (job files and solve); the clamp keeps the conversion defined for any
 * other value (NaN gives 0), where llround alone would overflow.
 */
static long ligand_count(double x) {
  if (!(x >= 0.5)) return 0;
  return x < KPS_MAX_LIGANDS ? lround(x) : (long)KPS_MAX_LIGANDS;
}

/* Whether an attack in direction s applies to a start of decision d0. */
static int applies(int s, int d0) { return (s == KPS_DIR_OFF) == (d0 == 1); }

/*
 * Evaluates the input after step `step` of an iterative attack: records the
 * step in *steps and in *flipped whether the decision left d0. Returns the
 * evaluation's kps_status.
 */
static int eval_step(kps_probe *pr, double O_th, int d0, int step, double *O, double *g,
                     int *steps, int *flipped) {
  const int st = kps_probe_eval(pr, O, g);
  if (kps_status_is_ok(st)) *steps = step, *flipped = (*O > O_th) != d0;
  return st;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

typedef struct fgsm_ctx {
  kps_probe *pr;
  const kps_attack_config *a;
  const uint8_t *movable;
  int space;
  double tau_c, O_th;
  double tau0[KPS_MAX_BINS], L0[KPS_MAX_BINS];
  int dir[KPS_MAX_BINS]; /* s * sign of the gradient at the start */
} fgsm_ctx;

/* O(eps) - O_th along the FGSM ray. */
static int fgsm_f(void *ctx, double eps, double *f) {
  fgsm_ctx *c = ctx;
  kps_probe *pr = c->pr;
  for (int j = 0; j < pr->K; ++j) {
    pr->tau[j] = c->tau0[j], pr->L[j] = c->L0[j];
    if (!c->movable[j]) continue;
    if (c->space == 0) {
      pr->L[j] = fmax(0.0, c->L0[j] + eps * c->dir[j]);
    } else {
      /* The box is [tau_min, tau_c], widened to hold the starting value, so
       * a ligand outside it (an agonist with movable: all) moves by eps
       * rather than jumping onto the box at any eps > 0. */
      const double t = c->tau0[j] + eps * c->dir[j];
      const double lo = fmin(c->a->tau_min, c->tau0[j]), hi = fmax(c->tau_c, c->tau0[j]);
      pr->tau[j] = fmin(fmax(t, lo), hi);
    }
  }
  double O;
  int st = kps_probe_eval(pr, &O, NULL);
  *f = O - c->O_th;
  return st;
}

static void restore(kps_probe *pr, const double *tau0, const double *L0) {
  memcpy(pr->tau, tau0, sizeof(double) * (size_t)pr->K);
  memcpy(pr->L, L0, sizeof(double) * (size_t)pr->K);
  pr->warm = 0;
}

int kps_attack_fgsm(kps_probe *pr, const kps_attack_config *a, double tau_c, double O_th,
                    const uint8_t *movable, int space, kps_fgsm_result *res) {
  fgsm_ctx c;
  fgsm_ctx *cx = &c;
  memset(res, 0, sizeof *res);
  res->eps_star = NAN, res->O_new = NAN, res->decision = -1;
  const int K = pr->K, s = a->direction;
  cx->pr = pr, cx->a = a, cx->movable = movable, cx->space = space;
  cx->tau_c = tau_c, cx->O_th = O_th;
  memcpy(cx->tau0, pr->tau, sizeof(double) * (size_t)K);
  memcpy(cx->L0, pr->L, sizeof(double) * (size_t)K);
  double O, g[2 * KPS_MAX_BINS];
  int st = kps_probe_eval(pr, &O, g);
  if (!kps_status_is_ok(st)) goto done;
  const int d0 = O > O_th;
  res->applicable = applies(s, d0);
  if (!res->applicable) goto done;
  for (int j = 0; j < K; ++j) cx->dir[j] = s * sgn(space == 0 ? g[K + j] : g[j]);
  const double eps_max = space == 0 ? a->fgsm_eps_L_max : a->fgsm_eps_tau_max;
  /* The response along the ray need not be monotonic (a ligand pushed past
   * tau*, a dose past a window of response): scan the union of a geometric
   * grid (fine near 0) and a linear one (fine near eps_max), in order. */
  double grid[2 * FGSM_SCAN];
  int ng = 0;
  for (int k = 1; k <= FGSM_SCAN; ++k) {
    grid[ng++] = eps_max * pow(10.0, -FGSM_DECADES * (1.0 - (double)k / FGSM_SCAN));
    grid[ng++] = eps_max * k / FGSM_SCAN;
  }
  qsort(grid, (size_t)ng, sizeof *grid, cmp_double);
  double prev = 0.0, fprev = O - O_th, f = fprev, eps = 0.0;
  int found = 0;
  for (int k = 0; k < ng; ++k) {
    if (grid[k] <= prev) continue;
    eps = grid[k];
    st = fgsm_f(cx, eps, &f);
    if (!kps_status_is_ok(st)) goto done;
    if ((f > 0) != (fprev > 0)) {
      found = 1;
      break;
    }
    prev = eps, fprev = f;
  }
  if (!found) {
    res->eps_star = INFINITY;
    res->O_new = f + O_th;
    res->decision = f > 0;
    goto done;
  }
  st = kps_bracket_root(fgsm_f, cx, prev, fprev, eps, f, EPS_XTOL, &res->eps_star);
  if (!kps_status_is_ok(st)) goto done;
  /* Report the input just past the crossing, where the decision has flipped. */
  double fs;
  st = fgsm_f(cx, res->eps_star, &fs);
  if ((fs > 0) == d0) {
    res->eps_star = nextafter(res->eps_star, INFINITY) + EPS_XTOL * res->eps_star;
    st = fgsm_f(cx, res->eps_star, &fs);
  }
  res->O_new = fs + O_th;
  res->decision = fs > 0;
done:
  restore(pr, cx->tau0, cx->L0);
  return st;
}

int kps_attack_pgd(kps_probe *pr, const kps_attack_config *a, double tau_c, double O_th,
                   const uint8_t *movable, kps_pgd_result *res) {
  double tau0[KPS_MAX_BINS], L0[KPS_MAX_BINS], g[2 * KPS_MAX_BINS], O;
  const int K = pr->K, s = a->direction;
  memset(res, 0, sizeof *res);
  res->O_final = NAN;
  memcpy(tau0, pr->tau, sizeof(double) * (size_t)K);
  memcpy(L0, pr->L, sizeof(double) * (size_t)K);
  int st = kps_probe_eval(pr, &O, g);
  if (!kps_status_is_ok(st)) goto done;
  const int d0 = O > O_th;
  res->applicable = applies(s, d0);
  if (!res->applicable) goto done;
  for (int step = 1; step <= a->pgd_steps; ++step) {
    for (int j = 0; j < K; ++j) {
      if (!movable[j]) continue;
      double t = pr->tau[j] + s * a->pgd_step * sgn(g[j]);
      t = fmin(fmax(t, tau0[j] - a->pgd_eps), tau0[j] + a->pgd_eps);
      pr->tau[j] = fmin(fmax(t, fmin(a->tau_min, tau0[j])), fmax(tau_c, tau0[j]));
    }
    st = eval_step(pr, O_th, d0, step, &O, g, &res->steps, &res->flipped);
    if (!kps_status_is_ok(st)) goto done;
    if (res->flipped) break;
  }
  res->O_final = O;
done:
  restore(pr, tau0, L0);
  return st;
}

/* Grid bin of binding time t: [k w, (k+1) w), the last bin open above. */
static int grid_bin(double t, double w, int n_grid) {
  const double k = floor(t / w);
  return !(k >= 0) ? 0 : k >= n_grid ? n_grid - 1 : (int)k; /* NaN: bin 0 */
}

/*
 * Loads the nonempty bins of counts[] into the probe (bin centres, counts),
 * recording which probe ligand each bin is; forgets the warm state when the
 * set of bins changed (the state's layout follows the bins).
 */
static void load_bins(kps_probe *pr, const int32_t *counts, int n_grid, double w, int *type_of) {
  int K = 0, same = 1;
  for (int k = 0; k < n_grid; ++k) {
    if (counts[k] == 0) {
      same &= type_of[k] < 0;
      type_of[k] = -1;
      continue;
    }
    same &= type_of[k] == K;
    type_of[k] = K;
    pr->tau[K] = ((double)k + 0.5) * w;
    pr->L[K] = (double)counts[k];
    ++K;
  }
  if (!same || K != pr->K) pr->warm = 0;
  pr->K = K;
}

static void count_bins(const double *tau, size_t n, double w, int n_grid, int32_t *counts) {
  memset(counts, 0, sizeof(int32_t) * (size_t)n_grid);
  for (size_t i = 0; i < n; ++i) ++counts[grid_bin(tau[i], w, n_grid)];
}

int kps_attack_descent_published(kps_probe *pr, const kps_attack_config *a, double tau_c,
                                 double O_th, double *tau, size_t n, kps_descent_result *res) {
  double g[2 * KPS_MAX_BINS], O;
  int type_of[KPS_MAX_BINS];
  uint8_t movable_bin[KPS_MAX_BINS];
  const int s = a->direction, n_grid = (int)kps_attack_grid_bins(a);
  const double w = a->bin_width;
  memset(res, 0, sizeof *res);
  res->tau_mean = res->frac_near0 = res->O_final = res->O0 = NAN;
  res->n_grid = n_grid;
  for (int k = 0; k < n_grid; ++k) {
    type_of[k] = -2; /* nothing loaded yet */
    /* The bin's upper edge may not pass tau_c; the tolerance keeps 15 x 0.2
     * below 3.0 in binary. */
    movable_bin[k] = a->movable == KPS_MOVE_ALL || (k + 1) * w <= tau_c * (1.0 + 1e-12);
  }
  /* Ligands movable at the start: the population whose fate is reported. */
  uint8_t *mov0 = malloc(n > 0 ? n : 1);
  if (!mov0) return KPS_ST_SOLVER_ERROR;
  count_bins(tau, n, w, n_grid, res->hist);
  size_t n_mov0 = 0;
  for (size_t i = 0; i < n; ++i) n_mov0 += mov0[i] = movable_bin[grid_bin(tau[i], w, n_grid)];
  pr->warm = 0;
  load_bins(pr, res->hist, n_grid, w, type_of);
  int st = pr->K > 0 ? kps_probe_eval(pr, &O, g) : KPS_ST_INVALID_PARAMS;
  if (!kps_status_is_ok(st)) goto done;
  res->O0 = O;
  const int d0 = O > O_th;
  res->applicable = applies(s, d0);
  if (!res->applicable) goto done;
  for (int step = 1; step <= a->descent_max_steps; ++step) {
    for (size_t i = 0; i < n; ++i) {
      const int k = grid_bin(tau[i], w, n_grid);
      if (!movable_bin[k]) continue;
      tau[i] += s * a->descent_eta * g[type_of[k]];
      if (tau[i] < 0.0) tau[i] = 0.5 * w;
    }
    count_bins(tau, n, w, n_grid, res->hist);
    load_bins(pr, res->hist, n_grid, w, type_of);
    st = eval_step(pr, O_th, d0, step, &O, g, &res->steps, &res->flipped);
    if (!kps_status_is_ok(st)) goto done;
    if (res->flipped) break;
  }
  res->O_final = O;
  double tsum = 0.0;
  size_t near0 = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!mov0[i]) continue;
    tsum += tau[i];
    near0 += grid_bin(tau[i], w, n_grid) == 0;
  }
  res->tau_mean = n_mov0 > 0 ? tsum / (double)n_mov0 : NAN;
  res->frac_near0 = n_mov0 > 0 ? (double)near0 / (double)n_mov0 : NAN;
done:
  free(mov0);
  return st;
}

int kps_attack_descent(kps_probe *pr, const kps_attack_config *a, double tau_c, double O_th,
                       const uint8_t *movable, kps_descent_result *res) {
  double g[2 * KPS_MAX_BINS], O;
  const int K = pr->K, s = a->direction;
  (void)tau_c;
  memset(res, 0, sizeof *res);
  res->tau_mean = res->frac_near0 = res->O_final = res->O0 = NAN;
  res->n_grid = (int)kps_attack_grid_bins(a);
  int st = kps_probe_eval(pr, &O, g);
  if (!kps_status_is_ok(st)) return st;
  res->O0 = O;
  const int d0 = O > O_th;
  res->applicable = applies(s, d0);
  if (!res->applicable) return KPS_ST_OK;
  for (int step = 1; step <= a->descent_max_steps; ++step) {
    double qmax = 0.0;
    for (int j = 0; j < K; ++j)
      if (movable[j] && pr->L[j] > 0) qmax = fmax(qmax, fabs(g[j] / pr->L[j]));
    if (!(qmax > 0.0)) break;
    for (int j = 0; j < K; ++j) {
      if (!movable[j] || !(pr->L[j] > 0)) continue;
      pr->tau[j] += s * a->descent_eta * (g[j] / pr->L[j]) / qmax;
      if (pr->tau[j] < 0.0) pr->tau[j] = 0.5 * a->bin_width;
    }
    st = eval_step(pr, O_th, d0, step, &O, g, &res->steps, &res->flipped);
    if (!kps_status_is_ok(st)) return st;
    if (res->flipped) break;
  }
  double wsum = 0.0, tsum = 0.0, near0 = 0.0;
  for (int j = 0; j < K; ++j) {
    if (!movable[j]) continue;
    wsum += pr->L[j];
    tsum += pr->L[j] * pr->tau[j];
    if (pr->tau[j] < a->bin_width) near0 += pr->L[j];
  }
  res->tau_mean = wsum > 0 ? tsum / wsum : NAN;
  res->frac_near0 = wsum > 0 ? near0 / wsum : NAN;
  res->O_final = O;
  for (int j = 0; j < K; ++j) {
    /* Saturating: the limits keep a histogram far below INT32_MAX. */
    int32_t *h = &res->hist[grid_bin(pr->tau[j], a->bin_width, res->n_grid)];
    const long sum = (long)*h + ligand_count(pr->L[j]);
    *h = sum < INT32_MAX ? (int32_t)sum : INT32_MAX;
  }
  return KPS_ST_OK;
}

/* splitmix64: a small, well-mixed generator; reproducible from the seed. */
static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double uniform01(uint64_t *state) {
  return ((double)(splitmix64(state) >> 11) + 0.5) * 0x1.0p-53;
}

/* Standard normal by the Box-Muller transform (one value per call). */
static double normal01(uint64_t *state) {
  const double u1 = uniform01(state), u2 = uniform01(state);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * KPS_PI * u2);
}

/* One binding time drawn from component d. */
static double draw_tau(const kps_draw_component *d, uint64_t *state) {
  const double t = d->mean + d->sd * normal01(state);
  return d->half_normal ? fabs(t) : t;
}

int kps_attack_histogram(const kps_attack_config *a, double *tau, double *L) {
  if (a->n_bins > 0) {
    for (size_t j = 0; j < a->n_bins; ++j) tau[j] = a->bin_tau[j], L[j] = a->bin_L[j];
    return (int)a->n_bins;
  }
  if (a->n_draw == 0) return 0;
  const int n_grid = (int)kps_attack_grid_bins(a);
  double counts[KPS_MAX_BINS] = {0};
  uint64_t state = a->seed;
  for (size_t c = 0; c < a->n_draw; ++c) {
    const kps_draw_component *d = &a->draw[c];
    const long n = ligand_count(d->count);
    for (long i = 0; i < n; ++i) counts[grid_bin(draw_tau(d, &state), a->bin_width, n_grid)] += 1.0;
  }
  int K = 0;
  for (int k = 0; k < n_grid; ++k)
    if (counts[k] > 0) tau[K] = (k + 0.5) * a->bin_width, L[K] = counts[k], ++K;
  return K;
}

kps_err kps_attack_ligands(const kps_attack_config *a, int K, const double *tau, const double *L,
                           double **out, size_t *n) {
  kps_err rc = KPS_OK;
  size_t total = 0, cap = 0;
  double *t = NULL;
  *out = NULL, *n = 0;
  const size_t groups = a->n_bins > 0 ? a->n_bins : a->n_draw > 0 ? a->n_draw : (size_t)K;
  for (size_t c = 0; c < groups; ++c) {
    const double cnt = a->n_bins > 0 ? a->bin_L[c] : a->n_draw > 0 ? a->draw[c].count : L[c];
    if (!(cnt >= 0.0 && cnt <= KPS_MAX_LIGANDS))
      KPS_FAIL(KPS_ERR_LIMIT, "a ligand count of %g is outside [0, %.0f]", cnt, KPS_MAX_LIGANDS);
    cap += (size_t)ligand_count(cnt);
  }
  if ((double)cap > KPS_MAX_LIGANDS)
    KPS_FAIL(KPS_ERR_LIMIT, "%zu individual ligands, more than the limit of %.0f", cap,
             KPS_MAX_LIGANDS);
  t = malloc(sizeof(double) * (cap > 0 ? cap : 1));
  KPS_CHECK_ALLOC(t);
  uint64_t state = a->seed;
  for (size_t c = 0; c < groups; ++c) {
    if (a->n_bins == 0 && a->n_draw > 0) {
      /* The same stream as kps_attack_histogram, so both start alike. */
      const kps_draw_component *d = &a->draw[c];
      for (long i = 0, m = ligand_count(d->count); i < m; ++i) t[total++] = draw_tau(d, &state);
      continue;
    }
    const double tc = a->n_bins > 0 ? a->bin_tau[c] : tau[c];
    const long m = ligand_count(a->n_bins > 0 ? a->bin_L[c] : L[c]);
    for (long i = 0; i < m; ++i) t[total++] = tc;
  }
  *out = t, *n = total;
  t = NULL;
cleanup:
  free(t);
  return rc;
}
