/*
 * The first threshold crossing along a one-dimensional path (docs/statistics.md,
 * "Searches along a path"): L2* and L1* along a dose, FGSM eps* along its ray.
 *
 * A path is x in [a, b] with f(x) = O(x) - O_th and its exact derivative
 * df/dx, both from one steady-state solve (the IFT gradient). The decision
 * at x is f(x) > 0. The search finds the smallest x whose decision differs
 * from the decision at a, without assuming that f is monotone:
 *
 *  1. Gaps: every interval between consecutive samples left of the crossing
 *     is at most h wide (new samples subdivide wider ones), so any window of
 *     the other decision at least h wide holds a sample and is found.
 *  2. Hermite test: on each such interval the cubic Hermite interpolant of
 *     the two samples (values and derivatives) is examined; where it comes
 *     closer to the threshold than half the smaller of the two samples'
 *     margins, a sample is taken at its extremum and both halves are tested
 *     again. Narrower windows are found this way when f is smooth on the
 *     scale of the samples.
 *  3. Refinement: the first interval whose right sample has the other
 *     decision is shrunk by safeguarded Newton steps (the first root of the
 *     Hermite interpolant, kept inside the bracket, bisection when a step
 *     does not halve it) until it is narrower than the tolerance.
 *
 * "No crossing" therefore means: no sample of the other decision, with
 * samples at most h apart over all of [a, b] and refined wherever the
 * interpolant approached the threshold. Nothing here is collective.
 */
#ifndef KPSWEEP_SEARCH_H
#define KPSWEEP_SEARCH_H

/* One evaluated point of a path. */
typedef struct kps_sample {
  double x;  /* position on the path */
  double f;  /* O - O_th: the decision there is f > 0 */
  double df; /* df/dx, exact */
} kps_sample;

/* Samples sorted by x in a caller-owned buffer of cap entries. */
typedef struct kps_samples {
  kps_sample *s;
  int n, cap;
} kps_samples;

/* Evaluates the path at x: fills out->f and out->df (out->x is set).
 * Returns a kps_status. */
typedef int (*kps_path_fn)(void *ctx, double x, kps_sample *out);

typedef struct kps_search_opts {
  double a, b;    /* the path, a < b (a == b: a path of one point) */
  double h;       /* widest gap left between samples before the crossing, > 0 */
  double tol_abs; /* the crossing's bracket ends narrower than */
  double tol_rel; /*   tol_abs + tol_rel * |x| */
  double hint;    /* a position where a crossing is expected (NaN: none); sampled
                     when the search reaches it, to bracket the crossing early */
  int max_evals;  /* evaluations at most */
} kps_search_opts;

/* Outcome: found 1 (crossing in [lo, hi]), 0 (none on [a, b]) or -1
 * (unresolved: the evaluation budget or the sample buffer ran out). */
typedef struct kps_search_result {
  int found;
  double lo;       /* the last sample with the decision of a (b when none) */
  double hi;       /* the first sample with the other decision */
  double f_lo, f_hi; /* f at lo and hi */
  int evals; /* evaluations made */
} kps_search_result;

/*
 * Inserts sample v into set (sorted by x; an existing sample at the same x
 * is kept). Returns its index, or -1 when the buffer is full.
 */
int kps_samples_insert(kps_samples *set, kps_sample v);

/*
 * The first crossing of the threshold on [o->a, o->b] (see above). set
 * holds the samples already known (seeds from other searches or a line's
 * grid), sorted by x; one must lie at x = a. New samples are inserted into
 * set, so a later search on the same path can reuse them. Returns the
 * kps_status of an evaluation that failed (the result is then unresolved),
 * else KPS_ST_OK.
 */
int kps_search_first(kps_path_fn fn, void *ctx, const kps_search_opts *o, kps_samples *set,
                     kps_search_result *r);

/*
 * The cubic Hermite interpolant of samples p and q at x (p.x <= x <= q.x).
 * Exposed for the tests.
 */
double kps_hermite(kps_sample p, kps_sample q, double x);

#endif
