/*
 * The plan of the lines not handed out yet (kpsweep/plan.h). Handed out in
 * turn to every worker, consecutive ranges went to different writers and
 * each range filled a file block of its own: one write call per field.
 */
#include "kpsweep/plan.h"

#include <stdlib.h>

#include "check.h"

static int is_done(const kps_plan *p, uint64_t l) {
  return p->done && ((p->done[l / 8] >> (l % 8)) & 1u);
}

kps_err kps_plan_init(kps_plan *p, uint64_t n_lines, const uint8_t *done, const int *weights,
                      int n) {
  kps_err rc = KPS_OK;
  *p = (kps_plan){.done = done};
  if (n < 1) KPS_FAIL(KPS_ERR_INTERNAL, "a plan of %d blocks", n);
  p->lo = calloc((size_t)n, sizeof *p->lo);
  p->hi = calloc((size_t)n, sizeof *p->hi);
  KPS_CHECK_ALLOC(p->lo);
  KPS_CHECK_ALLOC(p->hi);
  double total = 0.0, acc = 0.0;
  for (int k = 0; k < n; ++k) total += weights[k] > 0 ? weights[k] : 0;
  for (int k = 0; k < n; ++k) {
    p->lo[k] = k ? p->hi[k - 1] : 0;
    acc += weights[k] > 0 ? weights[k] : 0;
    if (k == n - 1) p->hi[k] = n_lines;
    else if (total == 0.0) p->hi[k] = 0;
    else p->hi[k] = (uint64_t)((double)n_lines * (acc / total));
    if (p->hi[k] < p->lo[k]) p->hi[k] = p->lo[k];
    if (p->hi[k] > n_lines) p->hi[k] = n_lines;
  }
  p->blocks = n;
  p->left = n_lines;
cleanup:
  if (rc != KPS_OK) kps_plan_free(p);
  return rc;
}

int kps_plan_next(kps_plan *p, int k, uint64_t want, uint64_t *first, uint64_t *count) {
  for (;;) {
    while (p->lo[k] < p->hi[k] && is_done(p, p->lo[k])) ++p->lo[k], --p->left;
    if (p->lo[k] < p->hi[k]) break;
    int j = -1;
    for (int b = 0; b < p->blocks; ++b)
      if (p->hi[b] > p->lo[b] && (j < 0 || p->hi[b] - p->lo[b] > p->hi[j] - p->lo[j])) j = b;
    if (j < 0) return 0;
    const uint64_t mid = p->lo[j] + (p->hi[j] - p->lo[j]) / 2;
    p->lo[k] = mid;
    p->hi[k] = p->hi[j];
    p->hi[j] = mid;
  }
  uint64_t n = 0;
  *first = p->lo[k];
  while (n < want && p->lo[k] < p->hi[k] && !is_done(p, p->lo[k])) ++n, ++p->lo[k];
  p->left -= n;
  *count = n;
  return 1;
}

void kps_plan_free(kps_plan *p) {
  free(p->lo);
  free(p->hi);
  p->lo = p->hi = NULL;
  p->blocks = 0;
}
