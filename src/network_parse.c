/*
 * The network-file reader: YAML (yaml_tree, with positions) -> net
 * (src/network.h). Errors are "SOURCE:LINE:COLUMN: KEY: reason" like the
 * job's; the column of an expression error points into the expression.
 */
#include "kpsweep/network.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "network.h"
#include "yaml_tree.h"

typedef struct nctx {
  net *nw;
  const char *source;
  char *err;
  size_t errlen;
} nctx;

__attribute__((format(printf, 5, 6))) static kps_err
nerr(const nctx *c, int line, int column, const char *key, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const kps_err rc = kps_error_vformat_at(c->err, c->errlen, c->source, line, column, key, fmt, ap);
  va_end(ap);
  return rc;
}

static kps_err at_node(const nctx *c, const kps_ynode *v, const char *key, const char *why) {
  return nerr(c, v ? v->line : 1, v ? v->column : 1, key, "%s", why);
}

static kps_err want(const nctx *c, const kps_ynode *v, kps_ynode_kind kind, const char *key) {
  if (!v) return nerr(c, 1, 1, key, "missing required key");
  if (v->kind != kind) {
    char why[96];
    snprintf(why, sizeof why, "expected %s, got %s", kps_ynode_kind_name(kind),
             kps_ynode_kind_name(v->kind));
    return at_node(c, v, key, why);
  }
  return KPS_OK;
}

/* Only the listed keys in a mapping. */
static kps_err known_keys(const nctx *c, const kps_ynode *map, const char *key,
                          const char *const *names) {
  for (size_t k = 0; k < map->n; ++k) {
    int found = 0;
    for (const char *const *s = names; *s; ++s) found |= !strcmp(map->keys[k]->text, *s);
    if (!found) {
      char why[160];
      snprintf(why, sizeof why, "unknown key \"%s\"", map->keys[k]->text);
      return at_node(c, map->keys[k], key, why);
    }
    for (size_t j = 0; j < k; ++j)
      if (!strcmp(map->keys[j]->text, map->keys[k]->text))
        return at_node(c, map->keys[k], key, "duplicate key");
  }
  return KPS_OK;
}

/* Compiles scalar v (an expression) with the error pointing into it. */
static kps_err expr_node(const nctx *c, const kps_ynode *v, const char *key,
                         const net_for *loop, int kind, int *prog) {
  kps_err rc = want(c, v, KPS_YNODE_SCALAR, key);
  if (rc) return rc;
  size_t at = 0;
  char why[256];
  if (net_compile(c->nw, v->text, v->len, loop, kind, prog, &at, why, sizeof why))
    return nerr(c, v->line, v->column + (v->plain ? 0 : 1) + (int)at, key, "%s", why);
  return KPS_OK;
}

static int valid_name(const char *s) {
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_')) return 0;
  for (const char *p = s; *p; ++p)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_'))
      return 0;
  return strlen(s) < NET_NAME_LEN;
}

static const char *const reserved[] = {"tau", "L", "exp", "log", "sqrt", "ligands", NULL};

/* A new top-level name: valid, not reserved, not taken. */
static kps_err new_name(const nctx *c, const kps_ynode *k, const char *key) {
  if (!valid_name(k->text))
    return at_node(c, k, key, "not a valid name (letters, digits, _; at most 31)");
  for (const char *const *r = reserved; *r; ++r)
    if (!strcmp(k->text, *r)) return at_node(c, k, key, "a reserved name");
  if (net_param(c->nw, k->text, strlen(k->text)) >= 0 ||
      net_family_find(c->nw, k->text, strlen(k->text)) >= 0)
    return at_node(c, k, key, "duplicate name (already a parameter or species)");
  return KPS_OK;
}

static kps_err number_node(const nctx *c, const kps_ynode *v, const char *key, double *out) {
  kps_err rc = want(c, v, KPS_YNODE_SCALAR, key);
  if (rc) return rc;
  char *end = NULL;
  if (!strcmp(v->text, "inf")) return *out = INFINITY, KPS_OK;
  *out = strtod(v->text, &end);
  if (!v->len || *end || !isfinite(*out)) return at_node(c, v, key, "expected a number");
  return KPS_OK;
}

