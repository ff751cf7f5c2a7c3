/*
 * Critical-point and decision-boundary statistics (science.md section 6).
 * Line statistics use the computed line plus a few extra probe evaluations;
 * boundaries are found per point by bracketing and safeguarded Newton with
 * the exact dose sensitivity. Not collective.
 */
#ifndef KPSWEEP_STATS_H
#define KPSWEEP_STATS_H

#include <stdint.h>

#include "kpsweep/probe.h"

/* Regime labels. */
enum {
  KPS_REGIME_UNKNOWN = -1, /* a point of the line failed */
  KPS_REGIME_EDGE = 0,     /* minimum of FC at the lower end: the weakest ligands */
  KPS_REGIME_CRITICAL = 1, /* interior tau* */
  KPS_REGIME_BEYOND = 2,   /* FC still falls at the upper end: tau* lies beyond the axis */
  KPS_REGIME_FLAT = 3      /* tau2 changes nothing along the line (e.g. L2 = 0) */
};

typedef struct kps_line_stats {
  double tau_star;   /* interior zero of dO/dtau2 (minimum of FC); NaN when none */
  double O_star;     /* O at tau_star */
  double p_edge;     /* d log|dO/dtau2| / d log tau2 at the lower edge */
  double tau_infl;   /* interior extremum of dO/dtau2 below tau_star; NaN when none */
  int regime;        /* KPS_REGIME_* */
} kps_line_stats;

/*
 * Statistics of one line: tau2[0..n) strictly increasing, O and g = dO/dtau2
 * on it, status per point. The probe must hold the line's parameters with
 * K = 2 ligands (agonist first, antagonist second); its tau[1] is varied.
 * Returns a kps_status (non-ok when the line or a refinement failed; the
 * fields are NaN / unknown then).
 */
int kps_line_statistics(kps_probe *pr, const double *tau2, size_t n, const double *O,
                        const double *g, const int8_t *status, kps_line_stats *out);

/*
 * Smallest dose of ligand `which` (0 or 1 of the probe's two ligands) at
 * which the decision O > O_th changes from its value at dose 0 (L2*: the
 * antagonist dose that switches a response off; L1*: the agonist dose that
 * switches it on). 0 when the decision at dose 0 is already the target one,
 * +inf when no dose up to 1e15 reaches it. Returns a kps_status.
 */
int kps_dose_boundary(kps_probe *pr, int which, double O_th, int target_decision,
                      double *dose);

#endif
