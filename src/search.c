/*
 * The first threshold crossing along a path, from values and exact
 * derivatives: gap rule, Hermite test, safeguarded refinement (search.h).
 */
#include "kpsweep/search.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "kpsweep/status.h"

/*
 * Constants
 *   DIP_SHARE    a same-side interval is sampled at its interpolant's extremum
 *                when that lies closer to the threshold than DIP_SHARE times the
 *                smaller of the two samples' margins
 *   NEWTON_OVER  a step toward a crossing predicted (by the Newton step of the
 *                last sample) within the gap aims this much beyond it, so that
 *                a good prediction brackets the crossing at once
 *   MIN_STEP     such steps are at least MIN_STEP * h long, so that a path
 *                that only touches the threshold is not crept along
 *   ROOT_IT      Newton (or bisection) steps on the interpolant for its
 *                first root, at most
 *   GAP_SLACK    relative slack of the gap rule against rounding of positions
 */
#define DIP_SHARE 0.5
#define NEWTON_OVER 1.25
#define MIN_STEP (1.0 / 64)
#define ROOT_IT 64
#define GAP_SLACK 1e-9

/* The Hermite interpolant of p, q as a cubic in t = (x - p.x) / (q.x - p.x). */
typedef struct cubic {
  double c0, c1, c2, c3;
} cubic;

static cubic hermite_cubic(kps_sample p, kps_sample q) {
  const double w = q.x - p.x, m0 = p.df * w, m1 = q.df * w;
  const cubic c = {p.f, m0, -3.0 * p.f - 2.0 * m0 + 3.0 * q.f - m1, 2.0 * p.f + m0 - 2.0 * q.f + m1};
  return c;
}

static double cubic_at(cubic c, double t) { return ((c.c3 * t + c.c2) * t + c.c1) * t + c.c0; }

double kps_hermite(kps_sample p, kps_sample q, double x) {
  const double w = q.x - p.x;
  return w > 0 ? cubic_at(hermite_cubic(p, q), (x - p.x) / w) : p.f;
}

/* Zeros of the cubic's derivative inside (0, 1), ascending; returns how many. */
static int critical_points(cubic c, double t[2]) {
  const double A = 3.0 * c.c3, B = 2.0 * c.c2, C = c.c1;
  double r[2];
  int n = 0;
  if (A == 0.0) {
    if (B != 0.0) r[n++] = -C / B;
  } else {
    const double D = B * B - 4.0 * A * C;
    if (D >= 0.0) {
      /* The stable form: no cancellation in either root. */
      const double q = -0.5 * (B + copysign(sqrt(D), B));
      if (q != 0.0) r[n++] = q / A, r[n++] = C / q;
      else r[n++] = 0.0;
    }
  }
  int m = 0;
  for (int i = 0; i < n; ++i)
    if (r[i] > 0.0 && r[i] < 1.0) t[m++] = r[i];
  if (m == 2 && t[0] > t[1]) {
    const double s = t[0];
    t[0] = t[1], t[1] = s;
  }
  return m;
}

/*
 * Whether the interpolant of a same-side interval dips toward the threshold
 * (see DIP_SHARE); *t receives where. side0: the decision of both samples.
 */
static int dips(kps_sample p, kps_sample q, int side0, double *t) {
  const double sg = side0 ? 1.0 : -1.0;
  if (!isfinite(p.df) || !isfinite(q.df)) return 0;
  const cubic c = hermite_cubic(p, q);
  double tc[2];
  const int n = critical_points(c, tc);
  const double margin = DIP_SHARE * fmin(sg * p.f, sg * q.f);
  /* A sample exactly on the threshold (f = 0, on the side of "no") tells
   * nothing about dips: that is a plateau of rounding, or a touch. */
  if (!(margin > 0.0)) return 0;
  double best = INFINITY;
  for (int i = 0; i < n; ++i) {
    const double g = sg * cubic_at(c, tc[i]);
    if (g < best) best = g, *t = tc[i];
  }
  return best < margin;
}