static kps_err bool_node(const nctx *c, const kps_ynode *v, const char *key, int *out) {
  kps_err rc = want(c, v, KPS_YNODE_SCALAR, key);
  if (rc) return rc;
  if (!strcmp(v->text, "true")) *out = 1;
  else if (!strcmp(v->text, "false")) *out = 0;
  else return at_node(c, v, key, "expected true or false");
  return KPS_OK;
}

static kps_err parse_params(const nctx *c, const kps_ynode *v) {
  net *nw = c->nw;
  kps_err rc = want(c, v, KPS_YNODE_MAPPING, "parameters");
  if (rc) return rc;
  if (v->n > KPS_MAX_PARAMS) return at_node(c, v, "parameters", "at most 16 parameters");
  static const char *const keys[] = {"default", "min", "max", "integer", "positive",
                                     "steady_invariant", "unit", "doc", NULL};
  for (size_t k = 0; k < v->n; ++k) {
    char key[80];
    snprintf(key, sizeof key, "parameters.%s", v->keys[k]->text);
    if ((rc = new_name(c, v->keys[k], key))) return rc;
    const kps_ynode *m = v->items[k];
    if ((rc = want(c, m, KPS_YNODE_MAPPING, key)) || (rc = known_keys(c, m, key, keys))) return rc;
    const int j = nw->model.n_params;
    kps_param_info *pi = &nw->params[j];
    snprintf(nw->param_names[j], NET_NAME_LEN, "%s", v->keys[k]->text);
    pi->name = nw->param_names[j];
    pi->min = -INFINITY, pi->max = INFINITY;
    int integer = 0, positive = 0, invariant = 0;
    const kps_ynode *d = kps_ynode_get(m, "default");
    if (!d) return at_node(c, m, key, "missing required key \"default\"");
    if ((rc = number_node(c, d, key, &pi->def))) return rc;
    const kps_ynode *x;
    if ((x = kps_ynode_get(m, "min")) && (rc = number_node(c, x, key, &pi->min))) return rc;
    if ((x = kps_ynode_get(m, "max")) && (rc = number_node(c, x, key, &pi->max))) return rc;
    if ((x = kps_ynode_get(m, "integer")) && (rc = bool_node(c, x, key, &integer))) return rc;
    if ((x = kps_ynode_get(m, "positive")) && (rc = bool_node(c, x, key, &positive))) return rc;
    if ((x = kps_ynode_get(m, "steady_invariant")) && (rc = bool_node(c, x, key, &invariant)))
      return rc;
    if (positive) pi->min = KPS_POSITIVE_MIN;
    pi->flags = (integer ? KPS_PARAM_INTEGER | KPS_PARAM_STRUCTURAL : 0u) |
                (invariant ? KPS_PARAM_STEADY_INVARIANT : 0u);
    for (int s = 0; s < 2; ++s) {
      x = kps_ynode_get(m, s ? "doc" : "unit");
      if (x && (rc = want(c, x, KPS_YNODE_SCALAR, key))) return rc;
      char *dst = s ? nw->param_docs[j] : nw->param_units[j];
      snprintf(dst, s ? sizeof nw->param_docs[j] : sizeof nw->param_units[j], "%s",
               x ? x->text : "");
    }
    pi->unit = nw->param_units[j];
    pi->doc = nw->param_docs[j];
    if (!(pi->min <= pi->def && pi->def <= pi->max) || (integer && pi->def != floor(pi->def)))
      return at_node(c, d, key, "the default is outside [min, max] or not an integer");
    nw->model.n_params = j + 1;
  }
  return KPS_OK;
}

