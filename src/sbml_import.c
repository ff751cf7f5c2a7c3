/*
 * SBML -> network-file text (include/kpsweep/sbml.h). The importer only
 * translates: kps_network_parse compiles, differentiates and dry-runs the
 * result, so an SBML model gets exactly the checks of a network file. What
 * is decided here: which species are states, the conservation laws (exact
 * left null space of the stoichiometry, src/nullspace.c) and the species
 * each one eliminates, the ligand mapping onto L[i] and tau[i], inlining of
 * function definitions, assignment rules and initial assignments of
 * parameters, and the refusal of everything the engine cannot honour.
 */
#include "kpsweep/sbml.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sbml/SBMLTypes.h>

#include "nullspace.h"

enum { ROLE_CONST = 0, ROLE_STATE, ROLE_ELIM };
enum { MODE_RATE = 0, MODE_PARAMS, MODE_OUTPUT };
#define MAX_DEPTH 64 /* inlining depth: deeper means a cycle */

typedef struct sb {
  char *s;
  size_t n, cap;
  int oom;
} sb;

__attribute__((format(printf, 2, 3))) static void sb_printf(sb *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    const int w = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (w < 0) {
      b->oom = 1;
      return;
    }
    if (b->s && b->n + (size_t)w < b->cap) {
      b->n += (size_t)w;
      return;
    }
    const size_t cap = (b->cap ? b->cap * 2 : 256) + (size_t)w;
    char *s = realloc(b->s, cap);
    if (!s) {
      b->oom = 1;
      return;
    }
    b->s = s, b->cap = cap;
  }
}

/* Bound-variable substitutions while a function definition is inlined. */
typedef struct env {
  const struct env *up;
  int n;
  const char *name[16];
  const char *text[16];
} env;

typedef struct sctx {
  Model_t *m;
  const kps_sbml_spec *spec;
  const char *path;
  int n_sp, n_par, n_comp;
  int *sp_role, *sp_lig;          /* per species: ROLE_*, ligand index or -1 */
  int *par_lig, *par_rate;        /* per parameter: ligand index of L / rate, or -1 */
  int *par_inline, *par_used;     /* assignment rule or initial assignment; referenced */
  int *comp_used;
  const KineticLaw_t *kl;         /* local parameters in scope */
  const char *elem;               /* what errors name */
  kps_sbml_blame *blame;
  char *err;
  size_t errlen;
} sctx;

__attribute__((format(printf, 2, 3))) static kps_err fail(const sctx *c, const char *fmt, ...) {
  int n = snprintf(c->err, c->errlen, "%s: ", c->path);
  if (n >= 0 && (size_t)n < c->errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
  }
  return KPS_ERR_CONFIG;
}

static int species_index(const sctx *c, const char *id) {
  for (int k = 0; k < c->n_sp; ++k)
    if (!strcmp(Species_getId(Model_getSpecies(c->m, (unsigned)k)), id)) return k;
  return -1;
}

static int param_index(const sctx *c, const char *id) {
  for (int k = 0; k < c->n_par; ++k)
    if (!strcmp(Parameter_getId(Model_getParameter(c->m, (unsigned)k)), id)) return k;
  return -1;
}

static int comp_index(const sctx *c, const char *id) {
  for (int k = 0; k < c->n_comp; ++k)
    if (!strcmp(Compartment_getId(Model_getCompartment(c->m, (unsigned)k)), id)) return k;
  return -1;
}

static int valid_id(const char *s) {
  static const char *const reserved[] = {"tau", "L", "exp", "log", "sqrt", "ligands", "inf", NULL};
  if (strlen(s) >= 32) return 0; /* the network format's name length */
  for (const char *const *r = reserved; *r; ++r)
    if (!strcmp(s, *r)) return 0;
  return 1;
}

static kps_err emit(sctx *c, const ASTNode_t *a, const env *e, int mode, int depth, sb *b);

static void number(sb *b, double v) {
  sb_printf(b, v < 0 ? "(%.17g)" : "%.17g", v);
}

/* The initial value of species k as an expression of parameters. */
static kps_err species_initial(sctx *c, int k, int depth, sb *b) {
  Species_t *s = Model_getSpecies(c->m, (unsigned)k);
  const char *id = Species_getId(s);
  InitialAssignment_t *ia = Model_getInitialAssignmentBySym(c->m, id);
  if (ia) {
    if (!InitialAssignment_isSetMath(ia)) return fail(c, "initialAssignment of %s: no math", id);
    sb_printf(b, "(");
    kps_err rc = emit(c, InitialAssignment_getMath(ia), NULL, MODE_PARAMS, depth + 1, b);
    sb_printf(b, ")");
    return rc;
  }
  const int conc = !Species_getHasOnlySubstanceUnits(s);
  if (Species_isSetInitialConcentration(s) && conc) {
    number(b, Species_getInitialConcentration(s));
  } else if (Species_isSetInitialAmount(s)) {
    number(b, Species_getInitialAmount(s));
    if (conc) {
      const int ci = comp_index(c, Species_getCompartment(s));
      if (ci < 0) return fail(c, "species %s: unknown compartment", id);
      c->comp_used[ci] = 1;
      sb_printf(b, "/%s", Species_getCompartment(s));
    }
  } else if (Species_isSetInitialConcentration(s)) {
    return fail(c, "species %s: an initial concentration with hasOnlySubstanceUnits=true "
                   "(give an initial amount)", id);
  } else {
    return fail(c, "species %s has no initial amount, concentration or initialAssignment", id);
  }
  return KPS_OK;
}

