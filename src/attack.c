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
 *   EPS_XTOL     relative width of the refined flipping eps (in the ray's
 *                search coordinate), with a floor of EPS_XTOL times the gap
 *   FGSM_EVALS   evaluations one FGSM search may make
 *   EPS_SEED_MIN dose samples closer than this share of E to the start are
 *                the start itself (rounding of the dose coordinate)
 *   PGD_HISTORY  inputs of the last PGD steps compared with each new one
 */
#define EPS_XTOL 1e-12
#define FGSM_EVALS 600
#define EPS_SEED_MIN 1e-9
#define PGD_HISTORY 8
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

/*
 * One FGSM ray: eps -> inputs, searched in the coordinate x (z = log(1 +
 * eps / E) in counts, eps itself in binding times).
 */
typedef struct fgsm_ctx {
  kps_probe *pr;
  int space;
  double O_th, E;
  double tau0[KPS_MAX_BINS], L0[KPS_MAX_BINS];
  double lo[KPS_MAX_BINS], hi[KPS_MAX_BINS]; /* the clip box of each binding time */
  int dir[KPS_MAX_BINS];                     /* s * sign of the gradient at the start, 0: fixed */
  int dose_ligand;    /* >= 0: the ray is this ligand's dose; pool keys in its */
  double dose_scale;  /*   dose coordinate log(1 + L / dose_scale) */
} fgsm_ctx;

static double fgsm_eps(const fgsm_ctx *c, double x) { return c->space == 0 ? c->E * expm1(x) : x; }

/* Sets the probe's inputs at eps; returns d(eps)/d(eps) of each moving input (0: clipped). */
static void fgsm_inputs(const fgsm_ctx *c, double eps, double *moves) {
  kps_probe *pr = c->pr;
  for (int j = 0; j < pr->K; ++j) {
    pr->tau[j] = c->tau0[j], pr->L[j] = c->L0[j];
    moves[j] = 0.0;
    if (c->dir[j] == 0) continue;
    if (c->space == 0) {
      const double v = c->L0[j] + eps * c->dir[j];
      pr->L[j] = fmax(0.0, v);
      moves[j] = v > 0.0 || c->dir[j] > 0 ? c->dir[j] : 0.0;
    } else {
      /* The box is [tau_min, tau_c], widened to hold the starting value, so
       * a ligand outside it (an agonist with movable: all) moves by eps
       * rather than jumping onto the box at any eps > 0. */
      const double t = c->tau0[j] + eps * c->dir[j];
      pr->tau[j] = fmin(fmax(t, c->lo[j]), c->hi[j]);
      moves[j] = t > c->lo[j] && t < c->hi[j] ? c->dir[j] : 0.0;
    }
  }
}

/* f = O - O_th and df/dx along the ray. */
static int fgsm_path(void *ctx, double x, kps_sample *out) {
  fgsm_ctx *c = ctx;
  kps_probe *pr = c->pr;
  const int K = pr->K;
  const double eps = fgsm_eps(c, x);
  double moves[KPS_MAX_BINS], O, g[2 * KPS_MAX_BINS];
  fgsm_inputs(c, eps, moves);
  pr->key = c->dose_ligand >= 0 ? log1p(pr->L[c->dose_ligand] / c->dose_scale) : x;
  const int st = kps_probe_eval(pr, &O, g);
  double d = 0.0;
  for (int j = 0; j < K; ++j) d += moves[j] * (c->space == 0 ? g[K + j] : g[j]);
  out->f = O - c->O_th;
  out->df = c->space == 0 ? d * (c->E + eps) : d;
  return st;
}

/* Inserts the dose search's samples that lie on the ray (its dose ligand alone moves). */
static void seed_from_dose(const fgsm_ctx *c, const kps_fgsm_known *k, double eps_end,
                           kps_samples *set) {
  const int j = k->dose_ligand;
  for (int i = 0; i < k->dose->n; ++i) {
    const kps_sample v = k->dose->s[i];
    const double L = k->dose_scale * expm1(v.x), eps = c->dir[j] * (L - c->L0[j]);
    if (!(eps > EPS_SEED_MIN * c->E && eps <= eps_end)) continue;
    const double dO_dL = v.df / (k->dose_scale + L);
    kps_samples_insert(set, (kps_sample){log1p(eps / c->E), v.f, dO_dL * c->dir[j] * (c->E + eps)});
  }
}

static void restore(kps_probe *pr, const double *tau0, const double *L0) {
  memcpy(pr->tau, tau0, sizeof(double) * (size_t)pr->K);
  memcpy(pr->L, L0, sizeof(double) * (size_t)pr->K);
  pr->warm = 0;
}

