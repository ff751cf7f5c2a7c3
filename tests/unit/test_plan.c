/*
 * Unit tests of the master's plan of lines (kpsweep/plan.h): over random
 * done maps, block weights (zeros included), range sizes and orders of
 * requests, every line not done is handed out exactly once and no done
 * line ever; each range is consecutive lines not done; and with no line
 * done, the ranges a block hands out follow each other until the block
 * runs out (then it takes the back half of the largest one): a writer's
 * rows are a few runs, not one per range.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kpsweep/plan.h"
#include "tests/tap.h"

/* A small LCG: the same cases on every machine. */
static uint64_t rnd(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return *s >> 33;
}

static int done_bit(const uint8_t *m, uint64_t l) { return (m[l / 8] >> (l % 8)) & 1u; }

/* Hands out every line in requests from random blocks; 1 when all checks
 * held, else 0 with the reason in why. */
static int drain(uint64_t n, const uint8_t *done, const int *w, int blocks, uint64_t want_max,
                 uint64_t *seed, char *why, size_t why_n) {
  kps_plan p;
  uint8_t *seen = calloc(n + 1, 1);
  int ok = seen && kps_plan_init(&p, n, done, w, blocks) == KPS_OK;
  uint64_t first, count, calls = 0;
  for (;;) {
    if (!ok) break;
    const int k = (int)(rnd(seed) % (uint64_t)blocks);
    const uint64_t want = 1 + rnd(seed) % want_max;
    if (!kps_plan_next(&p, k, want, &first, &count)) break;
    if (++calls > 4 * n + 16) {
      snprintf(why, why_n, "more requests than lines");
      ok = 0;
      break;
    }
    if (count < 1 || count > want || first + count > n) {
      snprintf(why, why_n, "range [%llu, +%llu) for want %llu", (unsigned long long)first,
               (unsigned long long)count, (unsigned long long)want);
      ok = 0;
      break;
    }
    for (uint64_t l = first; l < first + count && ok; ++l) {
      if (done_bit(done, l)) {
        snprintf(why, why_n, "done line %llu handed out", (unsigned long long)l);
        ok = 0;
      } else if (seen[l]) {
        snprintf(why, why_n, "line %llu handed out twice", (unsigned long long)l);
        ok = 0;
      }
      seen[l] = 1;
    }
  }
  for (uint64_t l = 0; ok && l < n; ++l)
    if (!done_bit(done, l) && !seen[l]) {
      snprintf(why, why_n, "line %llu never handed out", (unsigned long long)l);
      ok = 0;
    }
  if (ok && kps_plan_next(&p, 0, 1, &first, &count)) {
    snprintf(why, why_n, "a range after the end");
    ok = 0;
  }
  if (seen) kps_plan_free(&p);
  free(seen);
  return ok;
}

int main(void) {
  uint64_t seed = 12345;
  char why[160] = "";
  int all = 1, cases = 0;
  for (int t = 0; t < 300 && all; ++t) {
    const uint64_t n = 1 + rnd(&seed) % 2000;
    const int blocks = 1 + (int)(rnd(&seed) % 9);
    int w[9];
    for (int k = 0; k < blocks; ++k) w[k] = (int)(rnd(&seed) % 4); /* zeros too */
    uint8_t *done = calloc(n / 8 + 1, 1);
    const unsigned share = (unsigned)(rnd(&seed) % 4); /* none, 1/8, 1/4, 1/2 done */
    const uint64_t eighths = share == 1 ? 1 : share == 2 ? 2 : 4;
    for (uint64_t l = 0; l < n && share; ++l)
      if (rnd(&seed) % 8 < eighths) done[l / 8] |= (uint8_t)(1u << (l % 8));
    all = drain(n, done, w, blocks, 1 + rnd(&seed) % 50, &seed, why, sizeof why);
    if (!all)
      tap_ok(0, "case %d (%llu lines, %d blocks, done share %u): %s", t, (unsigned long long)n,
             blocks, share, why);
    free(done);
    ++cases;
  }
  tap_ok(all, "%d random plans: every line not done handed out once, no done line, ranges of "
         "consecutive lines within the size asked", cases);

  /* No line done, 4 equal blocks requested in turn: a block's ranges
   * follow each other except where it runs out and takes another's back
   * half (a handful of times, not once per range). */
  uint8_t none[10000 / 8 + 1];
  memset(none, 0, sizeof none);
  const int w4[4] = {3, 3, 3, 3};
  kps_plan p;
  tap_ok(kps_plan_init(&p, 10000, none, w4, 4) == KPS_OK, "a plan of 10000 lines in 4 blocks");
  tap_ok(p.lo[1] == 2500 && p.hi[1] == 5000 && p.hi[3] == 10000, "blocks of 2500 lines "
         "([%llu, %llu) second)", (unsigned long long)p.lo[1], (unsigned long long)p.hi[1]);
  uint64_t next[4] = {0, 2500, 5000, 7500}, first, count, ranges = 0;
  int jumps4 = 0;
  for (int r = 0;; ++r) {
    const int k = r % 4 == 3 ? 0 : r % 4; /* block 3 asks least: others steal from it */
    if (!kps_plan_next(&p, k, 7, &first, &count)) break;
    jumps4 += first != next[k];
    next[k] = first + count;
    ++ranges;
  }
  /* Each jump is a split: at most one per halving of a block, 4 x log2(10000). */
  tap_ok(jumps4 <= 56 && ranges >= 10000 / 7, "%llu ranges, %d jumps of a block (at most 56)",
         (unsigned long long)ranges, jumps4);
  kps_plan_free(&p);

  const int zero[3] = {0, 0, 0};
  tap_ok(kps_plan_init(&p, 50, none, zero, 3) == KPS_OK && p.hi[0] == 0 && p.hi[1] == 0 &&
             p.lo[2] == 0 && p.hi[2] == 50,
         "all weights 0: the last block holds every line");
  const int got = kps_plan_next(&p, 0, 100, &first, &count);
  tap_ok(got && first == 25 && count == 25,
         "an empty block takes the back half of the largest ([%llu, +%llu))",
         (unsigned long long)first, (unsigned long long)count);
  kps_plan_free(&p);
  tap_ok(kps_plan_init(&p, 0, none, w4, 4) == KPS_OK && !kps_plan_next(&p, 2, 5, &first, &count),
         "no lines: nothing handed out");
  kps_plan_free(&p);
  return tap_done();
}