/* A name in a math expression. */
static kps_err emit_name(sctx *c, const char *name, const env *e, int mode, int depth, sb *b) {
  for (const env *x = e; x; x = x->up)
    for (int k = 0; k < x->n; ++k)
      if (!strcmp(x->name[k], name)) return sb_printf(b, "(%s)", x->text[k]), KPS_OK;
  if (c->kl) {
    const LocalParameter_t *lp = KineticLaw_getLocalParameterById((KineticLaw_t *)c->kl, name);
    const Parameter_t *pp = lp ? NULL : KineticLaw_getParameterById((KineticLaw_t *)c->kl, name);
    if (lp) return number(b, LocalParameter_getValue(lp)), KPS_OK;
    if (pp) return number(b, Parameter_getValue(pp)), KPS_OK;
  }
  const int k = species_index(c, name);
  if (k >= 0) {
    if (c->sp_lig[k] >= 0 && c->sp_role[k] == ROLE_CONST) {
      if (mode == MODE_OUTPUT)
        return fail(c, "%s: the ligand %s is not a state species", c->elem, name);
      return sb_printf(b, "L[%d]", c->sp_lig[k]), KPS_OK;
    }
    if (c->sp_role[k] == ROLE_CONST) {
      if (mode == MODE_OUTPUT)
        return fail(c, "%s: %s is a constant (boundary or unreacted) species, not a state",
                    c->elem, name);
      sb_printf(b, "(");
      kps_err rc = species_initial(c, k, depth, b);
      sb_printf(b, ")");
      return rc;
    }
    if (mode == MODE_PARAMS)
      return fail(c, "%s: uses the species %s where only parameters are allowed", c->elem, name);
    if (mode == MODE_OUTPUT && c->sp_role[k] == ROLE_ELIM)
      return fail(c, "%s: %s is eliminated by a conservation law; the output may use only "
                     "the state species", c->elem, name);
    return sb_printf(b, "%s", name), KPS_OK;
  }
  const int j = param_index(c, name);
  const int ci = j < 0 ? comp_index(c, name) : -1;
  if (j < 0 && ci < 0) return fail(c, "%s: unknown id \"%s\"", c->elem, name);
  if (mode == MODE_OUTPUT)
    return fail(c, "%s: %s is a parameter; the output may use only the state species", c->elem,
                name);
  if (j >= 0 && c->par_lig[j] >= 0) return sb_printf(b, "L[%d]", c->par_lig[j]), KPS_OK;
  if (j >= 0 && c->par_rate[j] >= 0) {
    const int i = c->par_rate[j];
    if (c->spec->ligand[i].rate_is_tau) sb_printf(b, "tau[%d]", i);
    else sb_printf(b, "(1/tau[%d])", i);
    return KPS_OK;
  }
  if (j >= 0 && c->par_inline[j]) {
    if (depth > MAX_DEPTH) return fail(c, "%s: the rules of %s are cyclic", c->elem, name);
    const Rule_t *r = Model_getRuleByVar(c->m, name);
    const InitialAssignment_t *ia = Model_getInitialAssignmentBySym(c->m, name);
    const ASTNode_t *math = r ? Rule_getMath(r) : InitialAssignment_getMath(ia);
    if (!math) return fail(c, "the rule or initialAssignment of %s has no math", name);
    sb_printf(b, "(");
    kps_err rc = emit(c, math, NULL, mode == MODE_OUTPUT ? MODE_OUTPUT : mode, depth + 1, b);
    sb_printf(b, ")");
    return rc;
  }
  if (j >= 0) c->par_used[j] = 1;
  else c->comp_used[ci] = 1;
  sb_printf(b, "%s", name);
  return KPS_OK;
}

static kps_err emit_children(sctx *c, const ASTNode_t *a, const env *e, int mode, int depth,
                             sb *b, const char *op, const char *empty) {
  const unsigned n = ASTNode_getNumChildren(a);
  if (n == 0) return sb_printf(b, "%s", empty), KPS_OK;
  sb_printf(b, "(");
  for (unsigned k = 0; k < n; ++k) {
    if (k) sb_printf(b, "%s", op);
    kps_err rc = emit(c, ASTNode_getChild(a, k), e, mode, depth, b);
    if (rc) return rc;
  }
  sb_printf(b, ")");
  return KPS_OK;
}