/* A range scalar: "ligands" or "LO..HI" (integer expressions, inclusive). */
static kps_err range_node(const nctx *c, const kps_ynode *v, const char *key,
                          const net_for *scope, net_range *r) {
  kps_err rc = want(c, v, KPS_YNODE_SCALAR, key);
  if (rc) return rc;
  if (!strcmp(v->text, "ligands")) return r->ligands = 1, KPS_OK;
  const char *dots = strstr(v->text, "..");
  if (!dots) return at_node(c, v, key, "expected `ligands` or a range LO..HI");
  r->ligands = 0;
  size_t at = 0;
  char why[256];
  const int col = v->column + (v->plain ? 0 : 1);
  if (net_compile(c->nw, v->text, (size_t)(dots - v->text), scope, NET_X_INT, &r->lo, &at, why,
                  sizeof why))
    return nerr(c, v->line, col + (int)at, key, "%s", why);
  const size_t off = (size_t)(dots + 2 - v->text);
  if (net_compile(c->nw, dots + 2, v->len - off, scope, NET_X_INT, &r->hi, &at, why, sizeof why))
    return nerr(c, v->line, col + (int)(off + at), key, "%s", why);
  return KPS_OK;
}

/* A `for`/`index` mapping {var: range, ...}; each range sees the earlier
 * variables (when `nested`). */
static kps_err for_node(const nctx *c, const kps_ynode *v, const char *key, int nested,
                        net_for *out) {
  out->n = 0;
  if (!v) return KPS_OK;
  kps_err rc = want(c, v, KPS_YNODE_MAPPING, key);
  if (rc) return rc;
  if (v->n > NET_MAX_VARS) return at_node(c, v, key, "at most 6 indices");
  for (size_t k = 0; k < v->n; ++k) {
    const char *name = v->keys[k]->text;
    if (!valid_name(name)) return at_node(c, v->keys[k], key, "not a valid index name");
    if (net_param(c->nw, name, strlen(name)) >= 0 ||
        net_family_find(c->nw, name, strlen(name)) >= 0)
      return at_node(c, v->keys[k], key, "index name already names a parameter or species");
    for (int j = 0; j < out->n; ++j)
      if (!strcmp(out->name[j], name)) return at_node(c, v->keys[k], key, "duplicate index");
    const net_for scope = *out;
    if ((rc = range_node(c, v->items[k], key, nested ? &scope : NULL, &out->r[out->n]))) return rc;
    snprintf(out->name[out->n], NET_NAME_LEN, "%s", name);
    ++out->n;
  }
  return KPS_OK;
}

/* Declares one family (species or eliminated species). */
static kps_err add_family(const nctx *c, const kps_ynode *k, const kps_ynode *m, const char *key,
                          int derived, int *f) {
  net *nw = c->nw;
  kps_err rc = new_name(c, k, key);
  if (rc) return rc;
  if (nw->n_families == NET_MAX_FAMILIES) return at_node(c, k, key, "at most 32 species");
  if (m && (rc = want(c, m, KPS_YNODE_MAPPING, key))) return rc;
  net_family *fm = &nw->fam[nw->n_families];
  memset(fm, 0, sizeof *fm);
  snprintf(fm->name, NET_NAME_LEN, "%s", k->text);
  fm->line = k->line, fm->column = k->column;
  fm->derived = derived;
  fm->initial = -1;
  if ((rc = for_node(c, m ? kps_ynode_get(m, "index") : NULL, key, 0, &fm->dims))) return rc;
  if (fm->dims.n > NET_MAX_DIMS) return at_node(c, m, key, "at most 4 indices");
  *f = nw->n_families++;
  return KPS_OK;
}

static kps_err parse_species(const nctx *c, const kps_ynode *v) {
  kps_err rc = want(c, v, KPS_YNODE_MAPPING, "species");
  if (rc) return rc;
  static const char *const keys[] = {"index", "initial", "doc", NULL};
  for (size_t k = 0; k < v->n; ++k) {
    char key[80];
    snprintf(key, sizeof key, "species.%s", v->keys[k]->text);
    const kps_ynode *m = v->items[k];
    if (m->kind == KPS_YNODE_SCALAR && m->len == 0) m = NULL; /* `S:` alone */
    if (m && m->kind == KPS_YNODE_MAPPING && (rc = known_keys(c, m, key, keys))) return rc;
    int f;
    if ((rc = add_family(c, v->keys[k], m, key, 0, &f))) return rc;
  }
  return KPS_OK;
}

/* Conservation: the eliminated species are declared first (names), then
 * their laws are compiled once every family is known. */