/*
 * First t in (0, 1) where the interpolant of a crossing interval (p on the
 * start side, q not) changes decision: the first monotone piece whose ends
 * differ, bisected.
 */
static double first_root(kps_sample p, kps_sample q) {
  const cubic c = hermite_cubic(p, q);
  double tc[2], ends[4];
  const int n = critical_points(c, tc);
  int m = 0;
  ends[m++] = 0.0;
  for (int i = 0; i < n; ++i) ends[m++] = tc[i];
  ends[m++] = 1.0;
  const int side0 = p.f > 0;
  double u = 0.0, v = 1.0;
  for (int i = 1; i < m; ++i) {
    /* The last piece ends at q itself, whose decision is the other one. */
    const int sv = i == m - 1 ? !side0 : cubic_at(c, ends[i]) > 0;
    if (sv != side0) {
      u = ends[i - 1], v = ends[i];
      break;
    }
  }
  /* Newton on the cubic, kept inside the monotone piece (bisection when a
   * step leaves it): a few steps to the last bits. */
  double t = 0.5 * (u + v);
  for (int it = 0; it < ROOT_IT; ++it) {
    const double pt = cubic_at(c, t), dp = (3.0 * c.c3 * t + 2.0 * c.c2) * t + c.c1;
    if ((pt > 0) == side0) u = t;
    else v = t;
    double next = dp != 0.0 ? t - pt / dp : 0.5 * (u + v);
    if (!(next > u && next < v)) next = 0.5 * (u + v);
    if (next == t || v - u <= 4.0 * DBL_EPSILON * v) break;
    t = next;
  }
  return t;
}

int kps_samples_insert(kps_samples *set, kps_sample v) {
  int lo = 0, hi = set->n;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (set->s[mid].x < v.x) lo = mid + 1;
    else hi = mid;
  }
  if (lo < set->n && set->s[lo].x == v.x) return lo;
  if (set->n >= set->cap) return -1;
  memmove(&set->s[lo + 1], &set->s[lo], sizeof(kps_sample) * (size_t)(set->n - lo));
  set->s[lo] = v;
  ++set->n;
  return lo;
}

/* Evaluates at x and inserts the sample; -1 in *idx when the buffer is full. */
static int eval_insert(kps_path_fn fn, void *ctx, kps_samples *set, double x,
                       kps_search_result *r, int *idx) {
  kps_sample v = {.x = x, .f = NAN, .df = NAN};
  ++r->evals;
  int st = fn(ctx, x, &v);
  if (kps_status_is_ok(st) && !isfinite(v.f)) st = KPS_ST_NON_FINITE;
  if (!kps_status_is_ok(st)) return st;
  v.x = x;
  *idx = kps_samples_insert(set, v);
  return KPS_ST_OK;
}

/*
 * Where to sample next after l, toward r (NULL: toward b on an unexplored
 * stretch): the gap rule's subdivision point, unless the Newton step of l
 * predicts a crossing sooner, or the hint lies sooner.
 */
static double next_position(const kps_search_opts *o, const kps_sample *l, const kps_sample *r,
                            int *hint_used) {
  const double gap = (r ? r->x : o->b) - l->x;
  const double x_reg = r ? l->x + gap / ceil(gap / o->h - GAP_SLACK) : l->x + fmin(o->h, gap);
  const double x_min = fmin(l->x + MIN_STEP * o->h, x_reg);
  double x = x_reg;
  if (isfinite(l->df) && l->df != 0.0) {
    const double s = -l->f / l->df;
    if (s > 0.0) x = fmin(x, fmax(l->x + NEWTON_OVER * s, x_min));
  }
  if (!*hint_used && o->hint > l->x && o->hint < x) {
    x = o->hint;
    *hint_used = 1;
  }
  return x;
}