static kps_err emit_call(sctx *c, const ASTNode_t *a, const env *e, int mode, int depth, sb *b) {
  const char *name = ASTNode_getName(a);
  FunctionDefinition_t *fd = name ? Model_getFunctionDefinitionById(c->m, name) : NULL;
  if (!fd) return fail(c, "%s: unknown function \"%s\"", c->elem, name ? name : "?");
  const ASTNode_t *body = FunctionDefinition_getBody(fd);
  const unsigned n = FunctionDefinition_getNumArguments(fd);
  if (!body || n != ASTNode_getNumChildren(a) || n > 16)
    return fail(c, "%s: call of %s: wrong number of arguments (or more than 16)", c->elem, name);
  if (depth > MAX_DEPTH) return fail(c, "%s: function %s calls itself", c->elem, name);
  env inner = {.up = NULL, .n = 0}; /* SBML function bodies see only their arguments */
  sb args[16];
  memset(args, 0, sizeof args);
  kps_err rc = KPS_OK;
  for (unsigned k = 0; k < n && !rc; ++k) {
    rc = emit(c, ASTNode_getChild(a, k), e, mode, depth + 1, &args[k]);
    if (!rc && args[k].oom) rc = KPS_ERR_NOMEM;
    inner.name[k] = ASTNode_getName(FunctionDefinition_getArgument(fd, k));
    inner.text[k] = args[k].s;
    if (!inner.name[k]) rc = fail(c, "function %s: an unnamed argument", name);
    inner.n = (int)k + 1;
  }
  if (!rc) {
    sb_printf(b, "(");
    rc = emit(c, body, &inner, mode, depth + 1, b);
    sb_printf(b, ")");
  }
  for (unsigned k = 0; k < n; ++k) free(args[k].s);
  return rc;
}

static kps_err emit(sctx *c, const ASTNode_t *a, const env *e, int mode, int depth, sb *b) {
  if (!a) return fail(c, "%s: missing math", c->elem);
  if (depth > MAX_DEPTH) return fail(c, "%s: expression nested too deeply", c->elem);
  const ASTNodeType_t t = ASTNode_getType(a);
  const unsigned n = ASTNode_getNumChildren(a);
  kps_err rc = KPS_OK;
  switch (t) {
  case AST_INTEGER:
  case AST_REAL:
  case AST_REAL_E:
  case AST_RATIONAL: {
    const double v = ASTNode_getReal(a);
    if (!isfinite(v)) return fail(c, "%s: a non-finite number", c->elem);
    number(b, v);
    return KPS_OK;
  }
  case AST_CONSTANT_E: return number(b, exp(1.0)), KPS_OK;
  case AST_CONSTANT_PI: return number(b, acos(-1.0)), KPS_OK;
  case AST_NAME: return emit_name(c, ASTNode_getName(a), e, mode, depth, b);
  case AST_PLUS: return emit_children(c, a, e, mode, depth + 1, b, " + ", "0");
  case AST_TIMES: return emit_children(c, a, e, mode, depth + 1, b, " * ", "1");
  case AST_MINUS:
    if (n == 1) {
      sb_printf(b, "(-");
      rc = emit(c, ASTNode_getChild(a, 0), e, mode, depth + 1, b);
      sb_printf(b, ")");
      return rc;
    }
    return emit_children(c, a, e, mode, depth + 1, b, " - ", "0");
  case AST_DIVIDE:
  case AST_POWER:
  case AST_FUNCTION_POWER:
    if (n != 2) return fail(c, "%s: a binary operator without 2 operands", c->elem);
    return emit_children(c, a, e, mode, depth + 1, b, t == AST_DIVIDE ? " / " : " ^ ", "");
  case AST_FUNCTION_EXP:
  case AST_FUNCTION_LN:
    if (n != 1) return fail(c, "%s: exp/ln without 1 argument", c->elem);
    sb_printf(b, t == AST_FUNCTION_EXP ? "exp(" : "log(");
    rc = emit(c, ASTNode_getChild(a, 0), e, mode, depth + 1, b);
    sb_printf(b, ")");
    return rc;
  case AST_FUNCTION_LOG: /* log(x) is base 10, log(b, x) base b */
    if (n < 1 || n > 2) return fail(c, "%s: log without 1 or 2 arguments", c->elem);
    sb_printf(b, "(log(");
    rc = emit(c, ASTNode_getChild(a, n - 1), e, mode, depth + 1, b);
    sb_printf(b, ")/log(");
    if (!rc && n == 2) rc = emit(c, ASTNode_getChild(a, 0), e, mode, depth + 1, b);
    else sb_printf(b, "10");
    sb_printf(b, "))");
    return rc;
  case AST_FUNCTION_ROOT: /* root(x) is the square root, root(n, x) the n-th */
    if (n < 1 || n > 2) return fail(c, "%s: root without 1 or 2 arguments", c->elem);
    sb_printf(b, "((");
    rc = emit(c, ASTNode_getChild(a, n - 1), e, mode, depth + 1, b);
    sb_printf(b, ") ^ (1/(");
    if (!rc && n == 2) rc = emit(c, ASTNode_getChild(a, 0), e, mode, depth + 1, b);
    else sb_printf(b, "2");
    sb_printf(b, ")))");
    return rc;
  case AST_FUNCTION: return emit_call(c, a, e, mode, depth, b);
  case AST_NAME_TIME:
    return fail(c, "%s: uses the time symbol (an explicitly time-dependent rate cannot have a "
                   "steady state)", c->elem);
  case AST_FUNCTION_DELAY: return fail(c, "%s: uses delay() (delays are not supported)", c->elem);
  case AST_FUNCTION_PIECEWISE:
    return fail(c, "%s: uses piecewise() (not differentiable; not supported)", c->elem);
  default: {
    const char *nm = ASTNode_getName(a);
    return fail(c, "%s: uses %s, which the network expressions cannot express (supported: "
                   "+ - * / ^, exp, ln, log, root, numbers, ids, function definitions)",
                c->elem, nm ? nm : "an operator");
  }
  }
}

