/*
 * The path search (kpsweep/search.h) on analytic functions with known
 * windows: every window at least h wide is found wherever it sits, whatever
 * its shape (walls as steep as exp(-u^8)); narrower windows of a smooth dip
 * (a Gaussian at least h wide) are found by the Hermite test; the first of
 * several windows is reported; the crossing is refined to the tolerance; a
 * path without a crossing costs one evaluation per gap; seeds and a hint
 * save evaluations; a budget that runs out leaves the search unresolved.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../tap.h"
#include "kpsweep/search.h"
#include "kpsweep/status.h"

/* f = sign * (1 - (1 + depth) exp(-((x - c) / s)^p)) summed over windows, plus base. */
typedef struct window {
  double c, s, depth;
  int p;
} window;

typedef struct fn_ctx {
  int n;
  window w[4];
  double sign;   /* +1: the start responds and the windows do not; -1 the reverse */
  double slope;  /* a linear trend added to f (a crossing at the end of the path) */
  int evals;
} fn_ctx;

static int path(void *vctx, double x, kps_sample *out) {
  fn_ctx *c = vctx;
  double f = 1.0 + c->slope * x, df = c->slope;
  for (int i = 0; i < c->n; ++i) {
    const window *w = &c->w[i];
    const double u = (x - w->c) / w->s, g = exp(-pow(fabs(u), w->p));
    f -= (1.0 + w->depth) * g;
    df += (1.0 + w->depth) * g * w->p * pow(fabs(u), w->p - 1) * (u < 0 ? -1.0 : 1.0) / w->s;
  }
  out->f = c->sign * f, out->df = c->sign * df;
  ++c->evals;
  return KPS_ST_OK;
}

/* Left edge of window w (where 1 - (1 + depth) g = 0). */
static double left_edge(const window *w) { return w->c - w->s * pow(log1p(w->depth), 1.0 / w->p); }

/* A window of width `width`: steepness p, depth chosen for the width at scale s. */
static window make_window(double c, double width, double s, int p) {
  window w = {c, s, 0.0, p};
  if (p == 2) {
    w.depth = expm1(pow(0.5 * width / s, 2));
  } else {
    w.depth = 1.0;
    w.s = 0.5 * width / pow(log(2.0), 1.0 / p);
  }
  return w;
}

typedef struct run {
  kps_search_result r;
  int st;
} run;

static kps_sample buf[4096];

static run search(fn_ctx *c, double a, double b, double h, double hint, int max_evals,
                  kps_samples *seeded) {
  kps_samples set = {buf, 0, 4096};
  kps_samples *use = seeded ? seeded : &set;
  kps_search_opts o = {.a = a, .b = b, .h = h, .tol_abs = 1e-12, .tol_rel = 1e-12, .hint = hint,
                       .max_evals = max_evals};
  run out;
  c->evals = 0;
  out.st = kps_search_first(path, c, &o, use, &out.r);
  return out;
}

/* Windows exactly as wide as the guarantee (plus 1e-6), steep walls, at 200 positions. */
static void test_guaranteed_width(void) {
  const double a = 0.0, b = 10.0, h = (b - a) / 32;
  int found = 0, exact = 0, total = 0, max_evals = 0;
  for (int i = 0; i < 200; ++i) {
    const double c = a + h + (b - a - 2 * h) * (i + 0.5) / 200.0;
    fn_ctx ctx = {.n = 1, .sign = 1.0};
    ctx.w[0] = make_window(c, h * (1.0 + 1e-6), h, 8);
    run r = search(&ctx, a, b, h, NAN, 400, NULL);
    ++total;
    found += r.st == KPS_ST_OK && r.r.found == 1;
    exact += r.r.found == 1 && fabs(r.r.hi - left_edge(&ctx.w[0])) < 1e-10;
    if (ctx.evals > max_evals) max_evals = ctx.evals;
  }
  tap_ok(found == total, "windows of width h (steep walls, exp(-u^8)) found at %d of %d positions",
         found, total);
  tap_ok(exact == total, "their left edge refined to 1e-10 at %d of %d positions (at most %d evaluations)",
         exact, total, max_evals);
}

