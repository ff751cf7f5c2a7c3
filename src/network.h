/*
 * The internal representation of a network model (docs/networks.md), shared
 * by the expression compiler (expr.c), the network-file reader
 * (network_parse.c) and the model callbacks (models/network.c). A future
 * SBML front end fills the same structure. Internal to the library; nothing
 * here is collective.
 *
 * Everything is templated: a family of species has index dimensions whose
 * ranges are integer programs of the integer parameters (or the ligand
 * types), and reactions, conservation laws and the output term carry `for`
 * ranges. The callbacks expand the templates once per (K, integer
 * parameters) into a plan cached in net.cache (models/network.c), so a
 * structural parameter (N) can change the state size between points.
 */
#ifndef KPSWEEP_NETWORK_INTERNAL_H
#define KPSWEEP_NETWORK_INTERNAL_H

#include <stddef.h>

#include "kpsweep/model.h"

#define NET_MAX_DIMS 4     /* indices of one species family */
#define NET_MAX_VARS 6     /* index variables in one template */
#define NET_MAX_SLOTS 16   /* variable references in one expression */
#define NET_MAX_DEPTH 32   /* evaluation stack of one expression */
#define NET_MAX_FAMILIES 32
#define NET_MAX_DERIVED 512 /* instances of eliminated species at one point */
#define NET_MAX_STOICH 8    /* species on both sides of one reaction */
#define NET_NAME_LEN 32
/* Ligand types the parameter check lays a network out for (2 + KPS_MAX_SELF). */
#define NET_CHECK_K 10

/* Expression operations (postfix). Leaves are the differentiable references. */
typedef enum net_opcode {
  XO_CONST,   /* c */
  XO_PARAM,   /* leaf: model parameter a (not integer) */
  XO_IPARAM,  /* integer parameter a, a constant for derivatives */
  XO_VAR,     /* index variable a of the template */
  XO_TAU,     /* leaf: tau[int program a] */
  XO_LIG,     /* leaf: L[int program a] */
  XO_SPECIES, /* leaf: species reference a (net.refs) */
  XO_ADD, XO_SUB, XO_MUL, XO_DIV, XO_NEG, XO_POW,
  XO_EXP, XO_LOG, XO_SQRT
} net_opcode;

typedef struct net_op {
  int op;
  int a;
  double c;
} net_op;

/* A compiled expression: value programs use slots (one per leaf
 * occurrence) for forward-mode derivatives; int programs have no leaves. */
typedef struct net_prog {
  net_op *ops;
  int n, cap;
  int n_slots;
} net_prog;

/* A species reference: family and one int program per index (-1 = `*`). */
typedef struct net_ref {
  int family;
  int sub[NET_MAX_DIMS];
  int line, column;
} net_ref;

/* Range of one index: `ligands` (0..K-1) or lo..hi (int programs). */
typedef struct net_range {
  int ligands;
  int lo, hi;
} net_range;

/* The `for` of a template: index variables with their ranges, in order. */
typedef struct net_for {
  int n;
  char name[NET_MAX_VARS][NET_NAME_LEN];
  net_range r[NET_MAX_VARS];
} net_for;

typedef struct net_family {
  char name[NET_NAME_LEN];
  int line, column;
  net_for dims;   /* the index dimensions (names used by its law) */
  int derived;    /* eliminated by a conservation law */
  int law;        /* its law (derived) */
  int initial;    /* value program of a state's initial amount, -1 = 0 */
} net_family;

/* free = total - sum of the contained state species (coefficient 1). */
typedef struct net_law {
  int family;     /* the eliminated species */
  int total;      /* value program over the family's indices, no species */
  int n_terms;
  int *terms;     /* species patterns (net.refs), indices may be `*` */
  int line, column;
} net_law;

typedef struct net_stoich {
  int ref;
  double nu; /* net change: products positive, reactants negative */
} net_stoich;