/* Everything the engine cannot honour, named. */
static kps_err refuse(sctx *c) {
  Model_t *m = c->m;
  if (Model_getNumEvents(m)) {
    const char *id = Event_getId(Model_getEvent(m, 0));
    return fail(c, "event \"%s\": events are not supported (a steady state has no events)",
                id && *id ? id : "(no id)");
  }
  if (Model_getNumConstraints(m))
    return fail(c, "the model has a <constraint>: constraints are not supported");
  for (unsigned k = 0; k < Model_getNumRules(m); ++k) {
    Rule_t *r = Model_getRule(m, k);
    const char *v = Rule_isSetVariable(r) ? Rule_getVariable(r) : "";
    if (Rule_isAlgebraic(r))
      return fail(c, "algebraic rule #%u: algebraic rules are not supported", k + 1);
    if (Rule_isRate(r))
      return fail(c, "rate rule for \"%s\": rate rules are not supported (write a reaction)", v);
    if (species_index(c, v) >= 0 || comp_index(c, v) >= 0)
      return fail(c, "assignment rule for \"%s\": only parameters may have assignment rules", v);
  }
  for (int k = 0; k < c->n_comp; ++k) {
    Compartment_t *cp = Model_getCompartment(m, (unsigned)k);
    if (!Compartment_getConstant(cp))
      return fail(c, "compartment \"%s\" is not constant: varying volumes are not supported",
                  Compartment_getId(cp));
  }
  for (unsigned k = 0; k < Model_getNumReactions(m); ++k) {
    Reaction_t *rx = Model_getReaction(m, k);
    if (Reaction_getFast(rx) && Reaction_isSetFast(rx))
      return fail(c, "reaction \"%s\" is fast: fast reactions are not supported",
                  Reaction_getId(rx));
    if (!Reaction_isSetKineticLaw(rx))
      return fail(c, "reaction \"%s\" has no kinetic law", Reaction_getId(rx));
  }
  return KPS_OK;
}

/* The stoichiometry of species k in reaction rx (products minus reactants);
 * -1 if not an integer. */
static int stoich(sctx *c, Reaction_t *rx, int k, long long *nu) {
  const char *id = Species_getId(Model_getSpecies(c->m, (unsigned)k));
  *nu = 0;
  for (int side = 0; side < 2; ++side) {
    const unsigned n = side ? Reaction_getNumProducts(rx) : Reaction_getNumReactants(rx);
    for (unsigned j = 0; j < n; ++j) {
      SpeciesReference_t *sr = side ? Reaction_getProduct(rx, j) : Reaction_getReactant(rx, j);
      if (strcmp(SpeciesReference_getSpecies(sr), id)) continue;
      if (SpeciesReference_isSetStoichiometryMath(sr)) return -1;
      const double s = SpeciesReference_isSetStoichiometry(sr)
                           ? SpeciesReference_getStoichiometry(sr) : 1.0;
      if (s != floor(s) || s < 0 || s > 1000) return -1;
      *nu += side ? (long long)s : -(long long)s;
    }
  }
  return 0;
}

/* "A + 2 B" of one side, state and eliminated species only. */
static void eq_side(sctx *c, Reaction_t *rx, int products, sb *b) {
  const unsigned n = products ? Reaction_getNumProducts(rx) : Reaction_getNumReactants(rx);
  int any = 0;
  for (unsigned j = 0; j < n; ++j) {
    SpeciesReference_t *sr = products ? Reaction_getProduct(rx, j) : Reaction_getReactant(rx, j);
    const int k = species_index(c, SpeciesReference_getSpecies(sr));
    if (k < 0 || c->sp_role[k] == ROLE_CONST) continue;
    const double s = SpeciesReference_isSetStoichiometry(sr)
                         ? SpeciesReference_getStoichiometry(sr) : 1.0;
    if (s == 0) continue;
    sb_printf(b, "%s", any ? " + " : "");
    if (s != 1) sb_printf(b, "%.0f ", s);
    sb_printf(b, "%s", SpeciesReference_getSpecies(sr));
    any = 1;
  }
  if (!any) sb_printf(b, "0");
}

