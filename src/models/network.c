/*
 * The network model: the kps_model callbacks of a model read from a network
 * file (docs/networks.md). self->data is the `net` (src/network.h).
 *
 * Every call expands the templates for its own p and K: the layout (offsets
 * of the species families in y) and the eliminated species (total minus the
 * contained states) are recomputed on the stack, so the callbacks stay pure
 * and a structural parameter may differ from point to point.
 *
 * Derivatives are exact: each expression is evaluated in forward mode with
 * one direction per leaf occurrence (a species, parameter, tau or L), which
 * gives d rate / d leaf; the chain rule through the stoichiometry and the
 * conservation laws (d free / d contained state = -1, d free / d input =
 * d total / d input) assembles J = df/dy, df/dp and dO/dy.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kpsweep/model.h"
#include "../network.h"

enum { LF_NONE, LF_STATE, LF_DERIVED, LF_PARAM, LF_TAU, LF_LIG, LF_CONST };

typedef struct leaf {
  int kind, index;
} leaf;

typedef struct layout {
  int n_state, n_derived;
  int off[NET_MAX_FAMILIES];
  int lo[NET_MAX_FAMILIES][NET_MAX_DIMS], size[NET_MAX_FAMILIES][NET_MAX_DIMS];
  int ok; /* every range is non-negative and the derived fit */
} layout;

typedef struct ectx {
  const net *nw;
  const double *p;
  int K;
  const kps_inputs *in;
  const double *y, *dv;
  const layout *lay;
  int idx[NET_MAX_VARS];
} ectx;

static long eval_int(const ectx *c, int prog) {
  const net_prog *g = &c->nw->progs[prog];
  long st[NET_MAX_DEPTH];
  int sp = 0;
  for (int k = 0; k < g->n; ++k) {
    const net_op *o = &g->ops[k];
    switch (o->op) {
      case XO_CONST: st[sp++] = (long)o->c; break;
      case XO_IPARAM: st[sp++] = (long)(c->p[o->a] + (c->p[o->a] >= 0 ? 0.5 : -0.5)); break;
      case XO_VAR: st[sp++] = c->idx[o->a]; break;
      case XO_ADD: --sp, st[sp - 1] += st[sp]; break;
      case XO_SUB: --sp, st[sp - 1] -= st[sp]; break;
      case XO_MUL: --sp, st[sp - 1] *= st[sp]; break;
      case XO_NEG: st[sp - 1] = -st[sp - 1]; break;
      default: return 0; /* the compiler admits nothing else */
    }
  }
  return sp ? st[0] : 0;
}

static void range_of(const ectx *c, const net_range *r, long *lo, long *hi) {
  if (r->ligands) *lo = 0, *hi = c->K - 1;
  else *lo = eval_int(c, r->lo), *hi = eval_int(c, r->hi);
}

static void make_layout(const net *nw, const double *p, int K, layout *L) {
  ectx c = {.nw = nw, .p = p, .K = K};
  L->n_state = L->n_derived = 0;
  L->ok = 1;
  for (int f = 0; f < nw->n_families; ++f) {
    const net_family *fm = &nw->fam[f];
    long count = 1;
    for (int d = 0; d < fm->dims.n; ++d) {
      long lo, hi;
      range_of(&c, &fm->dims.r[d], &lo, &hi);
      if (hi < lo - 1 || hi - lo + 1 > 100000) L->ok = 0, hi = lo - 1;
      L->lo[f][d] = (int)lo;
      L->size[f][d] = (int)(hi - lo + 1);
      count *= hi - lo + 1;
    }
    if (count > 1000000) L->ok = 0, count = 0;
    int *n = fm->derived ? &L->n_derived : &L->n_state;
    L->off[f] = *n;
    *n += (int)count;
  }
  if (L->n_derived > NET_MAX_DERIVED) L->ok = 0;
}