/* Smooth dips (Gaussian of scale h) whose part beyond the threshold is much narrower than h. */
static void test_narrow_smooth(void) {
  const double a = 0.0, b = 10.0, h = (b - a) / 32;
  const double widths[] = {h / 2, h / 8, h / 32, h / 128};
  for (int k = 0; k < 4; ++k) {
    int found = 0, total = 0;
    for (int i = 0; i < 97; ++i) {
      const double c = a + 1.0 + 8.0 * (i + 0.5) / 97.0;
      fn_ctx ctx = {.n = 1, .sign = 1.0};
      ctx.w[0] = make_window(c, widths[k], h, 2);
      run r = search(&ctx, a, b, h, NAN, 400, NULL);
      ++total;
      found += r.r.found == 1 && fabs(r.r.hi - left_edge(&ctx.w[0])) < 1e-9;
    }
    tap_ok(found == total, "Gaussian dip of scale h, window h/%.0f wide: found and refined at %d of %d positions",
           h / widths[k], found, total);
  }
}

/* Several windows: the first one is reported, also when a later one is wider. */
static void test_first_of_several(void) {
  const double h = 10.0 / 32;
  fn_ctx ctx = {.n = 3, .sign = 1.0};
  ctx.w[0] = make_window(2.0, 1.2 * h, h, 8);
  ctx.w[1] = make_window(5.0, 3.0, 1.0, 8);
  ctx.w[2] = make_window(8.0, h / 16, h, 2);
  run r = search(&ctx, 0.0, 10.0, h, NAN, 400, NULL);
  tap_ok(r.r.found == 1 && fabs(r.r.hi - left_edge(&ctx.w[0])) < 1e-10,
         "three windows: the first (left edge %.12g) is reported (%.12g)", left_edge(&ctx.w[0]), r.r.hi);
  /* Started inside the first window (the other decision), the first crossing is its right edge. */
  fn_ctx neg = ctx;
  neg.sign = -1.0;
  run q = search(&neg, 0.0, 10.0, h, NAN, 400, NULL);
  tap_ok(q.r.found == 1 && fabs(q.r.hi - left_edge(&ctx.w[0])) < 1e-10,
         "start with f <= 0: the first crossing is the same edge, seen from the other side (%.12g)", q.r.hi);
}

/* No crossing: +inf means every gap was at most h and no interpolant came near. */
static void test_no_crossing(void) {
  const double h = 10.0 / 32;
  fn_ctx ctx = {.n = 2, .sign = 1.0};
  ctx.w[0] = make_window(3.0, 0.0, 1.0, 2); /* dips to 0: never below (f = 1 - g >= 0, f > 0 off-centre) */
  ctx.w[0].depth = -0.5;                     /* only halfway */
  ctx.w[1] = make_window(7.0, 0.0, 0.5, 2);
  ctx.w[1].depth = -0.6;
  run r = search(&ctx, 0.0, 10.0, h, NAN, 400, NULL);
  tap_ok(r.st == KPS_ST_OK && r.r.found == 0, "dips that stay above the threshold: no crossing");
  tap_ok(ctx.evals <= 32 + 4, "  found with %d evaluations (32 gaps of h)", ctx.evals);
}

/* A monotone crossing: a few evaluations once the gap rule reaches it; a hint saves most. */
static void test_monotone_and_hint(void) {
  fn_ctx ctx = {.n = 0, .sign = 1.0, .slope = -1.0 / 7.3};
  const double h = 10.0 / 32;
  run r = search(&ctx, 0.0, 10.0, h, NAN, 400, NULL);
  tap_ok(r.r.found == 1 && fabs(r.r.hi - 7.3) < 1e-11, "linear f: the crossing at 7.3 (%.15g)", r.r.hi);
  const int plain = ctx.evals;
  tap_ok(plain <= (int)ceil(7.3 / h) + 4,
         "  %d evaluations: one per gap of h up to it, and a few to refine it", plain);
  fn_ctx curved = {.n = 1, .sign = 1.0, .slope = -1.0 / 7.3};
  curved.w[0] = (window){12.0, 3.0, -0.9, 2}; /* a bump: curvature near the crossing */
  run q = search(&curved, 0.0, 10.0, h, NAN, 400, NULL);
  const int no_hint = curved.evals;
  const double x0 = q.r.hi;
  run qh = search(&curved, 0.0, 10.0, h, x0 * (1 + 1e-4), 400, NULL);
  tap_ok(q.r.found == 1 && qh.r.found == 1 && fabs(qh.r.hi - x0) < 1e-11,
         "curved f: the same crossing with and without a hint (%.15g)", qh.r.hi);
  tap_ok(curved.evals <= no_hint, "  hint 1e-4 off: %d evaluations, %d without", curved.evals, no_hint);
}