/* The divisor turning the reaction's extent rate into a rate of the
 * species' values: 1 for amounts, the compartment for concentrations. All
 * state species of a reaction must share it. */
static kps_err divisor(sctx *c, Reaction_t *rx, const char **out) {
  *out = NULL;
  for (int side = 0; side < 2; ++side) {
    const unsigned n = side ? Reaction_getNumProducts(rx) : Reaction_getNumReactants(rx);
    for (unsigned j = 0; j < n; ++j) {
      SpeciesReference_t *sr = side ? Reaction_getProduct(rx, j) : Reaction_getReactant(rx, j);
      const int k = species_index(c, SpeciesReference_getSpecies(sr));
      if (k < 0) return fail(c, "reaction \"%s\": unknown species \"%s\"", Reaction_getId(rx),
                              SpeciesReference_getSpecies(sr));
      if (c->sp_role[k] == ROLE_CONST) continue;
      Species_t *s = Model_getSpecies(c->m, (unsigned)k);
      const char *d = Species_getHasOnlySubstanceUnits(s) ? "" : Species_getCompartment(s);
      if (*out && strcmp(*out, d))
        return fail(c, "reaction \"%s\" mixes compartments or amounts and concentrations "
                       "(not supported)", Reaction_getId(rx));
      *out = d;
    }
  }
  return KPS_OK;
}

static kps_err map_ligands(sctx *c) {
  const kps_sbml_spec *sp = c->spec;
  for (int i = 0; i < sp->n_ligands; ++i) {
    c->blame->part = KPS_SBML_PART_LIGAND, c->blame->index = i;
    const kps_sbml_ligand *lg = &sp->ligand[i];
    const int k = species_index(c, lg->L), j = param_index(c, lg->L);
    if (k >= 0) {
      if (c->sp_lig[k] >= 0) return fail(c, "species \"%s\" is already ligand %d", lg->L, c->sp_lig[k]);
      c->sp_lig[k] = i;
    } else if (j >= 0) {
      if (c->par_lig[j] >= 0 || c->par_rate[j] >= 0)
        return fail(c, "parameter \"%s\" is mapped twice", lg->L);
      c->par_lig[j] = i;
    } else {
      return fail(c, "ligand L \"%s\": no species or parameter of that id", lg->L);
    }
    const int r = param_index(c, lg->rate);
    if (r < 0)
      return fail(c, "ligand %s \"%s\": no parameter of that id", lg->rate_is_tau ? "tau" : "koff",
                  lg->rate);
    if (c->par_lig[r] >= 0 || c->par_rate[r] >= 0)
      return fail(c, "parameter \"%s\" is mapped twice", lg->rate);
    c->par_rate[r] = i;
  }
  c->blame->part = KPS_SBML_PART_FILE;
  return KPS_OK;
}

/* Species roles and the conservation laws; writes `species:` and
 * `conservation:`. */