/* Linear index of family f at subscripts s (-1 when out of range). */
static int linear(const layout *L, const net_family *fm, int f, const long *s) {
  long k = 0;
  for (int d = 0; d < fm->dims.n; ++d) {
    const long q = s[d] - L->lo[f][d];
    if (q < 0 || q >= L->size[f][d]) return -1;
    k = k * L->size[f][d] + q;
  }
  return L->off[f] + (int)k;
}

static void resolve(const ectx *c, int ref, leaf *lf) {
  const net_ref *r = &c->nw->refs[ref];
  const net_family *fm = &c->nw->fam[r->family];
  long s[NET_MAX_DIMS];
  for (int d = 0; d < fm->dims.n; ++d) s[d] = eval_int(c, r->sub[d]);
  const int k = linear(c->lay, fm, r->family, s);
  lf->kind = k < 0 ? LF_NONE : fm->derived ? LF_DERIVED : LF_STATE;
  lf->index = k;
}

static double leaf_value(const ectx *c, const net_op *o, leaf *lf) {
  switch (o->op) {
    case XO_PARAM: lf->kind = LF_PARAM, lf->index = o->a; return c->p[o->a];
    case XO_TAU:
    case XO_LIG: {
      const long e = eval_int(c, o->a);
      if (e < 0 || e >= c->K) {
        lf->kind = LF_NONE;
        return NAN;
      }
      lf->kind = o->op == XO_TAU ? LF_TAU : LF_LIG, lf->index = (int)e;
      return o->op == XO_TAU ? c->in->tau[e] : c->in->L[e];
    }
    default:
      resolve(c, o->a, lf);
      if (lf->kind == LF_STATE) return c->y[lf->index];
      if (lf->kind == LF_DERIVED) return c->dv[lf->index];
      return NAN;
  }
}

/* The value of a program (no derivatives). */
static double eval_val(const ectx *c, int prog) {
  const net_prog *g = &c->nw->progs[prog];
  double st[NET_MAX_DEPTH];
  int sp = 0;
  for (int k = 0; k < g->n; ++k) {
    const net_op *o = &g->ops[k];
    leaf lf;
    switch (o->op) {
      case XO_CONST: st[sp++] = o->c; break;
      case XO_IPARAM: st[sp++] = c->p[o->a]; break;
      case XO_VAR: st[sp++] = c->idx[o->a]; break;
      case XO_ADD: --sp, st[sp - 1] += st[sp]; break;
      case XO_SUB: --sp, st[sp - 1] -= st[sp]; break;
      case XO_MUL: --sp, st[sp - 1] *= st[sp]; break;
      case XO_DIV: --sp, st[sp - 1] /= st[sp]; break;
      case XO_POW: --sp, st[sp - 1] = pow(st[sp - 1], st[sp]); break;
      case XO_NEG: st[sp - 1] = -st[sp - 1]; break;
      case XO_EXP: st[sp - 1] = exp(st[sp - 1]); break;
      case XO_LOG: st[sp - 1] = log(st[sp - 1]); break;
      case XO_SQRT: st[sp - 1] = sqrt(st[sp - 1]); break;
      default: st[sp++] = leaf_value(c, o, &lf); break;
    }
  }
  return st[0];
}

/*
 * Forward mode: the value, g[s] = d value / d leaf s and what each leaf is.
 * Directions are the leaf occurrences (n_slots of the program), so a column
 * of d holds at most NET_MAX_SLOTS entries.
 */
