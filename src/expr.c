/*
 * The expression compiler of network files: recursive descent straight to a
 * postfix program (net_prog). Grammar, loosest first:
 *
 *   expr    = term { (+|-) term }      term  = unary { (*|/) unary }
 *   unary   = - unary | power          power = primary [ ^ unary ]
 *   primary = number | ( expr ) | exp|log|sqrt ( expr )
 *           | tau[e] | L[e] | index variable | parameter | Species[e, ...]
 *
 * Every leaf occurrence (parameter, tau, L, species) gets its own slot, the
 * direction of forward-mode derivatives (models/network.c): occurrences that
 * turn out to be the same quantity simply add up.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "network.h"

typedef struct xp {
  net *nw;
  const char *s;
  size_t len, pos;
  const net_for *loop;
  int kind;
  int prog;
  int failed;
  size_t at;
  char *why;
  size_t whylen;
} xp;

static int fail(xp *x, size_t at, const char *fmt, const char *arg) {
  if (x->failed) return -1;
  x->failed = 1;
  x->at = at;
  snprintf(x->why, x->whylen, fmt, arg);
  return -1;
}

static void skip(xp *x) {
  while (x->pos < x->len && isspace((unsigned char)x->s[x->pos])) ++x->pos;
}

static int peek(xp *x) {
  skip(x);
  return x->pos < x->len ? (unsigned char)x->s[x->pos] : 0;
}

static int emit(xp *x, int op, int a, double c) {
  if (x->failed) return -1;
  if (net_emit(x->nw, x->prog, op, a, c)) return fail(x, x->pos, "%sout of memory", "");
  return 0;
}

int net_new_prog(net *nw) {
  if (nw->n_progs == nw->cap_progs) {
    int cap = nw->cap_progs ? 2 * nw->cap_progs : 64;
    net_prog *g = realloc(nw->progs, (size_t)cap * sizeof *g);
    if (!g) return -1;
    nw->progs = g;
    nw->cap_progs = cap;
  }
  memset(&nw->progs[nw->n_progs], 0, sizeof nw->progs[0]);
  return nw->n_progs++;
}

int net_emit(net *nw, int prog, int op, int a, double c) {
  net_prog *g = &nw->progs[prog];
  if (g->n == g->cap) {
    int cap = g->cap ? 2 * g->cap : 8;
    net_op *o = realloc(g->ops, (size_t)cap * sizeof *o);
    if (!o) return -1;
    g->ops = o;
    g->cap = cap;
  }
  g->ops[g->n++] = (net_op){.op = op, .a = a, .c = c};
  if (op == XO_PARAM || op == XO_TAU || op == XO_LIG || op == XO_SPECIES) {
    g->ops[g->n - 1].c = g->n_slots++;
  }
  return 0;
}

int net_param(const net *nw, const char *name, size_t len) {
  for (int j = 0; j < nw->model.n_params; ++j)
    if (strlen(nw->param_names[j]) == len && !memcmp(nw->param_names[j], name, len)) return j;
  return -1;
}

int net_family_find(const net *nw, const char *name, size_t len) {
  for (int f = 0; f < nw->n_families; ++f)
    if (strlen(nw->fam[f].name) == len && !memcmp(nw->fam[f].name, name, len)) return f;
  return -1;
}

static int loop_var(const net_for *loop, const char *name, size_t len) {
  for (int v = 0; loop && v < loop->n; ++v)
    if (strlen(loop->name[v]) == len && !memcmp(loop->name[v], name, len)) return v;
  return -1;
}

static void parse_expr(xp *x);

/* A nested integer program for a subscript; returns its id (-1 for `*`). */
static int sub_prog(xp *x, int allow_star) {
  skip(x);
  if (allow_star && peek(x) == '*') {
    size_t save = x->pos++;
    int c = peek(x);
    if (c == ',' || c == ']') return -1;
    x->pos = save;
  }
  xp y = *x;
  y.kind = NET_X_INT;
  y.prog = net_new_prog(x->nw);
  if (y.prog < 0) return fail(x, x->pos, "%sout of memory", ""), -2;
  parse_expr(&y);
  x->pos = y.pos;
  if (y.failed) {
    x->failed = 1;
    x->at = y.at;
    return -2;
  }
  return y.prog;
}

static int ident_len(const xp *x) {
  size_t p = x->pos;
  while (p < x->len && (isalnum((unsigned char)x->s[p]) || x->s[p] == '_')) ++p;
  return (int)(p - x->pos);
}

