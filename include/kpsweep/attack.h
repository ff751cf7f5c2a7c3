/*
 * Gradient attacks on the ligand input (science.md section 5): the cell is
 * the classifier, the adversary moves ligands. Direction s = -1 switches a
 * response off (antagonism), +1 switches one on. Which ligands may move is
 * a mask (default: those below threshold, tau < tau_c). Not collective.
 */
#ifndef KPSWEEP_ATTACK_H
#define KPSWEEP_ATTACK_H

#include <stdint.h>

#include "kpsweep/config.h"
#include "kpsweep/error.h"
#include "kpsweep/probe.h"
#include "kpsweep/search.h"

/* Outcome of an FGSM attack. */
typedef struct kps_fgsm_result {
  int applicable;  /* the starting decision is the one the attack removes */
  double eps_star; /* smallest eps that flips; +inf when eps_max does not,
                      NaN when the search could not be completed */
  double O_new;    /* output at eps_star (or at the end of the ray when none flips) */
  int decision;    /* decision there */
} kps_fgsm_result;

/*
 * The gaps of the FGSM searches (docs/statistics.md): in counts the ray is
 * searched in z = log(1 + eps / E) (E: the moving ligands' count at the
 * start plus the scale of kps_dose_scale) with gaps of at most
 * log(1 + eps_max / E) / KPS_FGSM_COUNT_GAPS; in binding times in eps
 * itself, with gaps of at most eps_max / KPS_FGSM_TAU_GAPS.
 */
#define KPS_FGSM_COUNT_GAPS 16
#define KPS_FGSM_TAU_GAPS 128

/* What the caller knows before an FGSM attack; any part may be absent. */
typedef struct kps_fgsm_known {
  double O0;        /* output at the start, with */
  const double *g0; /* its gradients dO/dtau (K) then dO/dL (K); NULL: evaluated */
  /* Samples of a dose search (kps_dose_boundary) of ligand dose_ligand from
   * the same start, in its coordinate x = log(1 + L / dose_scale); used when
   * the ray in counts moves that ligand alone, together with the probe's
   * pool (keyed by x). NULL: none, and the pool is not used. */
  const kps_samples *dose;
  int dose_ligand;
  double dose_scale;
} kps_fgsm_known;

/*
 * FGSM in count space (space 0: L_j <- max(0, L_j + s eps sign dO/dL_j)) or
 * binding-time space (space 1: tau_j <- clip(tau_j + s eps sign dO/dtau_j,
 * tau_min, tau_c)) on the probe's current input, for eps in [0, eps_max]:
 * the smallest flipping eps by the path search of kpsweep/search.h along
 * the ray, which does not assume the response is monotone in eps. known
 * may be NULL. The probe's inputs are restored. Returns a kps_status.
 */
int kps_attack_fgsm(kps_probe *pr, const kps_attack_config *a, double tau_c, double O_th,
                    const uint8_t *movable, int space, const kps_fgsm_known *known,
                    kps_fgsm_result *res);

/* Outcome of PGD. */
typedef struct kps_pgd_result {
  int applicable, flipped, steps; /* steps: to the flip, or all when none */
  double O_final;
} kps_pgd_result;

/*
 * PGD on binding times with an L-infinity budget: pgd_steps projected sign
 * steps of size pgd_step, stopping at the flip. A step that returns to an
 * input visited before (a fixed point of the projection, or a cycle about
 * a zero of the gradient) repeats that stretch of the walk for ever, so the
 * remaining steps are not evaluated: the result is the one of the
 * step-by-step walk. known_O / known_g: the start's output and gradients
 * (NULL: evaluated). Inputs restored afterwards. Returns a kps_status.
 */
int kps_attack_pgd(kps_probe *pr, const kps_attack_config *a, double tau_c, double O_th,
                   const uint8_t *movable, const double *known_O, const double *known_g,
                   kps_pgd_result *res);

/* Outcome of the iterative descent on a histogram. */
typedef struct kps_descent_result {
  int applicable, flipped, steps; /* steps: to the flip, or descent_max_steps */
  double O0, O_final;  /* output of the starting and of the final histogram */
  double tau_mean;     /* mean tau of the ligands movable at the start, at the end */
  double frac_near0;   /* share of those in the first bin [0, bin_width) at the end */
  int n_grid;          /* bins of the grid (kps_attack_grid_bins) */
  int32_t hist[KPS_MAX_BINS]; /* final ligands per grid bin */
} kps_descent_result;

/*
 * The published descent (docs/science.md): individual ligands with binding
 * times tau[0..n) (moved in place: on return tau holds each ligand's final
 * binding time, the one the final histogram counts), binned on the grid of width bin_width
 * over [0, tau_max); the output and dO/dtau_j are evaluated on the nonempty
 * bins at their centres. Each step moves every ligand of a movable bin j
 * (upper edge <= tau_c, or any bin with movable: all) by s eta dO/dtau_j,
 * resets a ligand below 0 to the first bin's centre and re-bins; stops at
 * the flip or after descent_max_steps. The probe's state buffer must hold
 * n_state for kps_attack_grid_bins(a) ligand types. Returns a kps_status.
 */
int kps_attack_descent_published(kps_probe *pr, const kps_attack_config *a, double tau_c,
                                 double O_th, double *tau, size_t n, kps_descent_result *res);

/*
 * The normalized descent: the probe's bins themselves move,
 * tau_j <- tau_j + s eta q_j / max|q| with q_j = dO/dtau_j / L_j, for every
 * movable bin; bins pushed below 0 are reset to the first bin's centre; no
 * re-binning. Stops at the flip or after descent_max_steps; the final bins
 * are counted into res->hist. Leaves the final histogram in the probe.
 */
int kps_attack_descent(kps_probe *pr, const kps_attack_config *a, double tau_c, double O_th,
                       const uint8_t *movable, kps_descent_result *res);

/*
 * The published descent's individual ligands: the configured bins (entry j
 * gives round(L_j) ligands at tau_j), else the draw components sampled
 * with the seed, else the K given groups (round(L_i) ligands at tau[i]).
 * *out is malloc'ed (caller frees); *n may be 0. Deterministic.
 */
kps_err kps_attack_ligands(const kps_attack_config *a, int K, const double *tau, const double *L,
                           double **out, size_t *n);

/*
 * The descent's starting histogram: the configured bins, or the draw
 * components sampled with the seed and binned (width bin_width on
 * [0, tau_max]); empty bins are dropped. Returns the number of bins K
 * (0 when none is configured). Deterministic for a given config.
 */
int kps_attack_histogram(const kps_attack_config *a, double *tau, double *L);

/*
 * The descent's starting histogram on the grid of kps_attack_grid_bins(a)
 * bins (width bin_width; a binding time at or beyond tau_max counts in the
 * last bin): L0[k] ligands in bin k. The published method counts its
 * individual ligands (kps_attack_ligands), as its first evaluation does;
 * the normalized one sums the counts of kps_attack_histogram's bins. All
 * zero when no histogram is configured. Deterministic. Not collective.
 */
kps_err kps_attack_start_grid(const kps_attack_config *a, double *L0);

/*
 * n standard normal values from the project's generator (splitmix64 and
 * Box-Muller, the stream of the drawn histograms) started at seed.
 * Deterministic. Not collective.
 */
void kps_attack_normals(uint64_t seed, int n, double *z);

/* Movable mask for K ligands: tau_j < tau_c, or every ligand. */
void kps_attack_movable(const kps_attack_config *a, double tau_c, int K, const double *tau,
                        uint8_t *movable);

#endif