static kps_err roles_and_laws(sctx *c, sb *out) {
  const int ns = c->n_sp, nr = (int)Model_getNumReactions(c->m);
  kps_err rc = KPS_OK;
  long long *S = calloc((size_t)(ns ? ns : 1) * (size_t)(nr ? nr : 1), sizeof *S);
  long long *laws = calloc((size_t)(ns ? ns : 1) * (size_t)(ns ? ns : 1), sizeof *laws);
  int *order = calloc((size_t)(ns ? ns : 1), sizeof *order), *freer = calloc((size_t)(ns ? ns : 1), sizeof *freer);
  if (!S || !laws || !order || !freer) {
    rc = KPS_ERR_NOMEM;
    goto cleanup;
  }
  for (int k = 0; k < ns; ++k) {
    Species_t *s = Model_getSpecies(c->m, (unsigned)k);
    int moves = 0;
    for (int r = 0; r < nr; ++r) {
      long long nu;
      if (stoich(c, Model_getReaction(c->m, (unsigned)r), k, &nu)) {
        rc = fail(c, "reaction \"%s\": the stoichiometry of %s is not a small non-negative "
                     "integer constant", Reaction_getId(Model_getReaction(c->m, (unsigned)r)),
                  Species_getId(s));
        goto cleanup;
      }
      S[(size_t)k * (size_t)nr + (size_t)r] = nu;
      moves |= nu != 0;
    }
    /* A species no reaction changes is a constant: as a state it would
     * make the Jacobian singular. */
    const int st = moves && !Species_getBoundaryCondition(s) && !Species_getConstant(s);
    c->sp_role[k] = st ? ROLE_STATE : ROLE_CONST;
    if (!st)
      for (int r = 0; r < nr; ++r) S[(size_t)k * (size_t)nr + (size_t)r] = 0;
    if (st && !valid_id(Species_getId(s))) {
      rc = fail(c, "species id \"%s\" is reserved in network files (tau, L, exp, log, sqrt, "
                   "ligands) or longer than 31 characters", Species_getId(s));
      goto cleanup;
    }
  }
  /* Only states enter the null space; ligands are preferred as free rows
   * (eliminated, so their total is L[i]), then species with a non-zero
   * initial amount (free receptors), then the rest in document order. */
  int no = 0;
  for (int pass = 0; pass < 3; ++pass)
    for (int k = 0; k < ns; ++k) {
      Species_t *s = Model_getSpecies(c->m, (unsigned)k);
      const int init = Model_getInitialAssignmentBySym(c->m, Species_getId(s)) ||
                       (Species_isSetInitialAmount(s) && Species_getInitialAmount(s) != 0) ||
                       (Species_isSetInitialConcentration(s) &&
                        Species_getInitialConcentration(s) != 0);
      const int cls = c->sp_lig[k] >= 0 ? 2 : init ? 1 : 0;
      if (cls == pass) order[no++] = k;
    }
  int n_laws = 0;
  if (kps_left_nullspace(S, ns, nr, order, laws, freer, &n_laws)) {
    rc = fail(c, "the stoichiometry is too large for exact elimination");
    goto cleanup;
  }
  for (int l = 0; l < n_laws; ++l) {
    const long long *y = laws + (size_t)l * (size_t)ns;
    const int f = freer[l];
    if (c->sp_role[f] != ROLE_STATE) continue; /* constants: zero rows, never free... */
    for (int k = 0; k < ns; ++k)
      if (y[k] && y[k] != y[f]) {
        rc = fail(c, "the conservation law eliminating %s has %s with relative coefficient "
                     "%lld/%lld: network files take laws with equal coefficients only",
                  Species_getId(Model_getSpecies(c->m, (unsigned)f)),
                  Species_getId(Model_getSpecies(c->m, (unsigned)k)), y[k], y[f]);
        goto cleanup;
      }
    c->sp_role[f] = ROLE_ELIM;
  }
  for (int k = 0; k < ns; ++k)
    if (c->sp_lig[k] >= 0 && c->sp_role[k] == ROLE_STATE) {
      rc = fail(c, "ligand species %s is not conserved by a law of its own (its total cannot "
                   "be L[%d])", Species_getId(Model_getSpecies(c->m, (unsigned)k)), c->sp_lig[k]);
      goto cleanup;
    }
  sb_printf(out, "species:\n");
  int n_state = 0;
  for (int k = 0; k < ns; ++k) {
    if (c->sp_role[k] != ROLE_STATE) continue;
    Species_t *s = Model_getSpecies(c->m, (unsigned)k);
    sb init = {0};
    c->elem = Species_getId(s);
    if ((rc = species_initial(c, k, 0, &init))) {
      free(init.s);
      goto cleanup;
    }
    sb_printf(out, "  %s: {initial: \"%s\"}\n", Species_getId(s), init.s ? init.s : "0");
    free(init.s);
    ++n_state;
  }
  if (!n_state) {
    rc = fail(c, "no species changes by a reaction (no state)");
    goto cleanup;
  }
  if (n_laws) sb_printf(out, "conservation:\n");
  for (int l = 0; l < n_laws; ++l) {
    const long long *y = laws + (size_t)l * (size_t)ns;
    const int f = freer[l];
    if (c->sp_role[f] != ROLE_ELIM) continue;
    const char *fid = Species_getId(Model_getSpecies(c->m, (unsigned)f));
    sb total = {0};
    if (c->sp_lig[f] >= 0) {
      sb_printf(&total, "L[%d]", c->sp_lig[f]);
    } else {
      for (int k = 0, first = 1; k < ns; ++k) {
        if (!y[k]) continue;
        sb one = {0};
        c->elem = Species_getId(Model_getSpecies(c->m, (unsigned)k));
        if ((rc = species_initial(c, k, 0, &one)) || one.oom) {
          free(one.s);
          free(total.s);
          rc = rc ? rc : KPS_ERR_NOMEM;
          goto cleanup;
        }
        if (strcmp(one.s, "0")) sb_printf(&total, "%s%s", first ? "" : " + ", one.s), first = 0;
        free(one.s);
      }
    }
    sb_printf(out, "  %s: {total: \"%s\", contains: [", fid, total.s ? total.s : "0");
    free(total.s);
    for (int k = 0, first = 1; k < ns; ++k)
      if (y[k] && k != f) sb_printf(out, "%s%s", first ? "" : ", ", Species_getId(Model_getSpecies(c->m, (unsigned)k))), first = 0;
    sb_printf(out, "]}\n");
  }
cleanup:
  free(S);
  free(laws);
  free(order);
  free(freer);
  return rc;
}

