/*
 * A wall-time estimate of a job from a short calibration: some of its
 * parameter points, spread over the whole plan, computed here with the
 * engine itself and timed (`kpsweep validate --calibrate`).
 */
#ifndef KPSWEEP_CALIBRATE_H
#define KPSWEEP_CALIBRATE_H

#include <stddef.h>

#include "kpsweep/config.h"
#include "kpsweep/error.h"

typedef struct kps_calibration {
  size_t points;       /* parameter points timed (each with all its L2 lines) */
  size_t n_points;     /* parameter points of the plan */
  double seconds;      /* time spent computing them */
  double mean_s;       /* mean compute time of one parameter point */
  double min_s, max_s; /* the fastest and slowest of them */
  double sd_s;         /* their standard deviation */
  double core_s;       /* estimated compute time of the whole plan on one core */
} kps_calibration;

/*
 * Computes parameter points of cfg in the order of the van der Corput
 * sequence over the plan (so that the points done at any moment are spread
 * evenly over it) until `budget_s` seconds are spent, every point is done,
 * or `max_points` points are done, and extrapolates to the whole plan.
 * The first point is timed twice and its first run discarded (the cold
 * caches of a new process). Not collective (rank 0 calls it alone).
 */
kps_err kps_calibrate(const kps_config *cfg, double budget_s, size_t max_points,
                      kps_calibration *out);

/*
 * The wall time of the plan on `ranks` MPI ranks (ranks - 1 workers; one
 * rank computes in-process), with the measured spread: a high estimate that
 * adds two standard errors of the mean per point. Not collective.
 */
double kps_calibration_wall(const kps_calibration *c, int ranks, int high);

/* Formats seconds as SLURM's --time value, [D-]HH:MM:SS, rounded up to a
 * whole minute. Not collective. */
void kps_slurm_time(double seconds, char *buf, size_t n);

#endif