/*
 * Where to sample a crossing interval [l, q] next: the interpolant's first
 * root, kept tol/2 inside the interval (so that a root within tol/2 of an
 * end is closed off by one more sample), else its midpoint when the
 * interval is too narrow or when the move from the last refinement sample
 * is not at most half the move before it (not converging). A start-side
 * end exactly on the threshold (f = 0) with the root on it is either the
 * crossing itself or the edge of a plateau of rounding, which the
 * interpolant knows nothing about: steps away from it double from tol/2.
 */
typedef struct refine_state {
  double last_x, last_move; /* the last refinement sample, its move from the one before */
  double plateau;           /* the last step off a start-side end with f = 0 (0: none) */
} refine_state;

static double refine_position(kps_sample l, kps_sample q, double tol, refine_state *rs) {
  const double w = q.x - l.x;
  double x = l.x + first_root(l, q) * w;
  const int from_last = rs->last_x == l.x || rs->last_x == q.x;
  const double move = fabs(x - rs->last_x);
  if (l.f == 0.0 && x - l.x < 0.5 * tol) {
    rs->plateau = rs->plateau > 0.0 ? 2.0 * rs->plateau : 0.5 * tol;
    x = l.x + fmin(rs->plateau, 0.5 * w);
  } else if (w <= 2.0 * tol || (from_last && move > 0.5 * rs->last_move)) {
    x = l.x + 0.5 * w;
  } else {
    x = fmin(fmax(x, l.x + 0.5 * tol), q.x - 0.5 * tol);
  }
  rs->last_move = from_last ? fabs(x - rs->last_x) : INFINITY;
  rs->last_x = x;
  return x;
}

int kps_search_first(kps_path_fn fn, void *ctx, const kps_search_opts *o, kps_samples *set,
                     kps_search_result *r) {
  r->found = -1;
  r->lo = r->hi = r->f_lo = r->f_hi = NAN;
  r->evals = 0;
  int k = 0, st = KPS_ST_OK, hint_used = 0, idx = 0;
  while (k < set->n && set->s[k].x < o->a) ++k;
  if (k >= set->n || set->s[k].x != o->a) {
    st = eval_insert(fn, ctx, set, o->a, r, &idx);
    if (!kps_status_is_ok(st) || idx < 0) return st;
    k = idx;
  }
  const int side0 = set->s[k].f > 0;
  refine_state rs = {NAN, INFINITY, 0.0};
  for (;;) {
    const kps_sample l = set->s[k];
    const int last = k + 1 >= set->n || set->s[k + 1].x > o->b;
    double x;
    if (last) {
      if (l.x >= o->b) {
        r->found = 0;
        r->lo = l.x, r->f_lo = l.f;
        return KPS_ST_OK;
      }
      x = fmin(next_position(o, &l, NULL, &hint_used), o->b);
    } else {
      const kps_sample q = set->s[k + 1];
      const double w = q.x - l.x;
      const double tol = o->tol_abs + o->tol_rel * fmax(fabs(l.x), fabs(q.x));
      if (w > o->h * (1.0 + GAP_SLACK)) {
        x = next_position(o, &l, &q, &hint_used);
      } else if ((q.f > 0) != side0) {
        if (w <= tol) {
          r->found = 1;
          r->lo = l.x, r->hi = q.x, r->f_lo = l.f, r->f_hi = q.f;
          return KPS_ST_OK;
        }
        x = refine_position(l, q, tol, &rs);
      } else {
        double t = 0.5;
        x = NAN;
        if (w > tol && dips(l, q, side0, &t)) {
          x = l.x + t * w;
          if (!(x - l.x > 0.5 * tol && q.x - x > 0.5 * tol)) x = NAN;
        }
        if (isnan(x)) {
          ++k;
          continue;
        }
      }
    }
    if (r->evals >= o->max_evals) return KPS_ST_OK;
    st = eval_insert(fn, ctx, set, x, r, &idx);
    if (!kps_status_is_ok(st) || idx < 0) return st;
  }
}