/* Species[sub, ...] after the name: fills a new ref; returns its id. */
static int species_ref(xp *x, int f, size_t start, int allow_star) {
  net *nw = x->nw;
  const net_family *fm = &nw->fam[f];
  net_ref r = {.family = f};
  for (int d = 0; d < NET_MAX_DIMS; ++d) r.sub[d] = -1;
  int nsub = 0;
  if (peek(x) == '[') {
    ++x->pos;
    for (;;) {
      if (nsub >= fm->dims.n)
        return fail(x, x->pos, "species %s has fewer indices", fm->name);
      int p = sub_prog(x, allow_star);
      if (p < -1) return -1;
      r.sub[nsub++] = p;
      int c = peek(x);
      if (c == ',') {
        ++x->pos;
        continue;
      }
      if (c == ']') {
        ++x->pos;
        break;
      }
      return fail(x, x->pos, "expected , or ] in the indices of %s", fm->name);
    }
  }
  if (nsub != fm->dims.n) return fail(x, start, "species %s needs its indices", fm->name);
  if (nw->n_refs == nw->cap_refs) {
    int cap = nw->cap_refs ? 2 * nw->cap_refs : 64;
    net_ref *g = realloc(nw->refs, (size_t)cap * sizeof *g);
    if (!g) return fail(x, start, "%sout of memory", "");
    nw->refs = g;
    nw->cap_refs = cap;
  }
  nw->refs[nw->n_refs] = r;
  return nw->n_refs++;
}

static void parse_primary(xp *x) {
  int c = peek(x);
  const size_t start = x->pos;
  if (x->failed) return;
  if (c == '(') {
    ++x->pos;
    parse_expr(x);
    if (peek(x) != ')') fail(x, x->pos, "expected )%s", "");
    else ++x->pos;
    return;
  }
  if (isdigit(c) || c == '.') {
    char *end = NULL;
    char buf[64];
    size_t n = 0;
    while (x->pos + n < x->len && n < sizeof buf - 1 &&
           (isalnum((unsigned char)x->s[x->pos + n]) || x->s[x->pos + n] == '.' ||
            ((x->s[x->pos + n] == '+' || x->s[x->pos + n] == '-') && n > 0 &&
             (x->s[x->pos + n - 1] == 'e' || x->s[x->pos + n - 1] == 'E'))))
      ++n;
    memcpy(buf, x->s + x->pos, n);
    buf[n] = '\0';
    double v = strtod(buf, &end);
    if (end != buf + n || n == 0) {
      fail(x, start, "bad number \"%s\"", buf);
      return;
    }
    if (x->kind >= NET_X_INT && v != (double)(long)v) {
      fail(x, start, "%snot an integer (indices and ranges are integers)", "");
      return;
    }
    x->pos += n;
    emit(x, XO_CONST, 0, v);
    return;
  }
  if (!(isalpha(c) || c == '_')) {
    char t[2] = {(char)c, 0};
    fail(x, start, c ? "unexpected \"%s\"" : "unexpected end of expression%s", c ? t : "");
    return;
  }
  const int n = ident_len(x);
  char name[NET_NAME_LEN + 1];
  snprintf(name, sizeof name, "%.*s", n > NET_NAME_LEN ? NET_NAME_LEN : n, x->s + x->pos);
  x->pos += (size_t)n;
  const int is_int = x->kind >= NET_X_INT;
  int v = loop_var(x->loop, x->s + start, (size_t)n);
  if (v >= 0) {
    emit(x, XO_VAR, v, 0);
    return;
  }
  static const char *const fns[] = {"exp", "log", "sqrt"};
  static const int fops[] = {XO_EXP, XO_LOG, XO_SQRT};
  for (int k = 0; k < 3; ++k)
    if (!strcmp(name, fns[k]) && peek(x) == '(') {
      if (is_int) {
        fail(x, start, "%s() in an integer expression", name);
        return;
      }
      parse_primary(x);
      emit(x, fops[k], 0, 0);
      return;
    }
  if ((!strcmp(name, "tau") || !strcmp(name, "L")) && peek(x) == '[') {
    if (is_int || x->kind == NET_X_OUTPUT) {
      fail(x, start, is_int ? "%s[] in an integer expression"
                            : "%s[] in the output (it may use state species only)", name);
      return;
    }
    ++x->pos;
    int p = sub_prog(x, 0);
    if (p < 0) return;
    if (peek(x) != ']') {
      fail(x, x->pos, "expected ] after the ligand index of %s", name);
      return;
    }
    ++x->pos;
    emit(x, name[0] == 't' ? XO_TAU : XO_LIG, p, 0);
    return;
  }
  int j = net_param(x->nw, x->s + start, (size_t)n);
  if (j >= 0) {
    const int integer = x->nw->params[j].flags & KPS_PARAM_INTEGER;
    if (is_int && !integer) {
      fail(x, start, "parameter %s is not an integer", name);
      return;
    }
    if (!integer && x->kind == NET_X_OUTPUT) {
      fail(x, start, "parameter %s in the output (it may use state species only)", name);
      return;
    }
    emit(x, integer ? XO_IPARAM : XO_PARAM, j, 0);
    return;
  }
  int f = net_family_find(x->nw, x->s + start, (size_t)n);
  if (f >= 0) {
    if (is_int || x->kind == NET_X_PARAMS) {
      fail(x, start, "species %s not allowed here (no species in this expression)", name);
      return;
    }
    if (x->kind == NET_X_OUTPUT && x->nw->fam[f].derived) {
      fail(x, start, "eliminated species %s in the output (it may use state species only)",
           name);
      return;
    }
    int r = species_ref(x, f, start, 0);
    if (r >= 0) emit(x, XO_SPECIES, r, 0);
    return;
  }
  fail(x, start, "unknown name \"%s\" (not a parameter, species or index in scope)", name);
}

