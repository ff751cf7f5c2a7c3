/*
 * The network model: the kps_model callbacks of a model read from a network
 * file (docs/networks.md). self->data is the `net` (src/network.h).
 *
 * Two layers: an interpreter that expands the templates (the layout, the
 * `for` ranges, index programs) for a given p and K, and plans, that
 * expansion done once per (K, integer parameters) into flat instance lists
 * with resolved programs and Jacobian scatter lists ("the expanded plan"
 * below). rhs, jacobian, dfdp, output, check_state and n_state run on plans
 * cached in the model instance, so a structural parameter may still differ
 * from point to point; the dry run, initial_state and state_name interpret.
 *
 * Derivatives are exact: each expression is evaluated in forward mode with
 * one direction per leaf occurrence (a species, parameter, tau or L), which
 * gives d rate / d leaf; the chain rule through the stoichiometry and the
 * conservation laws (d free / d contained state = -1, d free / d input =
 * d total / d input) assembles J = df/dy, df/dp and dO/dy.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

/*
 * One arithmetic operation on the value stack st, shared by the template
 * interpreter (eval_val) and the plan's (rval). Returns the new depth, or
 * -1 when op is a leaf or a constant, which each caller pushes itself.
 */
static int val_arith(int op, double *st, int sp) {
  switch (op) {
    case XO_ADD: --sp, st[sp - 1] += st[sp]; break;
    case XO_SUB: --sp, st[sp - 1] -= st[sp]; break;
    case XO_MUL: --sp, st[sp - 1] *= st[sp]; break;
    case XO_DIV: --sp, st[sp - 1] /= st[sp]; break;
    case XO_POW: --sp, st[sp - 1] = pow(st[sp - 1], st[sp]); break;
    case XO_NEG: st[sp - 1] = -st[sp - 1]; break;
    case XO_EXP: st[sp - 1] = exp(st[sp - 1]); break;
    case XO_LOG: st[sp - 1] = log(st[sp - 1]); break;
    case XO_SQRT: st[sp - 1] = sqrt(st[sp - 1]); break;
    default: return -1;
  }
  return sp;
}

/* The value of a program (no derivatives). */
static double eval_val(const ectx *c, int prog) {
  const net_prog *g = &c->nw->progs[prog];
  double st[NET_MAX_DEPTH];
  int sp = 0;
  for (int k = 0; k < g->n; ++k) {
    const net_op *o = &g->ops[k];
    const int next = val_arith(o->op, st, sp);
    if (next >= 0) {
      sp = next;
      continue;
    }
    leaf lf;
    switch (o->op) {
      case XO_CONST: st[sp++] = o->c; break;
      case XO_IPARAM: st[sp++] = c->p[o->a]; break;
      case XO_VAR: st[sp++] = c->idx[o->a]; break;
      default: st[sp++] = leaf_value(c, o, &lf); break;
    }
  }
  return st[0];
}

/*
 * One arithmetic operation of forward mode on the stack v (values) and d
 * (their derivatives, S directions): the same for the template interpreter
 * (eval_dual) and the plan's (rdual). Returns the new stack depth, or -1
 * when op is a leaf or a constant, which each caller pushes itself.
 */