int kps_attack_fgsm(kps_probe *pr, const kps_attack_config *a, double tau_c, double O_th,
                    const uint8_t *movable, int space, const kps_fgsm_known *known,
                    kps_fgsm_result *res) {
  static const kps_fgsm_known none = {NAN, NULL, NULL, -1, 1.0};
  const kps_fgsm_known *k = known ? known : &none;
  fgsm_ctx c = {.pr = pr, .space = space, .O_th = O_th, .dose_ligand = -1};
  kps_warm_pool *pool = pr->pool;
  const int reuse = pr->reuse_lu, K = pr->K, s = a->direction;
  kps_sample buf[FGSM_EVALS + 2 + KPS_DOSE_SAMPLES];
  memset(res, 0, sizeof *res);
  res->eps_star = NAN, res->O_new = NAN, res->decision = -1;
  memcpy(c.tau0, pr->tau, sizeof(double) * (size_t)K);
  memcpy(c.L0, pr->L, sizeof(double) * (size_t)K);
  double O = k->O0, g_own[2 * KPS_MAX_BINS];
  const double *g = k->g0;
  int st = KPS_ST_OK;
  if (!g) {
    pr->pool = NULL;
    st = kps_probe_eval(pr, &O, g_own);
    if (!kps_status_is_ok(st)) goto done;
    g = g_own;
  }
  const int d0 = O > O_th;
  res->applicable = applies(s, d0);
  if (!res->applicable) goto done;
  /* The ray: who moves, how far it can go before every mover is clipped. */
  const double eps_max = space == 0 ? a->fgsm_eps_L_max : a->fgsm_eps_tau_max;
  double extent = 0.0, moving = 0.0, df0 = 0.0;
  int n_move = 0, only = -1;
  for (int j = 0; j < K; ++j) {
    c.lo[j] = fmin(a->tau_min, c.tau0[j]), c.hi[j] = fmax(tau_c, c.tau0[j]);
    c.dir[j] = movable[j] ? s * sgn(space == 0 ? g[K + j] : g[j]) : 0;
    if (c.dir[j] == 0) continue;
    const double room = space == 0 ? (c.dir[j] > 0 ? INFINITY : c.L0[j])
                                   : (c.dir[j] > 0 ? c.hi[j] - c.tau0[j] : c.tau0[j] - c.lo[j]);
    if (!(room > 0.0)) {
      c.dir[j] = 0; /* already at its bound: never moves */
      continue;
    }
    extent = fmax(extent, room);
    moving += c.L0[j];
    df0 += c.dir[j] * (space == 0 ? g[K + j] : g[j]);
    ++n_move;
    only = j;
  }
  const double eps_end = fmin(eps_max, extent);
  if (n_move == 0 || !(eps_end > 0.0)) {
    /* Nothing moves: the input, and so the decision, stays. */
    res->eps_star = INFINITY, res->O_new = O, res->decision = d0;
    goto done;
  }
  c.E = moving + kps_dose_scale(c.L0, K);
  const double x_full = space == 0 ? log1p(eps_max / c.E) : eps_max;
  const double x_end = space == 0 ? log1p(eps_end / c.E) : eps_end;
  const double h = x_full / (space == 0 ? KPS_FGSM_COUNT_GAPS : KPS_FGSM_TAU_GAPS);
  const int shared = space == 0 && k->dose && n_move == 1 && only == k->dose_ligand;
  /* The pool's keys are positions on the dose path: of use on that path only. */
  pr->pool = shared ? pool : NULL;
  if (shared) c.dose_ligand = only, c.dose_scale = k->dose_scale;
  kps_samples set = {buf, 0, (int)(sizeof buf / sizeof *buf)};
  kps_samples_insert(&set, (kps_sample){0.0, O - O_th, df0 * (space == 0 ? c.E : 1.0)});
  if (shared) seed_from_dose(&c, k, eps_end, &set);
  const kps_search_opts o = {.a = 0.0, .b = x_end, .h = h, .tol_abs = EPS_XTOL * h,
                             .tol_rel = EPS_XTOL, .hint = NAN, .max_evals = FGSM_EVALS};
  kps_search_result r;
  pr->reuse_lu = 1;
  st = kps_search_first(fgsm_path, &c, &o, &set, &r);
  if (!kps_status_is_ok(st)) goto done;
  if (r.found == 1) {
    /* hi is the first sample past the crossing: its decision has flipped. */
    res->eps_star = fgsm_eps(&c, r.hi);
    res->O_new = r.f_hi + O_th;
    res->decision = r.f_hi > 0;
  } else if (r.found == 0) {
    res->eps_star = INFINITY;
    res->O_new = r.f_lo + O_th;
    res->decision = r.f_lo > 0;
  }
done:
  pr->pool = pool;
  pr->reuse_lu = reuse;
  restore(pr, c.tau0, c.L0);
  return st;
}