static void parse_unary(xp *x);

static void parse_power(xp *x) {
  parse_primary(x);
  if (peek(x) == '^') {
    if (x->kind >= NET_X_INT) {
      fail(x, x->pos, "%s^ in an integer expression", "");
      return;
    }
    ++x->pos;
    parse_unary(x);
    emit(x, XO_POW, 0, 0);
  }
}

static void parse_unary(xp *x) {
  if (peek(x) == '-') {
    ++x->pos;
    parse_unary(x);
    emit(x, XO_NEG, 0, 0);
    return;
  }
  if (peek(x) == '+') ++x->pos;
  parse_power(x);
}

static void parse_term(xp *x) {
  parse_unary(x);
  for (int c; !x->failed && ((c = peek(x)) == '*' || c == '/');) {
    if (c == '/' && x->kind >= NET_X_INT) {
      fail(x, x->pos, "%s/ in an integer expression", "");
      return;
    }
    ++x->pos;
    parse_unary(x);
    emit(x, c == '*' ? XO_MUL : XO_DIV, 0, 0);
  }
}

static void parse_expr(xp *x) {
  parse_term(x);
  for (int c; !x->failed && ((c = peek(x)) == '+' || c == '-');) {
    ++x->pos;
    parse_term(x);
    emit(x, c == '+' ? XO_ADD : XO_SUB, 0, 0);
  }
}

/* Stack depth and slot bounds of a finished value program. */
static int check_bounds(xp *x) {
  const net_prog *g = &x->nw->progs[x->prog];
  int depth = 0, most = 0;
  for (int k = 0; k < g->n; ++k) {
    const int op = g->ops[k].op;
    if (op <= XO_SPECIES) ++depth;
    else if (op <= XO_DIV || op == XO_POW) --depth;
    if (depth > most) most = depth;
  }
  if (most > NET_MAX_DEPTH) return fail(x, 0, "%sexpression nested too deeply", "");
  if (g->n_slots > NET_MAX_SLOTS)
    return fail(x, 0, "more than 16 references to species, parameters, tau or L%s", "");
  return 0;
}

int net_compile(net *nw, const char *text, size_t len, const net_for *loop, int kind,
                int *prog, size_t *at, char *why, size_t n) {
  xp x = {.nw = nw, .s = text, .len = len, .loop = loop, .kind = kind, .why = why,
          .whylen = n};
  if (kind == NET_X_PATTERN) {
    *prog = sub_prog(&x, 1);
    if (!x.failed && peek(&x)) fail(&x, x.pos, "%sunexpected text after the index", "");
    if (x.failed) *at = x.at;
    return x.failed ? -1 : 0;
  }
  x.prog = net_new_prog(nw);
  if (x.prog < 0) return fail(&x, 0, "%sout of memory", ""), *at = 0, -1;
  parse_expr(&x);
  if (!x.failed && peek(&x)) {
    char t[2] = {x.s[x.pos], 0};
    fail(&x, x.pos, "unexpected \"%s\"", t);
  }
  if (!x.failed) check_bounds(&x);
  if (x.failed) {
    *at = x.at;
    return -1;
  }
  *prog = x.prog;
  return 0;
}

int net_compile_ref(net *nw, const char *text, size_t len, const net_for *loop,
                    int patterns, int *ref, size_t *at, char *why, size_t n) {
  xp x = {.nw = nw, .s = text, .len = len, .loop = loop, .kind = NET_X_VALUE, .why = why,
          .whylen = n};
  skip(&x);
  const size_t start = x.pos;
  const int k = ident_len(&x);
  int f = k ? net_family_find(nw, x.s + start, (size_t)k) : -1;
  if (f < 0) {
    char name[NET_NAME_LEN + 1];
    snprintf(name, sizeof name, "%.*s", k > NET_NAME_LEN ? NET_NAME_LEN : k, x.s + start);
    fail(&x, start, k ? "unknown species \"%s\"" : "expected a species name%s", name);
  } else {
    x.pos += (size_t)k;
    *ref = species_ref(&x, f, start, patterns);
    if (!x.failed && peek(&x)) fail(&x, x.pos, "%sunexpected text after the species", "");
  }
  if (x.failed) *at = x.at;
  return x.failed ? -1 : 0;
}