static kps_err declare_laws(const nctx *c, const kps_ynode *v) {
  kps_err rc = want(c, v, KPS_YNODE_MAPPING, "conservation");
  if (rc) return rc;
  static const char *const keys[] = {"index", "total", "contains", "doc", NULL};
  for (size_t k = 0; k < v->n; ++k) {
    char key[80];
    snprintf(key, sizeof key, "conservation.%s", v->keys[k]->text);
    if ((rc = want(c, v->items[k], KPS_YNODE_MAPPING, key)) ||
        (rc = known_keys(c, v->items[k], key, keys)))
      return rc;
    int f;
    if ((rc = add_family(c, v->keys[k], v->items[k], key, 1, &f))) return rc;
  }
  c->nw->laws = calloc(v->n ? v->n : 1, sizeof *c->nw->laws);
  return c->nw->laws ? KPS_OK : KPS_ERR_NOMEM;
}

static kps_err compile_laws(const nctx *c, const kps_ynode *v) {
  net *nw = c->nw;
  kps_err rc = KPS_OK;
  for (size_t k = 0; k < v->n; ++k) {
    char key[80];
    snprintf(key, sizeof key, "conservation.%s", v->keys[k]->text);
    const kps_ynode *m = v->items[k];
    const int f = net_family_find(nw, v->keys[k]->text, v->keys[k]->len);
    net_law *lw = &nw->laws[nw->n_laws];
    lw->family = f;
    lw->line = v->keys[k]->line, lw->column = v->keys[k]->column;
    nw->fam[f].law = nw->n_laws++;
    const net_for *scope = &nw->fam[f].dims;
    const kps_ynode *t = kps_ynode_get(m, "total");
    if (!t) return at_node(c, m, key, "missing required key \"total\"");
    if ((rc = expr_node(c, t, key, scope, NET_X_PARAMS, &lw->total))) return rc;
    const kps_ynode *s = kps_ynode_get(m, "contains");
    if ((rc = want(c, s ? s : m, s ? KPS_YNODE_SEQUENCE : KPS_YNODE_SEQUENCE, key))) {
      if (!s) return at_node(c, m, key, "missing required key \"contains\" (a list of species)");
      return rc;
    }
    if (s->n == 0) return at_node(c, s, key, "must list the species that hold it");
    lw->terms = calloc(s->n, sizeof *lw->terms);
    if (!lw->terms) return KPS_ERR_NOMEM;
    for (size_t j = 0; j < s->n; ++j) {
      const kps_ynode *e = s->items[j];
      if ((rc = want(c, e, KPS_YNODE_SCALAR, key))) return rc;
      size_t at = 0;
      char why[256];
      int ref;
      if (net_compile_ref(nw, e->text, e->len, scope, 1, &ref, &at, why, sizeof why))
        return nerr(c, e->line, e->column + (e->plain ? 0 : 1) + (int)at, key, "%s", why);
      if (nw->fam[nw->refs[ref].family].derived)
        return at_node(c, e, key,
                       "cyclic conservation: this species is itself eliminated by a law");
      lw->terms[lw->n_terms++] = ref;
    }
  }
  return KPS_OK;
}

/* One side of "A + 2 B[i] -> C": adds the species with sign. */
static kps_err side(const nctx *c, const kps_ynode *e, const char *key, const char *s, size_t len,
                    size_t base, const net_for *loop, double sign, net_reaction *rx,
                    int mass_action_prog) {
  size_t p = 0;
  while (p < len) {
    while (p < len && s[p] == ' ') ++p;
    size_t q = p;
    int depth = 0;
    while (q < len && (depth || s[q] != '+')) depth += s[q] == '[' ? 1 : s[q] == ']' ? -1 : 0, ++q;
    size_t end = q;
    while (end > p && s[end - 1] == ' ') --end;
    const int col = e->column + (e->plain ? 0 : 1) + (int)(base + p);
    if (end == p) return nerr(c, e->line, col, key, "empty species term");
    if (end - p == 1 && s[p] == '0' && len - p == 1) return KPS_OK; /* "0": nothing */
    double coef = 1.0;
    size_t r = p;
    while (r < end && s[r] >= '0' && s[r] <= '9') ++r;
    if (r > p) {
      coef = strtod(s + p, NULL);
      if (coef < 1) return nerr(c, e->line, col, key, "bad stoichiometric coefficient");
    }
    size_t at = 0;
    char why[256];
    int ref;
    if (net_compile_ref(c->nw, s + r, end - r, loop, 0, &ref, &at, why, sizeof why))
      return nerr(c, e->line, col + (int)(r - p + at), key, "%s", why);
    if (rx->n_stoich == NET_MAX_STOICH) return nerr(c, e->line, col, key, "at most 8 species");
    rx->st[rx->n_stoich++] = (net_stoich){.ref = ref, .nu = sign * coef};
    if (mass_action_prog >= 0)
      for (int k = 0; k < (int)coef; ++k)
        if (net_emit(c->nw, mass_action_prog, XO_SPECIES, ref, 0) ||
            net_emit(c->nw, mass_action_prog, XO_MUL, 0, 0))
          return KPS_ERR_NOMEM;
    p = q + 1;
  }
  return KPS_OK;
}