static kps_err translate(sctx *c, sb *out) {
  Model_t *m = c->m;
  kps_err rc = refuse(c);
  if (rc || (rc = map_ligands(c))) return rc;
  for (int j = 0; j < c->n_par; ++j) {
    const char *id = Parameter_getId(Model_getParameter(m, (unsigned)j));
    const Rule_t *r = Model_getRuleByVar(m, id);
    c->par_inline[j] = (r && Rule_isAssignment(r)) || Model_getInitialAssignmentBySym(m, id);
    if (c->par_inline[j] && (c->par_lig[j] >= 0 || c->par_rate[j] >= 0)) {
      c->blame->part = KPS_SBML_PART_LIGAND;
      c->blame->index = c->par_lig[j] >= 0 ? c->par_lig[j] : c->par_rate[j];
      return fail(c, "parameter \"%s\" has a rule or initialAssignment: it cannot be a ligand's "
                     "L or rate", id);
    }
  }
  sb body = {0};
  if ((rc = roles_and_laws(c, &body))) goto done;
  sb_printf(&body, "reactions:\n");
  for (unsigned r = 0; r < Model_getNumReactions(m); ++r) {
    Reaction_t *rx = Model_getReaction(m, r);
    char elem[96];
    snprintf(elem, sizeof elem, "reaction \"%s\"", Reaction_getId(rx));
    c->elem = elem;
    const char *div = NULL;
    if ((rc = divisor(c, rx, &div))) goto done;
    if (!div) continue; /* touches no state species */
    KineticLaw_t *kl = Reaction_getKineticLaw(rx);
    c->kl = kl;
    sb rate = {0};
    rc = emit(c, KineticLaw_getMath(kl), NULL, MODE_RATE, 0, &rate);
    c->kl = NULL;
    if (!rc && *div) {
      const int ci = comp_index(c, div);
      if (ci >= 0) c->comp_used[ci] = 1;
      sb_printf(&rate, " / %s", div);
    }
    if (rc || rate.oom) {
      free(rate.s);
      rc = rc ? rc : KPS_ERR_NOMEM;
      goto done;
    }
    sb_printf(&body, "  - {eq: \"");
    eq_side(c, rx, 0, &body);
    sb_printf(&body, " -> ");
    eq_side(c, rx, 1, &body);
    sb_printf(&body, "\", rate: \"%s\", doc: \"%s\"}\n", rate.s, Reaction_getId(rx));
    free(rate.s);
  }
  c->blame->part = KPS_SBML_PART_OUTPUT;
  c->elem = "output";
  ASTNode_t *o = SBML_parseL3Formula(c->spec->output ? c->spec->output : "");
  if (!o) {
    char *why = SBML_getLastParseL3Error();
    rc = fail(c, "output \"%s\": cannot parse: %s", c->spec->output ? c->spec->output : "",
              why ? why : "?");
    free(why);
    goto done;
  }
  sb ot = {0};
  rc = emit(c, o, NULL, MODE_OUTPUT, 0, &ot);
  ASTNode_free(o);
  if (!rc) sb_printf(&body, "output: \"%s\"\n", ot.s ? ot.s : "");
  free(ot.s);
  if (rc) goto done;
  c->blame->part = KPS_SBML_PART_FILE;

  /* Parameters last: only now is it known which compartments are used. */
  const char *mid = Model_getId(m);
  /* No path in the text: it is hashed, and the job may be run from elsewhere. */
  sb_printf(out, "# Generated from an SBML file by kpsweep (src/sbml_import.c).\n");
  sb_printf(out, "name: %s\nsummary: \"SBML model %s\"\nligand_types: %d\nparameters:\n",
            mid && *mid && strlen(mid) < 26 && valid_id(mid) ? mid : "sbml", mid ? mid : "",
            c->spec->n_ligands);
  int n_params = 0;
  for (int pass = 0; pass < 2; ++pass) {
    const int n = pass ? c->n_comp : c->n_par;
    for (int j = 0; j < n; ++j) {
      const char *id;
      double v;
      if (pass) {
        if (!c->comp_used[j]) continue;
        Compartment_t *cp = Model_getCompartment(m, (unsigned)j);
        id = Compartment_getId(cp);
        if (Model_getInitialAssignmentBySym(m, id)) {
          rc = fail(c, "compartment \"%s\": an initialAssignment on a compartment is not "
                       "supported", id);
          goto done;
        }
        v = Compartment_isSetSize(cp) ? Compartment_getSize(cp) : 1.0;
      } else {
        Parameter_t *p = Model_getParameter(m, (unsigned)j);
        if (c->par_lig[j] >= 0 || c->par_rate[j] >= 0 || c->par_inline[j]) continue;
        id = Parameter_getId(p);
        if (!Parameter_isSetValue(p)) {
          rc = fail(c, "parameter \"%s\" has no value", id);
          goto done;
        }
        v = Parameter_getValue(p);
        if (!Parameter_getConstant(p)) {
          rc = fail(c, "parameter \"%s\" is not constant and has no assignment rule", id);
          goto done;
        }
        for (int o2 = 0; o2 < c->spec->n_overrides; ++o2)
          if (!strcmp(c->spec->override_name[o2], id)) v = c->spec->override_value[o2];
      }
      if (!valid_id(id)) {
        rc = fail(c, "id \"%s\" is reserved in network files (tau, L, exp, log, sqrt, ligands) "
                     "or longer than 31 characters", id);
        goto done;
      }
      if (!isfinite(v)) {
        rc = fail(c, "\"%s\" has a non-finite value", id);
        goto done;
      }
      if (++n_params > 16) {
        rc = fail(c, "more than 16 parameters and compartments (the engine's limit)");
        goto done;
      }
      sb_printf(out, "  %s: {default: %.17g%s, doc: \"SBML %s\"}\n", id, v,
                v >= 0 ? ", min: 0" : "", pass ? "compartment" : "parameter");
    }
  }
  if (!n_params) sb_printf(out, "  {}\n");
  for (int o2 = 0; o2 < c->spec->n_overrides; ++o2) {
    const int j = param_index(c, c->spec->override_name[o2]);
    if (j < 0 || c->par_lig[j] >= 0 || c->par_rate[j] >= 0 || c->par_inline[j]) {
      c->blame->part = KPS_SBML_PART_PARAMS, c->blame->index = o2;
      rc = fail(c, "params: \"%s\" is not a free SBML parameter of the model (unknown, a "
                   "ligand's L or rate, or set by a rule)", c->spec->override_name[o2]);
      goto done;
    }
  }
  sb_printf(out, "%s", body.s ? body.s : "");
  if (out->oom || body.oom) rc = KPS_ERR_NOMEM;
done:
  free(body.s);
  return rc;
}

