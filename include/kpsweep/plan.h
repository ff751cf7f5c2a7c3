/*
 * The master's plan of the lines not handed out yet: one block of lines
 * per writer, handed out front to back to that writer's workers, so that
 * each writer's rows are runs of consecutive lines (few file blocks a
 * write). A block that is used up takes the back half of the largest one
 * left. Lines already done (a resumed file's progress map) are skipped.
 */
#ifndef KPSWEEP_PLAN_H
#define KPSWEEP_PLAN_H

#include <stdint.h>

#include "kpsweep/error.h"

typedef struct kps_plan {
  const uint8_t *done; /* bit map of the lines done (not owned; may change between calls) */
  uint64_t *lo, *hi;   /* block k: lines [lo[k], hi[k]) not handed out yet */
  int blocks;
  uint64_t left;       /* lines in the blocks (some may be done and not yet skipped) */
} kps_plan;

/*
 * Splits lines [0, n_lines) into n >= 1 consecutive blocks sized by
 * weights[0..n) (each >= 0; all 0: the last block takes every line).
 * done is read at every kps_plan_next. Not collective.
 */
kps_err kps_plan_init(kps_plan *p, uint64_t n_lines, const uint8_t *done, const int *weights,
                      int n);

/*
 * The next range for block k (0 <= k < blocks): up to want >= 1 consecutive
 * lines not done, from the front of block k, which first takes the back
 * half of the largest other block when it holds no line. Returns 0 when no
 * line is left anywhere. Not collective.
 */
int kps_plan_next(kps_plan *p, int k, uint64_t want, uint64_t *first, uint64_t *count);

/* Frees the blocks (the done map is the caller's); accepts a zeroed plan. */
void kps_plan_free(kps_plan *p);

#endif