int kps_attack_pgd(kps_probe *pr, const kps_attack_config *a, double tau_c, double O_th,
                   const uint8_t *movable, const double *known_O, const double *known_g,
                   kps_pgd_result *res) {
  double tau0[KPS_MAX_BINS], L0[KPS_MAX_BINS], g[2 * KPS_MAX_BINS], O;
  /* The inputs and outputs of the last PGD_HISTORY steps, step k in slot k % PGD_HISTORY. */
  double hist_tau[PGD_HISTORY][KPS_MAX_BINS], hist_O[PGD_HISTORY];
  const int K = pr->K, s = a->direction;
  kps_warm_pool *pool = pr->pool;
  memset(res, 0, sizeof *res);
  res->O_final = NAN;
  memcpy(tau0, pr->tau, sizeof(double) * (size_t)K);
  memcpy(L0, pr->L, sizeof(double) * (size_t)K);
  pr->pool = NULL; /* the walk warm-starts from its previous step */
  int st = KPS_ST_OK;
  if (known_O && known_g) {
    O = *known_O;
    memcpy(g, known_g, sizeof(double) * 2 * (size_t)K);
  } else {
    st = kps_probe_eval(pr, &O, g);
    if (!kps_status_is_ok(st)) goto done;
  }
  const int d0 = O > O_th;
  res->applicable = applies(s, d0);
  if (!res->applicable) goto done;
  memcpy(hist_tau[0], pr->tau, sizeof(double) * (size_t)K);
  hist_O[0] = O;
  for (int step = 1; step <= a->pgd_steps; ++step) {
    for (int j = 0; j < K; ++j) {
      if (!movable[j]) continue;
      double t = pr->tau[j] + s * a->pgd_step * sgn(g[j]);
      t = fmin(fmax(t, tau0[j] - a->pgd_eps), tau0[j] + a->pgd_eps);
      pr->tau[j] = fmin(fmax(t, fmin(a->tau_min, tau0[j])), fmax(tau_c, tau0[j]));
    }
    /* Back at the input of step k: the walk repeats steps k.. step-1 for ever,
     * none of which flipped; step pgd_steps lands on one of them. */
    for (int k = step - 1; k >= 0 && k >= step - PGD_HISTORY; --k) {
      if (memcmp(hist_tau[k % PGD_HISTORY], pr->tau, sizeof(double) * (size_t)K) != 0) continue;
      const int period = step - k;
      res->steps = a->pgd_steps;
      res->flipped = 0;
      O = hist_O[(k + (a->pgd_steps - step) % period) % PGD_HISTORY];
      goto finish;
    }
    st = eval_step(pr, O_th, d0, step, &O, g, &res->steps, &res->flipped);
    if (!kps_status_is_ok(st)) goto done;
    if (res->flipped) break;
    memcpy(hist_tau[step % PGD_HISTORY], pr->tau, sizeof(double) * (size_t)K);
    hist_O[step % PGD_HISTORY] = O;
  }
finish:
  res->O_final = O;
done:
  pr->pool = pool;
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

kps_err kps_attack_start_grid(const kps_attack_config *a, double *L0) {
  kps_err rc = KPS_OK;
  double *t = NULL, tau[KPS_MAX_BINS], L[KPS_MAX_BINS];
  size_t n = 0;
  const int n_grid = (int)kps_attack_grid_bins(a);
  const double w = a->bin_width;
  for (int k = 0; k < n_grid; ++k) L0[k] = 0.0;
  if (a->descent_method == KPS_DESCENT_PUBLISHED) {
    KPS_CHECK(kps_attack_ligands(a, 0, NULL, NULL, &t, &n));
    for (size_t i = 0; i < n; ++i) L0[grid_bin(t[i], w, n_grid)] += 1.0;
  } else {
    const int K = kps_attack_histogram(a, tau, L);
    for (int j = 0; j < K; ++j) L0[grid_bin(tau[j], w, n_grid)] += L[j];
  }
cleanup:
  free(t);
  return rc;
}

void kps_attack_normals(uint64_t seed, int n, double *z) {
  uint64_t state = seed;
  for (int i = 0; i < n; ++i) z[i] = normal01(&state);
}