kps_err kps_sbml_to_network(const char *sbml_path, const kps_sbml_spec *spec, char **yaml_text,
                            kps_sbml_blame *blame, char *err, size_t errlen) {
  kps_sbml_blame local_blame;
  char local_err[8];
  sctx c = {.spec = spec, .path = sbml_path, .blame = blame ? blame : &local_blame,
            .err = err && errlen ? err : local_err, .errlen = err && errlen ? errlen : sizeof local_err};
  c.blame->part = KPS_SBML_PART_FILE, c.blame->index = 0;
  c.err[0] = '\0';
  *yaml_text = NULL;
  sb out = {0};
  kps_err rc = KPS_OK;
  SBMLDocument_t *doc = readSBMLFromFile(sbml_path);
  if (!doc) return fail(&c, "cannot read the SBML file"), KPS_ERR_NOMEM;
  const unsigned n_err = SBMLDocument_getNumErrorsWithSeverity(doc, LIBSBML_SEV_ERROR) +
                         SBMLDocument_getNumErrorsWithSeverity(doc, LIBSBML_SEV_FATAL);
  if (n_err) {
    for (unsigned k = 0; k < SBMLDocument_getNumErrors(doc); ++k) {
      const XMLError_t *e = (const XMLError_t *)SBMLDocument_getError(doc, k);
      if (XMLError_getSeverity(e) < LIBSBML_SEV_ERROR) continue;
      const char *msg = XMLError_getMessage(e);
      char one[512];
      snprintf(one, sizeof one, "%s", msg ? msg : "");
      for (char *p = one; *p; ++p)
        if (*p == '\n') *p = ' ';
      rc = fail(&c, "line %u: not valid SBML: %s", XMLError_getLine(e), one);
      break;
    }
    if (!rc) rc = fail(&c, "not valid SBML");
    goto cleanup;
  }
  c.m = SBMLDocument_getModel(doc);
  if (!c.m) {
    rc = fail(&c, "the SBML document has no <model>");
    goto cleanup;
  }
  c.n_sp = (int)Model_getNumSpecies(c.m), c.n_par = (int)Model_getNumParameters(c.m);
  c.n_comp = (int)Model_getNumCompartments(c.m);
  const size_t nsp = (size_t)c.n_sp + 1, npar = (size_t)c.n_par + 1;
  c.sp_role = calloc(nsp, sizeof(int)), c.sp_lig = malloc(nsp * sizeof(int));
  c.par_lig = malloc(npar * sizeof(int)), c.par_rate = malloc(npar * sizeof(int));
  c.par_inline = calloc(npar, sizeof(int)), c.par_used = calloc(npar, sizeof(int));
  c.comp_used = calloc((size_t)c.n_comp + 1, sizeof(int));
  if (!c.sp_role || !c.sp_lig || !c.par_lig || !c.par_rate || !c.par_inline || !c.par_used ||
      !c.comp_used) {
    rc = KPS_ERR_NOMEM;
    goto cleanup;
  }
  for (size_t k = 0; k < nsp; ++k) c.sp_lig[k] = -1;
  for (size_t k = 0; k < npar; ++k) c.par_lig[k] = c.par_rate[k] = -1;
  rc = translate(&c, &out);
cleanup:
  if (rc == KPS_ERR_NOMEM && !c.err[0]) fail(&c, "out of memory");
  if (!rc && out.oom) rc = KPS_ERR_NOMEM, fail(&c, "out of memory");
  if (rc) free(out.s);
  else *yaml_text = out.s;
  free(c.sp_role);
  free(c.sp_lig);
  free(c.par_lig);
  free(c.par_rate);
  free(c.par_inline);
  free(c.par_used);
  free(c.comp_used);
  SBMLDocument_free(doc);
  return rc;
}