static kps_err parse_reactions(const nctx *c, const kps_ynode *v) {
  net *nw = c->nw;
  kps_err rc = want(c, v, KPS_YNODE_SEQUENCE, "reactions");
  if (rc) return rc;
  if (v->n == 0) return at_node(c, v, "reactions", "must not be empty");
  nw->rx = calloc(v->n, sizeof *nw->rx);
  if (!nw->rx) return KPS_ERR_NOMEM;
  static const char *const keys[] = {"for", "eq", "k", "rate", "doc", NULL};
  for (size_t k = 0; k < v->n; ++k) {
    char key[64];
    snprintf(key, sizeof key, "reactions[%zu]", k);
    const kps_ynode *m = v->items[k];
    if ((rc = want(c, m, KPS_YNODE_MAPPING, key)) || (rc = known_keys(c, m, key, keys))) return rc;
    net_reaction *rx = &nw->rx[nw->n_reactions++];
    rx->line = m->line, rx->column = m->column;
    if ((rc = for_node(c, kps_ynode_get(m, "for"), key, 1, &rx->loop))) return rc;
    const kps_ynode *eq = kps_ynode_get(m, "eq"), *kk = kps_ynode_get(m, "k"),
                    *rate = kps_ynode_get(m, "rate");
    if (!eq) return at_node(c, m, key, "missing required key \"eq\" (\"A + B -> C\")");
    if ((rc = want(c, eq, KPS_YNODE_SCALAR, key))) return rc;
    if (!kk == !rate)
      return at_node(c, m, key, "give exactly one of `k` (mass action) and `rate`");
    const char *arrow = strstr(eq->text, "->");
    if (!arrow) return at_node(c, eq, key, "expected \"REACTANTS -> PRODUCTS\"");
    int ma = -1;
    if (kk) {
      if ((rc = expr_node(c, kk, key, &rx->loop, NET_X_VALUE, &ma))) return rc;
      rx->rate = ma;
    } else if ((rc = expr_node(c, rate, key, &rx->loop, NET_X_VALUE, &rx->rate))) {
      return rc;
    }
    const size_t a = (size_t)(arrow - eq->text);
    if ((rc = side(c, eq, key, eq->text, a, 0, &rx->loop, -1.0, rx, ma))) return rc;
    if ((rc = side(c, eq, key, arrow + 2, eq->len - a - 2, a + 2, &rx->loop, 1.0, rx, -1)))
      return rc;
    if (ma >= 0 && nw->progs[ma].n_slots > NET_MAX_SLOTS)
      return at_node(c, kk, key, "more than 16 references in the mass-action rate");
  }
  return KPS_OK;
}

