/*
 * One task of a sweep: a whole line along the antagonist-affinity axis tau2
 * at fixed model parameters and antagonist dose L2. The line is always
 * solved in axis order from a cold start, with each point warm-started from
 * the previous one, so its numbers do not depend on which rank computes it
 * or which other lines share its chunk.
 */
#ifndef KPSWEEP_LINE_H
#define KPSWEEP_LINE_H

#include <stdint.h>

#include "kpsweep/config.h"
#include "kpsweep/results.h"

typedef struct kps_line_worker kps_line_worker;

/* Creates the per-rank state for computing lines of cfg. Not collective. */
kps_err kps_line_worker_create(const kps_config *cfg, kps_line_worker **out);

/* Frees it and sets *w to NULL; accepts NULL. */
void kps_line_worker_destroy(kps_line_worker **w);

/*
 * Computes line `line` and appends it to batch b. Solver failures are stored
 * as status codes; only out-of-memory returns an error. Not collective.
 */
kps_err kps_line_compute(kps_line_worker *w, uint64_t line, kps_batch *b);

#endif