static double eval_dual(const ectx *c, int prog, double *g, leaf *lv) {
  const net_prog *pg = &c->nw->progs[prog];
  const int S = pg->n_slots;
  double v[NET_MAX_DEPTH], d[NET_MAX_DEPTH][NET_MAX_SLOTS];
  int sp = 0;
  for (int k = 0; k < pg->n; ++k) {
    const net_op *o = &pg->ops[k];
    double *a = sp >= 2 ? d[sp - 2] : NULL, *b = sp >= 1 ? d[sp - 1] : NULL;
    switch (o->op) {
      case XO_CONST:
      case XO_IPARAM:
      case XO_VAR:
        v[sp] = o->op == XO_CONST ? o->c : o->op == XO_IPARAM ? c->p[o->a] : c->idx[o->a];
        memset(d[sp], 0, sizeof(double) * (size_t)S);
        ++sp;
        break;
      case XO_ADD:
        for (int s = 0; s < S; ++s) a[s] += b[s];
        --sp, v[sp - 1] += v[sp];
        break;
      case XO_SUB:
        for (int s = 0; s < S; ++s) a[s] -= b[s];
        --sp, v[sp - 1] -= v[sp];
        break;
      case XO_MUL: {
        const double x = v[sp - 2], y = v[sp - 1];
        for (int s = 0; s < S; ++s) a[s] = a[s] * y + x * b[s];
        --sp, v[sp - 1] = x * y;
        break;
      }
      case XO_DIV: {
        const double x = v[sp - 2], y = v[sp - 1], q = x / y;
        for (int s = 0; s < S; ++s) a[s] = (a[s] - q * b[s]) / y;
        --sp, v[sp - 1] = q;
        break;
      }
      case XO_POW: {
        const double x = v[sp - 2], y = v[sp - 1], r = pow(x, y);
        /* d x^y = y x^(y-1) dx + x^y log x dy; the log term only where y varies */
        const double dx = y * pow(x, y - 1.0);
        int y_varies = 0;
        for (int s = 0; s < S; ++s) y_varies |= b[s] != 0.0;
        const double dy = y_varies ? r * log(x) : 0.0;
        for (int s = 0; s < S; ++s) a[s] = dx * a[s] + (y_varies ? dy * b[s] : 0.0);
        --sp, v[sp - 1] = r;
        break;
      }
      case XO_NEG:
        for (int s = 0; s < S; ++s) b[s] = -b[s];
        v[sp - 1] = -v[sp - 1];
        break;
      case XO_EXP: {
        const double r = exp(v[sp - 1]);
        for (int s = 0; s < S; ++s) b[s] *= r;
        v[sp - 1] = r;
        break;
      }
      case XO_LOG: {
        const double x = v[sp - 1];
        for (int s = 0; s < S; ++s) b[s] /= x;
        v[sp - 1] = log(x);
        break;
      }
      case XO_SQRT: {
        const double r = sqrt(v[sp - 1]);
        for (int s = 0; s < S; ++s) b[s] *= 0.5 / r;
        v[sp - 1] = r;
        break;
      }
      default: {
        const int slot = (int)o->c;
        v[sp] = leaf_value(c, o, &lv[slot]);
        memset(d[sp], 0, sizeof(double) * (size_t)S);
        d[sp][slot] = 1.0;
        ++sp;
        break;
      }
    }
  }
  memcpy(g, d[0], sizeof(double) * (size_t)S);
  return v[0];
}

/* ---- templates ---------------------------------------------------------- */

typedef void (*visit_fn)(ectx *c, void *arg);

static void iterate(ectx *c, const net_for *loop, int level, visit_fn fn, void *arg) {
  if (level == loop->n) {
    fn(c, arg);
    return;
  }
  long lo, hi;
  range_of(c, &loop->r[level], &lo, &hi);
  for (long v = lo; v <= hi; ++v) {
    c->idx[level] = (int)v;
    iterate(c, loop, level + 1, fn, arg);
  }
}

/* Calls fn(state index, arg) for every state a law's term pattern matches,
 * with the law's indices (the family's) in c->idx. */
typedef void (*state_fn)(int k, void *arg);

