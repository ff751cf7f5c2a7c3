/*
 * Critical-point and decision-boundary statistics (science.md section 6).
 * Line statistics use the computed line plus a few extra probe evaluations;
 * boundaries are found per point by the path search of kpsweep/search.h
 * along the dose, with the exact dose sensitivity. Not collective.
 */
#ifndef KPSWEEP_STATS_H
#define KPSWEEP_STATS_H

#include <stdint.h>

#include "kpsweep/probe.h"
#include "kpsweep/search.h"

/* The descent flow's critical point (docs/science.md, "Regimes"). */
enum {
  KPS_REGIME_UNKNOWN = -1, /* a point of the line failed, or grid and gradient disagree */
  KPS_REGIME_NONE = 0,     /* min FC >= 1 - fc_tol: no meaningful antagonism */
  KPS_REGIME_EDGE = 1,     /* strongest antagonist at the lower end: the weakest ligands */
  KPS_REGIME_CRITICAL = 2, /* interior tau*, FC dip deeper than fc_tol below the lower end */
  KPS_REGIME_BEYOND = 3    /* FC lowest at the upper end: tau* lies above the axis */
};

/* The shape at the weak-ligand edge. */
enum {
  KPS_EDGE_UNKNOWN = -1,
  KPS_EDGE_STEEP = 0, /* the weakest ligands still feel a gradient (or no tau*) */
  KPS_EDGE_FLAT = 1   /* critical, and dO/dtau2 has an extremum below tau*: it fades at the edge */
};

typedef struct kps_line_stats {
  double tau_star;   /* interior zero of dO/dtau2 (critical lines only); NaN otherwise */
  double O_star;     /* O at tau_star */
  double FC_min;     /* smallest FC on the grid and at tau_star */
  double p_edge;     /* d log|dO/dtau2| / d log tau2 at the lower edge */
  double tau_infl;   /* interior extremum of dO/dtau2 below tau_star; NaN when none */
  int regime;        /* KPS_REGIME_* */
  int edge_class;    /* KPS_EDGE_* */
} kps_line_stats;

/*
 * Statistics of one line: tau2[0..n) strictly increasing, O and g = dO/dtau2
 * on it, status per point, O_ag the agonist's output alone (FC = O / O_ag)
 * and fc_tol the significance of an FC dip. The probe must hold the line's
 * parameters and ligand types (agonist first, antagonist second, then any
 * background types); its tau[1] is varied. Returns a kps_status (non-ok when the line or a
 * refinement failed; the fields are NaN / unknown then).
 */
int kps_line_statistics(kps_probe *pr, const double *tau2, size_t n, const double *O,
                        const double *g, const int8_t *status, double O_ag, double fc_tol,
                        kps_line_stats *out);

/*
 * The dose coordinate of the boundary searches: x = log(1 + L / L_s), with
 * L_s = 1e-3 times the total count of the given ligands (1 molecule when
 * that is 0): linear in the dose below L_s, logarithmic above. Returns L_s.
 */
double kps_dose_scale(const double *L, int K);

/* Samples a dose search may leave in its set: the buffer it needs. */
#define KPS_DOSE_SAMPLES 256

/* What the caller knows before a dose search. */
typedef struct kps_dose_known {
  double O, dO_dL; /* output and dO/dL of the searched ligand at the probe's
                      current dose (NaN: unknown) */
  double hint;     /* a dose where the boundary is expected, e.g. the previous
                      point's on the line (NaN: none) */
} kps_dose_known;

/*
 * Smallest dose of ligand `which` of the probe's ligands at which the
 * decision O > O_th is target_decision (L2*: the antagonist dose that
 * switches a response off; L1*: the agonist dose that switches it on),
 * searched on both sides of the current dose along the whole path
 * [0, 1e15] in the coordinate of kps_dose_scale (docs/statistics.md states
 * the guarantee). 0 when the decision at dose 0 is already the target one,
 * +inf when no dose up to 1e15 reaches it (at the search's resolution), NaN
 * when the search could not be completed. known may be NULL. set receives
 * the samples of the path (x, O - O_th, df/dx; its buffer is the caller's)
 * for reuse by an FGSM attack along the same dose. Warm starts: from the
 * probe's pool (keyed by x) when it has one, else from the last
 * evaluation. Returns a kps_status.
 */
int kps_dose_boundary(kps_probe *pr, int which, double O_th, int target_decision,
                      const kps_dose_known *known, kps_samples *set, double *dose);

#endif