static kps_err parse_constraints(const nctx *c, const kps_ynode *v) {
  net *nw = c->nw;
  kps_err rc = want(c, v, KPS_YNODE_SEQUENCE, "constraints");
  if (rc) return rc;
  nw->cons = calloc(v->n ? v->n : 1, sizeof *nw->cons);
  if (!nw->cons) return KPS_ERR_NOMEM;
  static const char *const ops[] = {"<=", ">=", "<", ">"};
  static const int codes[] = {1, 3, 0, 2};
  for (size_t k = 0; k < v->n; ++k) {
    const kps_ynode *e = v->items[k];
    if ((rc = want(c, e, KPS_YNODE_SCALAR, "constraints"))) return rc;
    net_constraint *ct = &nw->cons[nw->n_constraints++];
    snprintf(ct->text, sizeof ct->text, "%s", e->text);
    const char *at = NULL;
    int which = -1;
    for (int o = 0; o < 4 && !at; ++o)
      if ((at = strstr(e->text, ops[o]))) which = o;
    if (!at) return at_node(c, e, "constraints", "expected LHS < RHS (or <=, >, >=)");
    ct->op = codes[which];
    size_t pos = 0;
    char why[256];
    const int col = e->column + (e->plain ? 0 : 1);
    if (net_compile(nw, e->text, (size_t)(at - e->text), NULL, NET_X_PARAMS, &ct->lhs, &pos, why,
                    sizeof why))
      return nerr(c, e->line, col + (int)pos, "constraints", "%s", why);
    const size_t off = (size_t)(at - e->text) + strlen(ops[which]);
    if (net_compile(nw, e->text + off, e->len - off, NULL, NET_X_PARAMS, &ct->rhs, &pos, why,
                    sizeof why))
      return nerr(c, e->line, col + (int)(off + pos), "constraints", "%s", why);
  }
  return KPS_OK;
}

static kps_err parse_output(const nctx *c, const kps_ynode *v) {
  net *nw = c->nw;
  if (!v) return nerr(c, 1, 1, "output", "missing required key");
  if (v->kind == KPS_YNODE_SCALAR) return expr_node(c, v, "output", NULL, NET_X_OUTPUT, &nw->out_term);
  static const char *const keys[] = {"for", "sum", "doc", NULL};
  kps_err rc = want(c, v, KPS_YNODE_MAPPING, "output");
  if (rc || (rc = known_keys(c, v, "output", keys))) return rc;
  if ((rc = for_node(c, kps_ynode_get(v, "for"), "output", 1, &nw->out_loop))) return rc;
  const kps_ynode *s = kps_ynode_get(v, "sum");
  if (!s) return at_node(c, v, "output", "missing required key \"sum\" (the summed term)");
  return expr_node(c, s, "output", &nw->out_loop, NET_X_OUTPUT, &nw->out_term);
}

static kps_err parse_initial(const nctx *c, const kps_ynode *species) {
  kps_err rc = KPS_OK;
  for (size_t k = 0; species && k < species->n; ++k) {
    const kps_ynode *m = species->items[k], *x;
    if (m->kind != KPS_YNODE_MAPPING || !(x = kps_ynode_get(m, "initial"))) continue;
    const int f = net_family_find(c->nw, species->keys[k]->text, species->keys[k]->len);
    char key[80];
    snprintf(key, sizeof key, "species.%s.initial", species->keys[k]->text);
    if ((rc = expr_node(c, x, key, &c->nw->fam[f].dims, NET_X_PARAMS, &c->nw->fam[f].initial)))
      return rc;
  }
  return KPS_OK;
}