static void walk_pattern(const ectx *c, const net_ref *r, int d, long *s, state_fn fn,
                         void *arg) {
  const net_family *fm = &c->nw->fam[r->family];
  if (d == fm->dims.n) {
    const int k = linear(c->lay, fm, r->family, s);
    if (k >= 0) fn(k, arg);
    return;
  }
  if (r->sub[d] >= 0) {
    s[d] = eval_int(c, r->sub[d]);
    walk_pattern(c, r, d + 1, s, fn, arg);
    return;
  }
  const int lo = c->lay->lo[r->family][d], n = c->lay->size[r->family][d];
  for (int q = 0; q < n; ++q) {
    s[d] = lo + q;
    walk_pattern(c, r, d + 1, s, fn, arg);
  }
}

static void walk_law(const ectx *c, const net_law *lw, state_fn fn, void *arg) {
  long s[NET_MAX_DIMS];
  for (int t = 0; t < lw->n_terms; ++t) walk_pattern(c, &c->nw->refs[lw->terms[t]], 0, s, fn, arg);
}

/* Sets c->idx to the subscripts of derived instance k; returns its law. */
static const net_law *derived_instance(ectx *c, int k) {
  const net *nw = c->nw;
  for (int f = 0; f < nw->n_families; ++f) {
    const net_family *fm = &nw->fam[f];
    if (!fm->derived) continue;
    int count = 1;
    for (int d = 0; d < fm->dims.n; ++d) count *= c->lay->size[f][d];
    int q = k - c->lay->off[f];
    if (q < 0 || q >= count) continue;
    for (int d = fm->dims.n; d-- > 0;) {
      c->idx[d] = c->lay->lo[f][d] + q % c->lay->size[f][d];
      q /= c->lay->size[f][d];
    }
    return &nw->laws[fm->law];
  }
  return NULL;
}

typedef struct sum_arg {
  const double *y;
  double s;
} sum_arg;

static void add_state(int k, void *arg) {
  sum_arg *a = arg;
  a->s += a->y[k];
}

/*
 * The eliminated species at y: dv[k] = total - sum of its states. With
 * `which` >= 0 also dtot[k] = d total / d input `which`.
 */
static void compute_derived(ectx *c, double *dv, int which, double *dtot) {
  for (int k = 0; k < c->lay->n_derived; ++k) {
    const net_law *lw = derived_instance(c, k);
    sum_arg a = {.y = c->y, .s = 0.0};
    walk_law(c, lw, add_state, &a);
    if (which < 0) {
      dv[k] = eval_val(c, lw->total) - a.s;
      continue;
    }
    double g[NET_MAX_SLOTS];
    leaf lv[NET_MAX_SLOTS];
    dv[k] = eval_dual(c, lw->total, g, lv) - a.s;
    dtot[k] = 0.0;
    const int S = c->nw->progs[lw->total].n_slots;
    for (int s = 0; s < S; ++s) {
      const int w = lv[s].kind == LF_TAU ? lv[s].index
                    : lv[s].kind == LF_LIG ? c->K + lv[s].index
                    : lv[s].kind == LF_PARAM ? 2 * c->K + lv[s].index : -1;
      if (w == which) dtot[k] += g[s];
    }
  }
}

/* The states a reaction instance changes: index and net stoichiometry. */
static int stoich_states(const ectx *c, const net_reaction *rx, int *q, double *nu) {
  int m = 0;
  for (int t = 0; t < rx->n_stoich; ++t) {
    leaf lf;
    resolve(c, rx->st[t].ref, &lf);
    if (lf.kind != LF_STATE) continue;
    q[m] = lf.index, nu[m] = rx->st[t].nu;
    ++m;
  }
  return m;
}

/* ---- callbacks ---------------------------------------------------------- */

static const net *net_of(const kps_model *self) { return self->data; }

static void setup(ectx *c, const kps_model *self, const kps_inputs *in, const double *y,
                  layout *L) {
  const net *nw = net_of(self);
  make_layout(nw, in->p, in->K, L);
  *c = (ectx){.nw = nw, .p = in->p, .K = in->K, .in = in, .y = y, .lay = L};
}