/* Known samples are used, not recomputed. */
static void test_seeds(void) {
  const double h = 10.0 / 32;
  fn_ctx ctx = {.n = 1, .sign = 1.0};
  ctx.w[0] = make_window(6.0, h / 8, h, 2);
  static kps_sample seed_buf[4096];
  kps_samples set = {seed_buf, 0, 4096};
  for (int i = 0; i <= 40; ++i) {
    kps_sample v = {.x = 10.0 * i / 40};
    path(&ctx, v.x, &v);
    kps_samples_insert(&set, v);
  }
  run r = search(&ctx, 0.0, 10.0, h, NAN, 400, &set);
  tap_ok(r.r.found == 1 && fabs(r.r.hi - left_edge(&ctx.w[0])) < 1e-9,
         "41 seeds: the window is found (%.12g)", r.r.hi);
  tap_ok(ctx.evals <= 12, "  with %d new evaluations", ctx.evals);
  tap_ok(set.n == 41 + ctx.evals, "  the new samples are kept in the set (%d)", set.n);
}

/* f(x) = x - c0 quantised to a grid of q (a plateau of rounding at the
 * threshold), and a path whose sample hits the root exactly. */
static int plateau_path(void *vctx, double x, kps_sample *out) {
  const double *c = vctx; /* c[0] root, c[1] quantum */
  out->f = c[1] > 0 ? c[1] * floor((x - c[0]) / c[1]) : x - c[0];
  out->df = 1.0;
  return KPS_ST_OK;
}

static void test_plateau_and_exact_root(void) {
  kps_sample pbuf[512];
  /* Start exactly on the threshold, f = 0 up to 1e-13: the crossing is its edge. */
  double c[2] = {0.0, 1e-13};
  kps_samples set = {pbuf, 0, 512};
  kps_search_opts o = {.a = 0.0, .b = 10.0, .h = 10.0 / 32, .tol_abs = 1e-30, .tol_rel = 1e-13,
                       .hint = NAN, .max_evals = 400};
  kps_search_result r;
  int st = kps_search_first(plateau_path, c, &o, &set, &r);
  tap_ok(st == KPS_ST_OK && r.found == 1 && r.hi > 0 && r.hi <= 2e-13 && r.evals < 200,
         "a plateau f = 0 from the start to 1e-13: the crossing at its edge %.3g (%d evaluations)",
         r.hi, r.evals);
  /* A sample lands exactly on the root (f = 0 is the start's side, "no"):
   * the crossing is closed off by one sample tol/2 past it. */
  double e[2] = {1.25, 0.0};
  o.h = 1.25;
  set.n = 0;
  kps_samples_insert(&set, (kps_sample){0.0, -1.25, 1.0});
  kps_samples_insert(&set, (kps_sample){1.25, 0.0, 1.0});
  st = kps_search_first(plateau_path, e, &o, &set, &r);
  tap_ok(st == KPS_ST_OK && r.found == 1 && fabs(r.hi - 1.25) < 1e-12 && r.evals <= 3,
         "a sample exactly on the root (start f < 0): crossing %.15g in %d evaluations (next gap, closing)", r.hi, r.evals);
}

static void test_budget(void) {
  fn_ctx ctx = {.n = 0, .sign = 1.0, .slope = 0.0};
  run r = search(&ctx, 0.0, 10.0, 10.0 / 32, NAN, 5, NULL);
  tap_ok(r.st == KPS_ST_OK && r.r.found == -1 && ctx.evals == 5,
         "a budget of 5 evaluations on a path needing 32: unresolved (found %d, %d evaluations)", r.r.found,
         ctx.evals);
}

/* The interpolant itself: exact for cubics. */
static void test_hermite(void) {
  const kps_sample p = {1.0, 2.0, -3.0}, q = {3.0, -4.0, 5.0};
  tap_close(kps_hermite(p, q, 1.0), 2.0, 0, 1e-15, "Hermite interpolant at the left sample");
  tap_close(kps_hermite(p, q, 3.0), -4.0, 0, 1e-14, "Hermite interpolant at the right sample");
  const double e = 1e-6;
  tap_close((kps_hermite(p, q, 1.0 + e) - kps_hermite(p, q, 1.0)) / e, -3.0, 1e-5, 0,
            "Hermite interpolant: slope at the left sample");
}

int main(void) {
  test_hermite();
  test_guaranteed_width();
  test_narrow_smooth();
  test_first_of_several();
  test_no_crossing();
  test_monotone_and_hint();
  test_seeds();
  test_plateau_and_exact_root();
  test_budget();
  return tap_done();
}