static kps_err parse_root(const nctx *c, const kps_ynode *root) {
  net *nw = c->nw;
  static const char *const keys[] = {"name", "summary", "parameters", "constraints", "species",
                                     "conservation", "reactions", "output", "doc",
                                     "ligand_types", NULL};
  kps_err rc = want(c, root, KPS_YNODE_MAPPING, "network");
  if (rc || (rc = known_keys(c, root, "network", keys))) return rc;
  const kps_ynode *name = kps_ynode_get(root, "name"), *x;
  if ((rc = want(c, name, KPS_YNODE_SCALAR, "name"))) return rc;
  if (!valid_name(name->text)) return at_node(c, name, "name", "not a valid name");
  snprintf(nw->name, sizeof nw->name, "%s", name->text);
  if ((x = kps_ynode_get(root, "summary")) && (rc = want(c, x, KPS_YNODE_SCALAR, "summary")))
    return rc;
  snprintf(nw->summary, sizeof nw->summary, "%s", x ? x->text : "network file");
  if ((rc = parse_params(c, kps_ynode_get(root, "parameters")))) return rc;
  const kps_ynode *species = kps_ynode_get(root, "species"), *laws = kps_ynode_get(root, "conservation");
  if ((rc = parse_species(c, species))) return rc;
  if (laws && (rc = declare_laws(c, laws))) return rc;
  if (laws && (rc = compile_laws(c, laws))) return rc;
  if ((rc = parse_initial(c, species))) return rc;
  if ((x = kps_ynode_get(root, "constraints")) && (rc = parse_constraints(c, x))) return rc;
  if ((rc = parse_reactions(c, kps_ynode_get(root, "reactions")))) return rc;
  if ((rc = parse_output(c, kps_ynode_get(root, "output")))) return rc;
  /* The dry runs check references, finiteness and conservation per K. */
  double p[KPS_MAX_PARAMS];
  for (int j = 0; j < nw->model.n_params; ++j) p[j] = nw->params[j].def;
  char why[256] = "";
  if (nw->model.check_params(&nw->model, p, why, sizeof why))
    return nerr(c, root->line, root->column, "parameters", "the defaults are invalid: %s", why);
  /* A flat network (an SBML import) names L[0], tau[1], ... literally and
   * holds for one K only: `ligand_types` says which, and is dry-run alone. */
  int k_lo = 1, k_hi = 3;
  if ((x = kps_ynode_get(root, "ligand_types"))) {
    double k = 0;
    if ((rc = number_node(c, x, "ligand_types", &k))) return rc;
    if (k != floor(k) || k < 1 || k > 10)
      return at_node(c, x, "ligand_types", "expected an integer in 1..10");
    k_lo = k_hi = nw->ligand_types = (int)k;
  }
  for (int K = k_lo; K <= k_hi; ++K) {
    int line, column;
    if (net_dry_run(nw, p, K, &line, &column, why, sizeof why))
      return nerr(c, line, column, "reactions", "%s", why);
  }
  return KPS_OK;
}

void net_free(net *nw) {
  if (!nw) return;
  for (int k = 0; k < nw->n_progs; ++k) free(nw->progs[k].ops);
  free(nw->progs);
  free(nw->refs);
  for (int k = 0; k < nw->n_laws; ++k) free(nw->laws[k].terms);
  free(nw->laws);
  free(nw->rx);
  free(nw->cons);
  net_cache_free(nw->cache);
  free(nw);
}

kps_err kps_network_parse(const char *source, const char *text, size_t len,
                          const kps_model **out, char *err, size_t errlen) {
  kps_err rc = KPS_OK;
  kps_ynode *root = NULL;
  kps_yerror yerr;
  char local[8];
  net *nw = calloc(1, sizeof *nw);
  if (nw && !(nw->cache = net_cache_new())) free(nw), nw = NULL;
  nctx c = {.nw = nw, .source = source ? source : "<network>",
            .err = (err && errlen) ? err : local, .errlen = (err && errlen) ? errlen : sizeof local};
  *out = NULL;
  c.err[0] = '\0';
  if (!nw) {
    snprintf(c.err, c.errlen, "%s: out of memory", c.source);
    return KPS_ERR_NOMEM;
  }
  nw->model = kps_network_callbacks;
  nw->model.data = nw;
  nw->model.params = nw->params;
  nw->model.name = nw->name;
  nw->model.summary = nw->summary;
  rc = kps_ytree_load(text, len, &root, &yerr);
  if (rc) {
    snprintf(c.err, c.errlen, "%s:%d:%d: yaml: %s", c.source, yerr.line, yerr.column, yerr.reason);
    goto cleanup;
  }
  if (!root) {
    rc = nerr(&c, 1, 1, "network", "empty network file");
    goto cleanup;
  }
  rc = parse_root(&c, root);
  if (rc == KPS_ERR_NOMEM && !c.err[0]) snprintf(c.err, c.errlen, "%s: out of memory", c.source);
cleanup:
  kps_ytree_free(root);
  if (rc) net_free(nw);
  else *out = &nw->model;
  return rc;
}

int kps_model_is_network(const kps_model *m) {
  return m && m->rhs == kps_network_callbacks.rhs && m->data;
}

void kps_network_destroy(const kps_model *m) {
  if (kps_model_is_network(m)) net_free((net *)m->data);
}