static int n_state(const kps_model *self, const double *p, int K) {
  layout L;
  make_layout(net_of(self), p, K, &L);
  return L.n_state;
}

static void set_initial(ectx *c, void *arg) {
  const int f = *(const int *)arg;
  const net_family *fm = &c->nw->fam[f];
  long s[NET_MAX_DIMS];
  for (int d = 0; d < fm->dims.n; ++d) s[d] = c->idx[d];
  const int k = linear(c->lay, fm, f, s);
  if (k >= 0) ((double *)c->y)[k] = eval_val(c, fm->initial);
}

static void initial_state(const kps_model *self, const kps_inputs *in, double *y) {
  layout L;
  ectx c;
  setup(&c, self, in, y, &L);
  memset(y, 0, sizeof(double) * (size_t)L.n_state);
  for (int f = 0; f < c.nw->n_families; ++f)
    if (!c.nw->fam[f].derived && c.nw->fam[f].initial >= 0)
      iterate(&c, &c.nw->fam[f].dims, 0, set_initial, &f);
}

typedef struct rx_arg {
  const net_reaction *rx;
  double *out;   /* f, J or df/dp */
  int which;     /* dfdp: the input */
  const double *dtot;
  int n;
} rx_arg;

static void rhs_visit(ectx *c, void *arg) {
  rx_arg *a = arg;
  int q[NET_MAX_STOICH];
  double nu[NET_MAX_STOICH];
  const int m = stoich_states(c, a->rx, q, nu);
  if (!m) return;
  const double v = eval_val(c, a->rx->rate);
  for (int t = 0; t < m; ++t) a->out[q[t]] += nu[t] * v;
}

static void rhs(const kps_model *self, const kps_inputs *in, const double *y, double *f) {
  layout L;
  ectx c;
  double dv[NET_MAX_DERIVED];
  setup(&c, self, in, y, &L);
  memset(f, 0, sizeof(double) * (size_t)L.n_state);
  if (!L.ok) {
    for (int k = 0; k < L.n_state; ++k) f[k] = NAN;
    return;
  }
  compute_derived(&c, dv, -1, NULL);
  c.dv = dv;
  for (int r = 0; r < c.nw->n_reactions; ++r) {
    rx_arg a = {.rx = &c.nw->rx[r], .out = f};
    iterate(&c, &a.rx->loop, 0, rhs_visit, &a);
  }
}

typedef struct col_arg {
  double *J;
  const int *q;
  const double *nu;
  int m, n;
  double g;
} col_arg;

static void sub_column(int k, void *arg) {
  col_arg *a = arg;
  double *col = a->J + (size_t)k * (size_t)a->n;
  for (int t = 0; t < a->m; ++t) col[a->q[t]] -= a->nu[t] * a->g;
}

static void jac_visit(ectx *c, void *arg) {
  rx_arg *a = arg;
  int q[NET_MAX_STOICH];
  double nu[NET_MAX_STOICH], g[NET_MAX_SLOTS];
  leaf lv[NET_MAX_SLOTS];
  const int m = stoich_states(c, a->rx, q, nu);
  if (!m) return;
  eval_dual(c, a->rx->rate, g, lv);
  const int S = c->nw->progs[a->rx->rate].n_slots;
  int saved[NET_MAX_VARS];
  for (int s = 0; s < S; ++s) {
    if (g[s] == 0.0) continue;
    if (lv[s].kind == LF_STATE) {
      double *col = a->out + (size_t)lv[s].index * (size_t)a->n;
      for (int t = 0; t < m; ++t) col[q[t]] += nu[t] * g[s];
    } else if (lv[s].kind == LF_DERIVED) {
      /* d free / d contained state = -1 */
      memcpy(saved, c->idx, sizeof saved);
      const net_law *lw = derived_instance(c, lv[s].index);
      col_arg ca = {.J = a->out, .q = q, .nu = nu, .m = m, .n = a->n, .g = g[s]};
      walk_law(c, lw, sub_column, &ca);
      memcpy(c->idx, saved, sizeof saved);
    }
  }
}