static int dual_arith(int op, double *v, double (*d)[NET_MAX_SLOTS], int sp, int S) {
  double *a = sp >= 2 ? d[sp - 2] : NULL, *b = sp >= 1 ? d[sp - 1] : NULL;
  switch (op) {
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
    default:
      return -1;
  }
  return sp;
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
    const int next = dual_arith(o->op, v, d, sp, S);
    if (next >= 0) {
      sp = next;
      continue;
    }
    switch (o->op) {
      case XO_CONST:
      case XO_IPARAM:
      case XO_VAR:
        v[sp] = o->op == XO_CONST ? o->c : o->op == XO_IPARAM ? c->p[o->a] : c->idx[o->a];
        memset(d[sp], 0, sizeof(double) * (size_t)S);
        ++sp;
        break;
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

/* The eliminated species at y: dv[k] = total - sum of its states. */
static void compute_derived(ectx *c, double *dv) {
  for (int k = 0; k < c->lay->n_derived; ++k) {
    const net_law *lw = derived_instance(c, k);
    sum_arg a = {.y = c->y, .s = 0.0};
    walk_law(c, lw, add_state, &a);
    dv[k] = eval_val(c, lw->total) - a.s;
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

/* ---- the expanded plan -------------------------------------------------- */

/*
 * Expanding the templates (the layout, every reaction, law and output
 * instance, each index program) costs far more than the arithmetic of the
 * rates, and depends only on K and the integer parameters. A plan is that
 * expansion done once: flat lists of instances whose programs have every
 * index resolved (species to a state or eliminated slot, tau[e] and L[e] to
 * their index, index variables to constants) and, per leaf, the Jacobian
 * entries it feeds. The callbacks then only evaluate rates and scatter.
 *
 * The arithmetic is the interpreter's, in the same order (instances in loop
 * order, slots in program order, the same forward-mode rules), so f, J and
 * df/dp do not depend on whether a plan was cached. Rates of the shape
 * "coefficient * s_1 * ... * s_n" (s_j species; every `k:` rate, and most
 * written ones) are split: the species partials are products instead of
 * dual numbers (the multiplications forward mode performs on the non-zero
 * directions), and each distinct coefficient (kpr's 1/tau[i] for every n,
 * shp1's b + gamma S) is evaluated once per call with its partials.
 */

/* Resolved leaves, numbered after the net_opcode values. */
enum { RO_STATE = 64, RO_DERIVED, RO_NONE };

/* A resolved program: ops in plan->ops, one pleaf per slot in plan->lv. */
typedef struct rprog {
  int op0, n_ops;
  int lv0, n_slots;
  int k_ops; /* product form: the coefficient is ops[0, k_ops), then (species, *) pairs; else -1 */
} rprog;

/* What slot s is; `w` its input index (tau_i: i, L_i: K+i, p_j: 2K+j) or -1. */
typedef struct pleaf {
  int kind, index, w;
} pleaf;

/* out[at] += nu * value[gi]: f from the rates (gi an instance), J from the
 * partials (gi a slot of plan->lv; an eliminated species x = total - sum
 * y_j feeds -nu into each contained column j). In the interpreter's order. */
typedef struct scatter {
  int at, gi;
  double nu;
} scatter;

typedef struct prx {
  rprog rate;
  int q0, m;    /* the states it changes: plan->fsc[q0 .. q0 + m) */
  int coef;     /* product form: its coefficient in plan->coef; else -1 */
  int sp0, n_sp; /* product form: its species, plan->spi[sp0..] (indices into plan->w) */
} prx;

/* A distinct coefficient: the first k_ops ops and slots of its first rate. */
typedef struct pcoef {
  rprog k;
  int g0;      /* its partials, plan->kg[g0 .. g0 + k.n_slots) */
  int species; /* some slot is a species: J needs its partials */
} pcoef;

typedef struct pder {
  rprog total;
  int mem0, n_mem; /* its contained states, plan->mem[mem0..], in walk order */
} pder;

/* What df/d(input w) reads: the eliminated species whose total carries w,
 * the coefficients and the instances whose leaves do (directly or through
 * such a species), plan->wl[d0..], [c0..], [r0..]. The rest have d/dw = 0. */
typedef struct pwhich {
  int d0, nd, c0, nc, r0, nr;
} pwhich;

#define NET_PLANS 4 /* expansions kept: a line changes N or K rarely */

typedef struct net_plan {
  int valid;       /* built, and its key means something */
  long key[KPS_MAX_PARAMS + 1]; /* K, then each integer parameter as eval_int rounds it */
  unsigned long used;           /* last use, for eviction */
  layout lay;
  int n_rx, n_der, n_out;
  prx *rx;
  pder *der;
  rprog *out;
  pcoef *coef;
  net_op *ops;
  pleaf *lv;
  scatter *fsc, *jsc;
  int *mem, *spi;
  int n_which;  /* 2K + n_params */
  pwhich *wh;
  int *wl;
  /* Workspace: w = y, then the eliminated species, then NaN (what an index
   * out of range reads); the rates, the partials by slot, each
   * coefficient's value and partials, d total/d input and its flags. */
  double *w, *rv, *gp, *kv, *kg, *dtot, *g;
  int *dep, *kdep;
  int n_kg;
  int cap_rx, cap_out, cap_coef, cap_ops, cap_lv, cap_fsc, cap_jsc, cap_mem, cap_spi;
  int n_coef, n_ops, n_lv, n_fsc, n_jsc, n_mem, n_spi;
} net_plan;

/* The cache of a network model (net.cache): see net_cache_new. */
struct net_cache {
  unsigned long clock;
  net_plan plan[NET_PLANS];
};

static void plan_clear(net_plan *P) {
  free(P->rx), free(P->der), free(P->out), free(P->coef), free(P->ops), free(P->lv);
  free(P->fsc), free(P->jsc), free(P->mem), free(P->spi), free(P->w), free(P->rv);
  free(P->gp), free(P->kv), free(P->kg), free(P->dtot), free(P->g), free(P->dep), free(P->kdep);
  free(P->wh), free(P->wl);
  memset(P, 0, sizeof *P);
}

net_cache *net_cache_new(void) { return calloc(1, sizeof(net_cache)); }

void net_cache_free(net_cache *c) {
  if (!c) return;
  for (int k = 0; k < NET_PLANS; ++k) plan_clear(&c->plan[k]);
  free(c);
}

/* Room for `need` more items in *a (count n, capacity *cap); 1 when out of memory. */
static int grow(void **a, int *cap, int n, int need, size_t size) {
  if (n + need <= *cap) return 0;
  int c = *cap ? *cap : 16;
  while (c < n + need) c *= 2;
  void *b = realloc(*a, (size_t)c * size);
  if (!b) return 1;
  *a = b;
  *cap = c;
  return 0;
}

#define GROW(P, arr, need) \
  grow((void **)&(P)->arr, &(P)->cap_##arr, (P)->n_##arr, (need), sizeof *(P)->arr)

/* The build: the interpreter's context plus the plan filled and a failure flag. */
typedef struct bctx {
  net_plan *P;
  int fail;
  const net_reaction *rx; /* the reaction template being expanded */
  int k_ops;              /* its product form (product_ops) */
  int coef0;              /* its first coefficient in P->coef */
} bctx;

/* Appends program `prog` resolved at c->idx to the plan. */
static void resolve_prog(const ectx *c, bctx *b, int prog, int k_ops, rprog *out) {
  net_plan *P = b->P;
  const net_prog *g = &c->nw->progs[prog];
  if (b->fail || GROW(P, ops, g->n) || GROW(P, lv, g->n_slots)) {
    b->fail = 1;
    return;
  }
  *out = (rprog){.op0 = P->n_ops, .n_ops = g->n, .lv0 = P->n_lv, .n_slots = g->n_slots,
                 .k_ops = k_ops};
  for (int k = 0; k < g->n; ++k) {
    net_op o = g->ops[k];
    if (o.op == XO_VAR) {
      o = (net_op){.op = XO_CONST, .c = c->idx[o.a]};
    } else if (o.op == XO_PARAM || o.op == XO_TAU || o.op == XO_LIG || o.op == XO_SPECIES) {
      pleaf *l = &P->lv[P->n_lv + (int)o.c];
      *l = (pleaf){.kind = LF_NONE, .index = -1, .w = -1};
      if (o.op == XO_PARAM) {
        *l = (pleaf){.kind = LF_PARAM, .index = o.a, .w = 2 * c->K + o.a};
      } else if (o.op == XO_SPECIES) {
        leaf lf;
        resolve(c, o.a, &lf);
        l->kind = lf.kind, l->index = lf.index;
        o.op = lf.kind == LF_STATE ? RO_STATE : lf.kind == LF_DERIVED ? RO_DERIVED : RO_NONE;
        o.a = lf.index;
      } else {
        const long e = eval_int(c, o.a);
        if (e >= 0 && e < c->K) {
          const int tau = o.op == XO_TAU;
          *l = (pleaf){.kind = tau ? LF_TAU : LF_LIG, .index = (int)e,
                       .w = (tau ? 0 : c->K) + (int)e};
          o.a = (int)e;
        } else {
          o.op = RO_NONE;
        }
      }
    }
    P->ops[P->n_ops++] = o;
  }
  P->n_lv += g->n_slots;
}

/*
 * The product form of a rate program: a coefficient (any expression), then
 * (species, *) pairs. Returns the coefficient's op count, or -1.
 */
static int product_ops(const net_prog *g) {
  int k = g->n;
  while (k >= 3 && g->ops[k - 1].op == XO_MUL && g->ops[k - 2].op == XO_SPECIES) k -= 2;
  if (k == g->n) return -1;
  int depth = 0; /* 1 by construction; checked, as the split relies on it */
  for (int j = 0; j < k; ++j) {
    const int op = g->ops[j].op;
    if (op == XO_ADD || op == XO_SUB || op == XO_MUL || op == XO_DIV || op == XO_POW) --depth;
    else if (op != XO_NEG && op != XO_EXP && op != XO_LOG && op != XO_SQRT) ++depth;
  }
  return depth == 1 ? k : -1;
}

static void add_member(int k, void *arg) {
  bctx *b = arg;
  net_plan *P = b->P;
  if (b->fail || GROW(P, mem, 1)) {
    b->fail = 1;
    return;
  }
  P->mem[P->n_mem++] = k;
}

static int add_scatter(bctx *b, int jac, int at, int gi, double nu) {
  net_plan *P = b->P;
  if (b->fail || (jac ? GROW(P, jsc, 1) : GROW(P, fsc, 1))) return b->fail = 1;
  if (jac) P->jsc[P->n_jsc++] = (scatter){.at = at, .gi = gi, .nu = nu};
  else P->fsc[P->n_fsc++] = (scatter){.at = at, .gi = gi, .nu = nu};
  return 0;
}

/*
 * The coefficient of product-form instance g, shared with an earlier
 * instance of the same template whose coefficient reads the same (resolved
 * ops equal): each distinct one is evaluated once per call. Only the last
 * 64 are searched, which bounds the build; a miss costs speed only.
 */
static int plan_coef(bctx *b, const rprog *g) {
  net_plan *P = b->P;
  const rprog k = {.op0 = g->op0, .n_ops = g->k_ops, .lv0 = g->lv0,
                   .n_slots = g->n_slots - (g->n_ops - g->k_ops) / 2, .k_ops = -1};
  const net_op *a = P->ops + k.op0;
  for (int j = P->n_coef; j-- > b->coef0 && j >= P->n_coef - 64;) {
    const rprog *h = &P->coef[j].k;
    if (h->n_ops != k.n_ops) continue;
    const net_op *o = P->ops + h->op0;
    int same = 1;
    for (int e = 0; e < k.n_ops && same; ++e)
      same = o[e].op == a[e].op && o[e].a == a[e].a &&
             !memcmp(&o[e].c, &a[e].c, sizeof o[e].c);
    if (same) return j;
  }
  if (GROW(P, coef, 1)) return b->fail = 1, -1;
  pcoef *c = &P->coef[P->n_coef];
  *c = (pcoef){.k = k, .g0 = P->n_kg};
  for (int s = 0; s < k.n_slots; ++s) {
    const int kind = P->lv[k.lv0 + s].kind;
    c->species |= kind == LF_STATE || kind == LF_DERIVED;
  }
  P->n_kg += k.n_slots;
  return P->n_coef++;
}

/* One reaction instance: its changed states, its resolved rate and the
 * Jacobian entries of each species leaf (an eliminated one x = total -
 * sum y_j feeds -nu into each contained column j, in walk order). */
static void plan_rx_visit(ectx *c, void *arg) {
  bctx *b = arg;
  net_plan *P = b->P;
  int q[NET_MAX_STOICH];
  double nu[NET_MAX_STOICH];
  const int m = stoich_states(c, b->rx, q, nu);
  if (!m || b->fail) return;
  if (GROW(P, rx, 1)) {
    b->fail = 1;
    return;
  }
  prx *x = &P->rx[P->n_rx];
  *x = (prx){.q0 = P->n_fsc, .m = m, .coef = -1};
  for (int t = 0; t < m; ++t)
    if (add_scatter(b, 0, q[t], P->n_rx, nu[t])) return;
  resolve_prog(c, b, b->rx->rate, b->k_ops, &x->rate);
  if (b->fail) return;
  const int n = P->lay.n_state, nd = P->lay.n_derived;
  if (b->k_ops >= 0) {
    x->coef = plan_coef(b, &x->rate);
    x->n_sp = (x->rate.n_ops - b->k_ops) / 2;
    if (b->fail || GROW(P, spi, x->n_sp)) {
      b->fail = 1;
      return;
    }
    x->sp0 = P->n_spi;
    for (int j = 0; j < x->n_sp; ++j) {
      const net_op *o = &P->ops[x->rate.op0 + b->k_ops + 2 * j];
      P->spi[P->n_spi++] = o->op == RO_STATE ? o->a : o->op == RO_DERIVED ? n + o->a : n + nd;
    }
  }
  for (int s = 0; s < x->rate.n_slots; ++s) {
    const pleaf *l = &P->lv[x->rate.lv0 + s];
    const int gi = x->rate.lv0 + s;
    if (l->kind == LF_STATE) {
      for (int t = 0; t < m; ++t)
        if (add_scatter(b, 1, l->index * n + q[t], gi, nu[t])) return;
    } else if (l->kind == LF_DERIVED) {
      const pder *d = &P->der[l->index];
      for (int j = 0; j < d->n_mem; ++j)
        for (int t = 0; t < m; ++t)
          if (add_scatter(b, 1, P->mem[d->mem0 + j] * n + q[t], gi, -nu[t])) return;
    }
  }
  ++P->n_rx;
}

static void plan_out_visit(ectx *c, void *arg) {
  bctx *b = arg;
  net_plan *P = b->P;
  if (b->fail || GROW(P, out, 1)) {
    b->fail = 1;
    return;
  }
  resolve_prog(c, b, c->nw->out_term, -1, &P->out[P->n_out]);
  if (!b->fail) ++P->n_out;
}

static int plan_inputs(net_plan *P, int n_which);

/* Expands nw at (p, K) into the empty plan P; 0, or 1 when out of memory. */
static int plan_build(const net *nw, const double *p, int K, net_plan *P) {
  make_layout(nw, p, K, &P->lay);
  if (!P->lay.ok) return 0; /* the callbacks answer NaN: nothing to expand */
  const layout *L = &P->lay;
  ectx c = {.nw = nw, .p = p, .K = K, .lay = L};
  bctx b = {.P = P};
  const size_t nd = (size_t)L->n_derived;
  P->der = calloc(nd + 1, sizeof *P->der);
  P->w = calloc((size_t)L->n_state + nd + 1, sizeof *P->w);
  P->dtot = calloc(nd + 1, sizeof *P->dtot);
  P->dep = calloc(nd + 1, sizeof *P->dep);
  P->g = calloc(NET_MAX_SLOTS, sizeof *P->g);
  if (!P->der || !P->w || !P->dtot || !P->dep || !P->g) return 1;
  for (int k = 0; k < (int)nd; ++k) {
    const net_law *lw = derived_instance(&c, k);
    P->der[k].mem0 = P->n_mem;
    walk_law(&c, lw, add_member, &b);
    P->der[k].n_mem = P->n_mem - P->der[k].mem0;
    resolve_prog(&c, &b, lw->total, -1, &P->der[k].total);
    P->n_der = k + 1;
  }
  for (int r = 0; r < nw->n_reactions && !b.fail; ++r) {
    b.rx = &nw->rx[r];
    b.k_ops = product_ops(&nw->progs[b.rx->rate]);
    b.coef0 = P->n_coef;
    iterate(&c, &b.rx->loop, 0, plan_rx_visit, &b);
  }
  if (!b.fail) iterate(&c, &nw->out_loop, 0, plan_out_visit, &b);
  if (b.fail) return 1;
  P->kv = calloc((size_t)P->n_coef + 1, sizeof *P->kv);
  P->kdep = calloc((size_t)P->n_coef + 1, sizeof *P->kdep);
  P->kg = calloc((size_t)P->n_kg + 1, sizeof *P->kg);
  P->rv = calloc((size_t)P->n_rx + 1, sizeof *P->rv);
  P->gp = calloc((size_t)P->n_lv + 1, sizeof *P->gp);
  if (!P->kv || !P->kdep || !P->kg || !P->rv || !P->gp) return 1;
  return plan_inputs(P, 2 * K + nw->model.n_params);
}

/* Whether slots lv[0, S) carry input w (dep: the eliminated species that do). */
static int carries(const pleaf *lv, int S, int w, const int *dep) {
  for (int s = 0; s < S; ++s)
    if (lv[s].w == w || (dep && lv[s].kind == LF_DERIVED && dep[lv[s].index])) return 1;
  return 0;
}

/* The pwhich lists of every input; 1 when out of memory. */
static int plan_inputs(net_plan *P, int n_which) {
  const size_t per = (size_t)P->n_der + (size_t)P->n_coef + (size_t)P->n_rx;
  P->n_which = n_which;
  P->wh = calloc((size_t)n_which + 1, sizeof *P->wh);
  P->wl = malloc(sizeof *P->wl * (per * (size_t)n_which + 1));
  if (!P->wh || !P->wl) return 1;
  int n = 0, *dep = P->dep, *kdep = P->kdep;
  for (int w = 0; w < n_which; ++w) {
    pwhich *W = &P->wh[w];
    W->d0 = n;
    for (int k = 0; k < P->n_der; ++k) {
      const rprog *t = &P->der[k].total;
      if ((dep[k] = carries(P->lv + t->lv0, t->n_slots, w, NULL))) P->wl[n++] = k;
    }
    W->nd = n - W->d0, W->c0 = n;
    for (int j = 0; j < P->n_coef; ++j) {
      const rprog *t = &P->coef[j].k;
      if ((kdep[j] = carries(P->lv + t->lv0, t->n_slots, w, dep))) P->wl[n++] = j;
    }
    W->nc = n - W->c0, W->r0 = n;
    for (int k = 0; k < P->n_rx; ++k) {
      const prx *x = &P->rx[k];
      /* a product's coefficient slots count when the coefficient carries w */
      const int s0 = x->coef >= 0 && !kdep[x->coef] ? x->rate.n_slots - x->n_sp : 0;
      if (carries(P->lv + x->rate.lv0 + s0, x->rate.n_slots - s0, w, dep)) P->wl[n++] = k;
    }
    W->nr = n - W->r0;
  }
  return 0;
}

/*
 * The plan of (p, K), built on a miss. The cache is mutable state inside a
 * model instance that the callbacks (const self) update: that is safe
 * because a model instance is not shared between threads (each rank owns
 * its config's model and calls it from one thread, one call at a time; a
 * threaded caller needs one instance per thread) and the results do not
 * depend on what is cached. No globals are involved. NULL only when out of
 * memory.
 */
static net_plan *plan_of(const net *nw, const double *p, int K) {
  net_cache *C = nw->cache;
  long key[KPS_MAX_PARAMS + 1];
  int n_key = 0, keyed = 1;
  key[n_key++] = K;
  for (int j = 0; j < nw->model.n_params; ++j) {
    if (!(nw->params[j].flags & KPS_PARAM_INTEGER)) continue;
    /* eval_int's rounding; a value it cannot round is never cached */
    if (!(fabs(p[j]) < 1e15)) keyed = 0;
    else key[n_key++] = (long)(p[j] + (p[j] >= 0 ? 0.5 : -0.5));
  }
  net_plan *victim = &C->plan[0];
  for (int k = 0; k < NET_PLANS; ++k) {
    net_plan *P = &C->plan[k];
    if (keyed && P->valid && !memcmp(P->key, key, sizeof(long) * (size_t)n_key)) {
      P->used = ++C->clock;
      return P;
    }
    if (!P->valid) {
      if (victim->valid) victim = P; /* a free slot first */
    } else if (victim->valid && P->used < victim->used) {
      victim = P;
    }
  }
  plan_clear(victim);
  if (plan_build(nw, p, K, victim)) {
    plan_clear(victim);
    return NULL;
  }
  memcpy(victim->key, key, sizeof(long) * (size_t)n_key);
  victim->valid = keyed;
  victim->used = ++C->clock;
  return victim;
}

/* ---- evaluation of a plan ----------------------------------------------- */

/* The values a resolved program reads. */
typedef struct rctx {
  const double *p, *tau, *L, *y, *dv;
} rctx;

static double rleaf(const rctx *r, const net_op *o) {
  switch (o->op) {
    case XO_PARAM: return r->p[o->a];
    case XO_TAU: return r->tau[o->a];
    case XO_LIG: return r->L[o->a];
    case RO_STATE: return r->y[o->a];
    case RO_DERIVED: return r->dv[o->a];
    default: return NAN; /* RO_NONE: an index out of its range */
  }
}

/* The value of ops[0, n) (eval_val on a resolved program). */
static double rval(const rctx *r, const net_op *ops, int n) {
  double st[NET_MAX_DEPTH];
  int sp = 0;
  for (int k = 0; k < n; ++k) {
    const net_op *o = &ops[k];
    const int next = val_arith(o->op, st, sp);
    if (next >= 0) {
      sp = next;
      continue;
    }
    switch (o->op) {
      case XO_CONST: st[sp++] = o->c; break;
      case XO_IPARAM: st[sp++] = r->p[o->a]; break;
      default: st[sp++] = rleaf(r, o); break;
    }
  }
  return st[0];
}

/* Forward mode over ops[0, n) with S directions (eval_dual on a resolved
 * program): the value, and g[s] = d value / d slot s. */
static double rdual(const rctx *r, const net_op *ops, int n, int S, double *g) {
  double v[NET_MAX_DEPTH], d[NET_MAX_DEPTH][NET_MAX_SLOTS];
  int sp = 0;
  for (int k = 0; k < n; ++k) {
    const net_op *o = &ops[k];
    const int next = dual_arith(o->op, v, d, sp, S);
    if (next >= 0) {
      sp = next;
      continue;
    }
    switch (o->op) {
      case XO_CONST:
      case XO_IPARAM:
        v[sp] = o->op == XO_CONST ? o->c : r->p[o->a];
        memset(d[sp], 0, sizeof(double) * (size_t)S);
        ++sp;
        break;
      default:
        v[sp] = rleaf(r, o);
        memset(d[sp], 0, sizeof(double) * (size_t)S);
        if ((int)o->c < S) d[sp][(int)o->c] = 1.0; /* a slot past S: not asked for */
        ++sp;
        break;
    }
  }
  if (S) memcpy(g, d[0], sizeof(double) * (size_t)S);
  return v[0];
}

/*
 * Every distinct coefficient's value into P->kv and, where P->kdep is set,
 * its partials into P->kg (J: the coefficients with a species slot; df/dw:
 * those that carry w, set by the caller). The plan is const to its
 * callers; its workspace arrays are not.
 */
static void plan_coefs(const rctx *r, const net_plan *P) {
  for (int j = 0; j < P->n_coef; ++j) {
    const pcoef *c = &P->coef[j];
    const net_op *ops = P->ops + c->k.op0;
    P->kv[j] = P->kdep[j] ? rdual(r, ops, c->k.n_ops, c->k.n_slots, P->kg + c->g0)
                          : rval(r, ops, c->k.n_ops);
  }
}

/*
 * The partials of product-form instance x, k * s_1 * ... * s_n in postfix
 * order, into g[0 .. n_slots): species slot j gets (k s_1 .. s_(j-1)) *
 * s_(j+1) * .. * s_n and, when P->kdep, coefficient slot s gets kg[s] * s_1
 * * .. * s_n, both multiplied in forward mode's order (a * y + x * 0 is a *
 * y); the other coefficient slots are left alone (nothing reads them).
 */
static void product_partials(const net_plan *P, const prx *x, double *g) {
  const int *spi = P->spi + x->sp0, n = x->n_sp, S_k = x->rate.n_slots - n;
  const double *w = P->w;
  double pre = P->kv[x->coef];
  for (int j = 0; j < n; ++j) {
    double d = pre;
    for (int i = j + 1; i < n; ++i) d *= w[spi[i]];
    g[S_k + j] = d;
    pre *= w[spi[j]];
  }
  if (!P->kdep[x->coef]) return;
  const double *kg = P->kg + P->coef[x->coef].g0;
  for (int s = 0; s < S_k; ++s) {
    double d = kg[s];
    for (int j = 0; j < n; ++j) d *= w[spi[j]];
    g[s] = d;
  }
}

/*
 * w = y, the eliminated species (total - the sum of its states, as
 * compute_derived) and NaN; r->dv points at the middle part.
 */
static void plan_fill(const rctx *r, const net_plan *P, const double *y) {
  const int n = P->lay.n_state;
  memcpy(P->w, y, sizeof(double) * (size_t)n);
  for (int k = 0; k < P->n_der; ++k) {
    const pder *d = &P->der[k];
    double s = 0.0;
    for (int j = 0; j < d->n_mem; ++j) s += y[P->mem[d->mem0 + j]];
    P->w[n + k] = rval(r, P->ops + d->total.op0, d->total.n_ops) - s;
  }
  P->w[n + P->n_der] = NAN;
}

/* ---- callbacks ---------------------------------------------------------- */

static const net *net_of(const kps_model *self) { return self->data; }

/*
 * A flat network holds for its ligand_types Kf only, but the engine also
 * evaluates fewer types: the agonist alone (the antagonist, index 1, left
 * out, the self ligands kept) and the threshold (one type). Such a call sees
 * the network with the missing types at L = 0 (tau = 1, which then scales
 * nothing): input type 0 is the network's 0, input type i >= 1 its
 * i + Kf - K. K itself is the call's; every other callback uses Kf.
 */
typedef struct padded {
  kps_inputs in;
  double tau[NET_CHECK_K], L[NET_CHECK_K];
  int K;     /* the caller's ligand types */
  int shift; /* Kf - K: the network types 1..shift are the padding */
} padded;

static int pad_K(const net *nw, int K) {
  return nw->ligand_types > K ? nw->ligand_types : K;
}

static const kps_inputs *pad(const net *nw, const kps_inputs *in, padded *pd) {
  pd->K = in->K, pd->shift = 0;
  if (nw->ligand_types <= in->K) return in;
  const int Kf = nw->ligand_types;
  pd->shift = Kf - in->K;
  for (int i = 0; i < Kf; ++i) pd->tau[i] = 1.0, pd->L[i] = 0.0;
  for (int i = 0; i < in->K; ++i) {
    const int j = i == 0 ? 0 : i + pd->shift;
    pd->tau[j] = in->tau[i], pd->L[j] = in->L[i];
  }
  pd->in = (kps_inputs){.p = in->p, .K = Kf, .tau = pd->tau, .L = pd->L};
  return &pd->in;
}

/* An input index of the caller's numbering (model.h) in the padded one. */
static int pad_which(const padded *pd, int which) {
  if (!pd->shift) return which;
  const int K = pd->K, Kf = K + pd->shift;
  if (which >= 2 * K) return which - 2 * K + 2 * Kf;
  const int L = which >= K, i = which - L * K;
  return (i == 0 ? 0 : i + pd->shift) + L * Kf;
}

/* The plan of a call, and its state size in *n (also when there is no plan
 * or the layout is impossible: then the caller answers NaN). */
static const net_plan *plan_call(const kps_model *self, const double *p, int K, int *n) {
  const net *nw = net_of(self);
  const net_plan *P = plan_of(nw, p, K);
  if (P) {
    *n = P->lay.n_state;
    return P->lay.ok ? P : NULL;
  }
  layout L;
  make_layout(nw, p, K, &L);
  *n = L.n_state;
  return NULL;
}

static int n_state(const kps_model *self, const double *p, int K) {
  int n;
  plan_call(self, p, pad_K(net_of(self), K), &n);
  return n;
}

static void set_initial(ectx *c, void *arg) {
  const int f = *(const int *)arg;
  const net_family *fm = &c->nw->fam[f];
  long s[NET_MAX_DIMS];
  for (int d = 0; d < fm->dims.n; ++d) s[d] = c->idx[d];
  const int k = linear(c->lay, fm, f, s);
  if (k >= 0) ((double *)c->y)[k] = eval_val(c, fm->initial);
}

/* Only at cold starts: the interpreter, without a plan. */
static void initial_state(const kps_model *self, const kps_inputs *in_k, double *y) {
  const net *nw = net_of(self);
  padded pd;
  const kps_inputs *in = pad(nw, in_k, &pd);
  layout L;
  make_layout(nw, in->p, in->K, &L);
  ectx c = {.nw = nw, .p = in->p, .K = in->K, .in = in, .y = y, .lay = &L};
  memset(y, 0, sizeof(double) * (size_t)L.n_state);
  for (int f = 0; f < nw->n_families; ++f)
    if (!nw->fam[f].derived && nw->fam[f].initial >= 0)
      iterate(&c, &nw->fam[f].dims, 0, set_initial, &f);
}

static rctx plan_start(const net_plan *P, const kps_inputs *in, const double *y) {
  const rctx r = {.p = in->p, .tau = in->tau, .L = in->L, .y = y, .dv = P->w + P->lay.n_state};
  plan_fill(&r, P, y);
  return r;
}

static void rhs(const kps_model *self, const kps_inputs *in_k, const double *y, double *f) {
  padded pd;
  const kps_inputs *in = pad(net_of(self), in_k, &pd);
  int n;
  const net_plan *P = plan_call(self, in->p, in->K, &n);
  memset(f, 0, sizeof(double) * (size_t)n);
  if (!P) {
    for (int k = 0; k < n; ++k) f[k] = NAN;
    return;
  }
  const rctx r = plan_start(P, in, y);
  memset(P->kdep, 0, sizeof(int) * (size_t)P->n_coef);
  plan_coefs(&r, P);
  const double *w = P->w;
  for (int k = 0; k < P->n_rx; ++k) {
    const prx *x = &P->rx[k];
    if (x->coef < 0) {
      P->rv[k] = rval(&r, P->ops + x->rate.op0, x->rate.n_ops);
      continue;
    }
    double v = P->kv[x->coef];
    for (int j = 0; j < x->n_sp; ++j) v *= w[P->spi[x->sp0 + j]];
    P->rv[k] = v;
  }
  for (int e = 0; e < P->n_fsc; ++e) f[P->fsc[e].at] += P->fsc[e].nu * P->rv[P->fsc[e].gi];
}

/* J = df/dy: a memset, every instance's partials, then one pass over the
 * plan's scatter list (the nonzero pattern, in the interpreter's order). */
static void jacobian(const kps_model *self, const kps_inputs *in_k, const double *y,
                     double *J) {
  padded pd;
  const kps_inputs *in = pad(net_of(self), in_k, &pd);
  int n;
  const net_plan *P = plan_call(self, in->p, in->K, &n);
  const size_t nn = (size_t)n * (size_t)n;
  memset(J, 0, sizeof(double) * nn);
  if (!P) {
    for (size_t k = 0; k < nn; ++k) J[k] = NAN;
    return;
  }
  const rctx r = plan_start(P, in, y);
  for (int j = 0; j < P->n_coef; ++j) P->kdep[j] = P->coef[j].species;
  plan_coefs(&r, P);
  for (int k = 0; k < P->n_rx; ++k) {
    const prx *x = &P->rx[k];
    double *g = P->gp + x->rate.lv0;
    if (x->coef < 0) rdual(&r, P->ops + x->rate.op0, x->rate.n_ops, x->rate.n_slots, g);
    else product_partials(P, x, g);
  }
  for (int e = 0; e < P->n_jsc; ++e) J[P->jsc[e].at] += P->jsc[e].nu * P->gp[P->jsc[e].gi];
}

/*
 * df/d(input which), from the plan's lists for that input: an eliminated
 * species, coefficient or instance that does not carry it has d/d which = 0
 * exactly (the interpreter added partial * 0) and is not evaluated.
 */
static void dfdp(const kps_model *self, const kps_inputs *in_k, const double *y, int which_k,
                 double *col) {
  padded pd;
  const kps_inputs *in = pad(net_of(self), in_k, &pd);
  const int which = pad_which(&pd, which_k);
  int n;
  const net_plan *P = plan_call(self, in->p, in->K, &n);
  memset(col, 0, sizeof(double) * (size_t)n);
  if (!P || !kps_model_is_differentiable(self, in->K, which) || which >= P->n_which) {
    for (int k = 0; k < n; ++k) col[k] = NAN;
    return;
  }
  const pwhich *W = &P->wh[which];
  const int *wl = P->wl;
  const rctx r = plan_start(P, in, y);
  double *g = P->g, *dtot = P->dtot;
  memset(dtot, 0, sizeof(double) * (size_t)P->n_der);
  for (int e = 0; e < W->nd; ++e) {
    const int k = wl[W->d0 + e];
    const rprog *t = &P->der[k].total;
    const pleaf *lv = P->lv + t->lv0;
    rdual(&r, P->ops + t->op0, t->n_ops, t->n_slots, g);
    for (int s = 0; s < t->n_slots; ++s)
      if (lv[s].w == which) dtot[k] += g[s];
  }
  memset(P->kdep, 0, sizeof(int) * (size_t)P->n_coef);
  for (int e = 0; e < W->nc; ++e) P->kdep[wl[W->c0 + e]] = 1;
  plan_coefs(&r, P);
  for (int e = 0; e < W->nr; ++e) {
    const prx *x = &P->rx[wl[W->r0 + e]];
    const pleaf *lv = P->lv + x->rate.lv0;
    const int S = x->rate.n_slots;
    const int s0 = x->coef >= 0 && !P->kdep[x->coef] ? S - x->n_sp : 0;
    if (x->coef < 0) rdual(&r, P->ops + x->rate.op0, x->rate.n_ops, S, g);
    else product_partials(P, x, g);
    double dr = 0.0;
    for (int s = s0; s < S; ++s) {
      if (lv[s].w == which) dr += g[s];
      else if (lv[s].kind == LF_DERIVED) dr += g[s] * dtot[lv[s].index];
    }
    for (int t = 0; t < x->m; ++t) col[P->fsc[x->q0 + t].at] += P->fsc[x->q0 + t].nu * dr;
  }
}

static double output(const kps_model *self, const kps_inputs *in_k, const double *y,
                     double *dO_dy) {
  padded pd;
  const kps_inputs *in = pad(net_of(self), in_k, &pd);
  int n;
  const net_plan *P = plan_call(self, in->p, in->K, &n);
  if (dO_dy) memset(dO_dy, 0, sizeof(double) * (size_t)n);
  if (!P) return NAN;
  const rctx r = {.p = in->p, .tau = in->tau, .L = in->L, .y = y};
  double O = 0.0, *g = P->g;
  for (int k = 0; k < P->n_out; ++k) {
    const rprog *t = &P->out[k];
    const net_op *ops = P->ops + t->op0;
    if (!dO_dy) {
      O += rval(&r, ops, t->n_ops);
      continue;
    }
    O += rdual(&r, ops, t->n_ops, t->n_slots, g);
    const pleaf *lv = P->lv + t->lv0;
    for (int s = 0; s < t->n_slots; ++s) {
      if (lv[s].kind == LF_STATE) dO_dy[lv[s].index] += g[s];
      else if (lv[s].kind == LF_NONE) O = NAN;
    }
  }
  return O;
}

/* Each eliminated species and its states >= -tol * max(total, 1); the other
 * states >= -tol * (the largest total, at least 1). */
static int check_state(const kps_model *self, const kps_inputs *in_k, const double *y,
                       double tol) {
  padded pd;
  const kps_inputs *in = pad(net_of(self), in_k, &pd);
  int n;
  const net_plan *P = plan_call(self, in->p, in->K, &n);
  if (!P) return 1;
  const rctx r = {.p = in->p, .tau = in->tau, .L = in->L, .y = y};
  double big = 1.0;
  for (int k = 0; k < P->n_der; ++k) {
    const pder *d = &P->der[k];
    double s = 0.0;
    for (int j = 0; j < d->n_mem; ++j) s += y[P->mem[d->mem0 + j]];
    const double T = rval(&r, P->ops + d->total.op0, d->total.n_ops), scale = T > 1.0 ? T : 1.0;
    big = fmax(big, T);
    if (!(T - s >= -tol * scale)) return 1;
    for (int j = 0; j < d->n_mem; ++j)
      if (!(y[P->mem[d->mem0 + j]] >= -tol * scale)) return 1;
  }
  for (int k = 0; k < n; ++k)
    if (!(y[k] >= -tol * big)) return 1;
  return 0;
}

static void state_name(const kps_model *self, const double *p, int K, int k, char *buf,
                       size_t n) {
  const net *nw = net_of(self);
  layout L;
  make_layout(nw, p, pad_K(nw, K), &L);
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
  compute_derived(&c, dv);
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
