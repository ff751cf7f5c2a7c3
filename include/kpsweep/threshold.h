/*
 * The decision threshold O_th (science.md section 3): an explicit value, or
 * the output of a single ligand type at tau = tau_c and L = L_ref (default
 * 10 R). Computed once per model-parameter point and cached by the caller.
 */
#ifndef KPSWEEP_THRESHOLD_H
#define KPSWEEP_THRESHOLD_H

#include "kpsweep/config.h"
#include "kpsweep/solver.h"

/*
 * Computes O_th for model parameters p. Returns a kps_status; *O_th is NaN
 * unless the status is ok. Not collective.
 */
int kps_threshold(kps_solver *s, const kps_model *m, const double *p,
                  int explicit_value, double value, double tau_c, double L_ref,
                  double *O_th);

/* The L_ref actually used: L_ref when finite, else the model's default. */
double kps_threshold_L_ref(const kps_model *m, const double *p, double L_ref);

#endif