static void jacobian(const kps_model *self, const kps_inputs *in, const double *y,
                     double *J) {
  layout L;
  ectx c;
  double dv[NET_MAX_DERIVED];
  setup(&c, self, in, y, &L);
  const size_t nn = (size_t)L.n_state * (size_t)L.n_state;
  memset(J, 0, sizeof(double) * nn);
  if (!L.ok) {
    for (size_t k = 0; k < nn; ++k) J[k] = NAN;
    return;
  }
  compute_derived(&c, dv, -1, NULL);
  c.dv = dv;
  for (int r = 0; r < c.nw->n_reactions; ++r) {
    rx_arg a = {.rx = &c.nw->rx[r], .out = J, .n = L.n_state};
    iterate(&c, &a.rx->loop, 0, jac_visit, &a);
  }
}

static void dfdp_visit(ectx *c, void *arg) {
  rx_arg *a = arg;
  int q[NET_MAX_STOICH];
  double nu[NET_MAX_STOICH], g[NET_MAX_SLOTS];
  leaf lv[NET_MAX_SLOTS];
  const int m = stoich_states(c, a->rx, q, nu);
  if (!m) return;
  eval_dual(c, a->rx->rate, g, lv);
  const int S = c->nw->progs[a->rx->rate].n_slots, K = c->K;
  double dr = 0.0;
  for (int s = 0; s < S; ++s) {
    const leaf *l = &lv[s];
    if ((l->kind == LF_TAU && l->index == a->which) ||
        (l->kind == LF_LIG && K + l->index == a->which) ||
        (l->kind == LF_PARAM && 2 * K + l->index == a->which))
      dr += g[s];
    else if (l->kind == LF_DERIVED)
      dr += g[s] * a->dtot[l->index];
  }
  for (int t = 0; t < m; ++t) a->out[q[t]] += nu[t] * dr;
}

static void dfdp(const kps_model *self, const kps_inputs *in, const double *y, int which,
                 double *col) {
  layout L;
  ectx c;
  double dv[NET_MAX_DERIVED], dtot[NET_MAX_DERIVED];
  setup(&c, self, in, y, &L);
  memset(col, 0, sizeof(double) * (size_t)L.n_state);
  if (!L.ok || !kps_model_is_differentiable(self, in->K, which)) {
    for (int k = 0; k < L.n_state; ++k) col[k] = NAN;
    return;
  }
  compute_derived(&c, dv, which, dtot);
  c.dv = dv;
  for (int r = 0; r < c.nw->n_reactions; ++r) {
    rx_arg a = {.rx = &c.nw->rx[r], .out = col, .which = which, .dtot = dtot};
    iterate(&c, &a.rx->loop, 0, dfdp_visit, &a);
  }
}

typedef struct out_arg {
  double O;
  double *dO;
} out_arg;

static void out_visit(ectx *c, void *arg) {
  out_arg *a = arg;
  double g[NET_MAX_SLOTS];
  leaf lv[NET_MAX_SLOTS];
  const int t = c->nw->out_term;
  if (!a->dO) {
    a->O += eval_val(c, t);
    return;
  }
  a->O += eval_dual(c, t, g, lv);
  for (int s = 0; s < c->nw->progs[t].n_slots; ++s) {
    if (lv[s].kind == LF_STATE) a->dO[lv[s].index] += g[s];
    else if (lv[s].kind == LF_NONE) a->O = NAN;
  }
}

static double output(const kps_model *self, const kps_inputs *in, const double *y,
                     double *dO_dy) {
  layout L;
  ectx c;
  setup(&c, self, in, y, &L);
  if (dO_dy) memset(dO_dy, 0, sizeof(double) * (size_t)L.n_state);
  if (!L.ok) return NAN;
  out_arg a = {.O = 0.0, .dO = dO_dy};
  iterate(&c, &c.nw->out_loop, 0, out_visit, &a);
  return a.O;
}