typedef struct net_reaction {
  net_for loop;
  int rate; /* value program */
  int n_stoich;
  net_stoich st[NET_MAX_STOICH];
  int line, column;
} net_reaction;

/* A constraint lhs OP rhs on parameters (m < N). */
typedef struct net_constraint {
  int lhs, rhs, op; /* op: 0 <, 1 <=, 2 >, 3 >= */
  char text[96];
  int line, column;
} net_constraint;

/* The expansions of a net (models/network.c): mutable memoisation owned by
 * the net, updated by its callbacks; one thread per model instance. */
typedef struct net_cache net_cache;

typedef struct net {
  kps_model model;                 /* model.data points back here */
  char name[64];
  char summary[160];
  kps_param_info params[KPS_MAX_PARAMS];
  char param_names[KPS_MAX_PARAMS][NET_NAME_LEN];
  char param_units[KPS_MAX_PARAMS][NET_NAME_LEN];
  char param_docs[KPS_MAX_PARAMS][128];
  int n_families;
  net_family fam[NET_MAX_FAMILIES];
  int n_laws;
  net_law *laws;
  int n_reactions;
  net_reaction *rx;
  int n_constraints;
  net_constraint *cons;
  net_for out_loop;
  int out_term;   /* value program, state species only */
  int n_progs, cap_progs;
  net_prog *progs;
  int n_refs, cap_refs;
  net_ref *refs;
  net_cache *cache; /* never NULL in a parsed net */
  /* 0, or the one K a flat network (an SBML import, which names L[0],
   * tau[1] literally) holds for: calls with fewer ligand types see the
   * missing ones with L = 0 (models/network.c, `pad`). */
  int ligand_types;
} net;

/*
 * A dry run at parameters p and K ligand types, all states 1, tau = L = 1:
 * every reference in range, every rate finite, and every reaction keeping
 * every conservation law's total. Returns 0, or 1 with the culprit's
 * position in *line, *column and the reason in why. (models/network.c)
 */
int net_dry_run(const net *nw, const double *p, int K, int *line, int *column, char *why,
                size_t n);

/* The callbacks every network model uses (models/network.c). */
extern const kps_model kps_network_callbacks;

/* A new empty cache (NULL when out of memory), and its release (NULL is
 * fine). (models/network.c) */
net_cache *net_cache_new(void);
void net_cache_free(net_cache *c);

/* Frees everything a net owns, and the net. NULL is fine. */
void net_free(net *nw);

/*
 * Compiles expression text[0..len) into a new program of nw (its id in
 * *prog). `loop` names the index variables in scope. kind: NET_X_VALUE (a
 * rate: anything), NET_X_PARAMS (no species: totals, initial amounts,
 * constraints), NET_X_OUTPUT (no parameters or inputs: the output term),
 * NET_X_INT (integer: constants, integer parameters, index variables, + - *),
 * NET_X_PATTERN (like NET_X_INT, but a lone `*` is allowed: returns -1).
 * On error returns -1 with the byte offset of the fault in *at and the
 * reason in why.
 */
enum { NET_X_VALUE, NET_X_PARAMS, NET_X_OUTPUT, NET_X_INT, NET_X_PATTERN };
int net_compile(net *nw, const char *text, size_t len, const net_for *loop, int kind,
                int *prog, size_t *at, char *why, size_t n);

/* A species reference "Name[sub, ...]" at text[0..len) (subscripts may be
 * `*` when `patterns`). Same error convention; the new ref id in *ref. */
int net_compile_ref(net *nw, const char *text, size_t len, const net_for *loop,
                    int patterns, int *ref, size_t *at, char *why, size_t n);

/* Appends one op to program id (used to build mass-action rates). */
int net_emit(net *nw, int prog, int op, int a, double c);

/* A new empty program; its id, or -1 when out of memory. */
int net_new_prog(net *nw);

/* Index of parameter `name`, of family `name`, or -1. */
int net_param(const net *nw, const char *name, size_t len);
int net_family_find(const net *nw, const char *name, size_t len);

#endif