typedef struct chk_arg {
  const double *y;
  double floor;
  int bad;
} chk_arg;

static void check_one(int k, void *arg) {
  chk_arg *a = arg;
  if (!(a->y[k] >= a->floor)) a->bad = 1;
}

/* Each eliminated species and its states >= -tol * max(total, 1); the other
 * states >= -tol * (the largest total, at least 1). */
static int check_state(const kps_model *self, const kps_inputs *in, const double *y,
                       double tol) {
  layout L;
  ectx c;
  double dv[NET_MAX_DERIVED];
  setup(&c, self, in, y, &L);
  if (!L.ok) return 1;
  compute_derived(&c, dv, -1, NULL);
  double big = 1.0;
  for (int k = 0; k < L.n_derived; ++k) {
    const net_law *lw = derived_instance(&c, k);
    const double T = eval_val(&c, lw->total), scale = T > 1.0 ? T : 1.0;
    big = fmax(big, T);
    if (!(dv[k] >= -tol * scale)) return 1;
    chk_arg a = {.y = y, .floor = -tol * scale};
    walk_law(&c, lw, check_one, &a);
    if (a.bad) return 1;
  }
  for (int k = 0; k < L.n_state; ++k)
    if (!(y[k] >= -tol * big)) return 1;
  return 0;
}

static void state_name(const kps_model *self, const double *p, int K, int k, char *buf,
                       size_t n) {
  const net *nw = net_of(self);
  layout L;
  make_layout(nw, p, K, &L);
  snprintf(buf, n, "?");
  for (int f = 0; f < nw->n_families; ++f) {
    const net_family *fm = &nw->fam[f];
    if (fm->derived) continue;
    int count = 1;
    for (int d = 0; d < fm->dims.n; ++d) count *= L.size[f][d];
    int q = k - L.off[f];
    if (q < 0 || q >= count) continue;
    int s[NET_MAX_DIMS];
    for (int d = fm->dims.n; d-- > 0;) {
      s[d] = L.lo[f][d] + q % L.size[f][d];
      q /= L.size[f][d];
    }
    size_t used = (size_t)snprintf(buf, n, "%s", fm->name);
    for (int d = 0; d < fm->dims.n && used < n; ++d)
      used += (size_t)snprintf(buf + used, n - used, "%s%d", d ? "," : "[", s[d]);
    if (fm->dims.n && used < n) snprintf(buf + used, n - used, "]");
    return;
  }
}

/* The constraints of the file, and a layout that exists for the largest K. */
static int check_params(const kps_model *self, const double *p, char *why, size_t n) {
  const net *nw = net_of(self);
  ectx c = {.nw = nw, .p = p, .K = 1};
  for (int k = 0; k < nw->n_constraints; ++k) {
    const net_constraint *ct = &nw->cons[k];
    const double a = eval_val(&c, ct->lhs), b = eval_val(&c, ct->rhs);
    const int ok = ct->op == 0 ? a < b : ct->op == 1 ? a <= b : ct->op == 2 ? a > b : a >= b;
    if (!ok) {
      if (why && n) snprintf(why, n, "constraint \"%s\" fails (%g vs %g)", ct->text, a, b);
      return 1;
    }
  }
  layout L;
  make_layout(nw, p, NET_CHECK_K, &L);
  if (!L.ok) {
    if (why && n) snprintf(why, n, "the species ranges are empty or too large at these parameters");
    return 1;
  }
  return 0;
}

/* The table every network model starts from (models/network.c owns the
 * callbacks; network_parse.c the data). */
const kps_model kps_network_callbacks = {
    .check_params = check_params,
    .closed_form = NULL,
    .n_state = n_state,
    .initial_state = initial_state,
    .rhs = rhs,
    .jacobian = jacobian,
    .output = output,
    .dfdp = dfdp,
    .check_state = check_state,
    .state_name = state_name,
};

/* ---- the dry run of network_parse.c ------------------------------------- */

typedef struct dry_arg {
  const net_reaction *rx;
  const net_law *lw;
  int law_k;      /* the law instance (derived index) under test */
  int unbalanced; /* some reaction instance changes its total */
  int bad_ref, bad_rate;
  const int *members; /* states of the law instance (flags) */
} dry_arg;

static void mark(int k, void *arg) { ((int *)arg)[k] = 1; }

static void dry_visit(ectx *c, void *arg) {
  dry_arg *a = arg;
  double delta = 0.0;
  for (int t = 0; t < a->rx->n_stoich; ++t) {
    leaf lf;
    resolve(c, a->rx->st[t].ref, &lf);
    if (lf.kind == LF_NONE) a->bad_ref = 1;
    else if (a->members && ((lf.kind == LF_DERIVED && lf.index == a->law_k) ||
                            (lf.kind == LF_STATE && a->members[lf.index])))
      delta += a->rx->st[t].nu;
  }
  if (delta != 0.0) a->unbalanced = 1;
  if (a->members) return;
  double g[NET_MAX_SLOTS];
  leaf lv[NET_MAX_SLOTS];
  const double v = eval_dual(c, a->rx->rate, g, lv);
  for (int s = 0; s < c->nw->progs[a->rx->rate].n_slots; ++s)
    if (lv[s].kind == LF_NONE) a->bad_ref = 1;
  if (!isfinite(v)) a->bad_rate = 1;
}

int net_dry_run(const net *nw, const double *p, int K, int *line, int *column, char *why,
                size_t n) {
  layout L;
  make_layout(nw, p, K, &L);
  if (!L.ok) {
    *line = *column = 1;
    snprintf(why, n, "the species ranges are empty or too large at the defaults");
    return 1;
  }
  double y[4096], dv[NET_MAX_DERIVED], tau[NET_CHECK_K], Lig[NET_CHECK_K];
  int members[4096];
  if (L.n_state > 4096 || K > NET_CHECK_K) return 0; /* too large to dry-run: skip */
  for (int k = 0; k < L.n_state; ++k) y[k] = 1.0;
  for (int i = 0; i < K; ++i) tau[i] = Lig[i] = 1.0;
  const kps_inputs in = {.p = p, .K = K, .tau = tau, .L = Lig};
  ectx c = {.nw = nw, .p = p, .K = K, .in = &in, .y = y, .lay = &L};
  compute_derived(&c, dv, -1, NULL);
  c.dv = dv;
  for (int r = 0; r < nw->n_reactions; ++r) {
    const net_reaction *rx = &nw->rx[r];
    dry_arg a = {.rx = rx};
    *line = rx->line, *column = rx->column;
    iterate(&c, &rx->loop, 0, dry_visit, &a);
    if (a.bad_ref) {
      snprintf(why, n, "a species, tau or L index is out of its range at the defaults");
      return 1;
    }
    if (a.bad_rate) {
      snprintf(why, n, "the rate is not finite at the defaults (all states, tau, L = 1)");
      return 1;
    }
    for (int k = 0; k < L.n_derived; ++k) {
      const net_law *lw = derived_instance(&c, k);
      memset(members, 0, sizeof(int) * (size_t)L.n_state);
      walk_law(&c, lw, mark, members);
      int saved[NET_MAX_VARS];
      memcpy(saved, c.idx, sizeof saved);
      dry_arg b = {.rx = rx, .lw = lw, .law_k = k, .members = members};
      iterate(&c, &rx->loop, 0, dry_visit, &b);
      memcpy(c.idx, saved, sizeof saved);
      if (b.unbalanced) {
        snprintf(why, n, "the reaction changes the conserved total of %s (line %d): add the "
                 "missing species to its `contains`", nw->fam[lw->family].name, lw->line);
        return 1;
      }
    }
  }
  return 0;
}
