/*
 * A probe evaluates one model at inputs that change a little between calls
 * (root finding, searches, attacks): it warm-starts from the last steady
 * state, or from the nearest one of a pool of states met along a search
 * path, falling back to a cold solve inside the solver. Not collective.
 */
#ifndef KPSWEEP_PROBE_H
#define KPSWEEP_PROBE_H

#include <stddef.h>

#include "kpsweep/config.h"
#include "kpsweep/error.h"
#include "kpsweep/solver.h"

/*
 * Steady states met along one search path, keyed by the position on the
 * path, so that each evaluation starts from the nearest one (a warm start
 * along the path, wherever the search jumps). Append-only: a full pool
 * keeps what it holds. Owned by the caller.
 */
typedef struct kps_warm_pool {
  int n, cap;  /* entries held, capacity */
  int n_state; /* state size of the entries */
  size_t y_cap; /* state values the buffer holds */
  double *key; /* cap positions */
  double *y;   /* n_state values per entry */
} kps_warm_pool;

/* Empties the pool for states of n_state values, growing it to hold cap
 * of them. Returns KPS_ERR_NOMEM when that fails (the pool is then empty
 * with capacity 0). Not collective. */
kps_err kps_warm_pool_reset(kps_warm_pool *wp, int cap, int n_state);

/* Frees the pool's buffers. Accepts a zeroed pool. */
void kps_warm_pool_free(kps_warm_pool *wp);

/* Stores state y under key (nothing when full). */
void kps_warm_pool_put(kps_warm_pool *wp, double key, const double *y);

/* The state stored nearest to key, or NULL when empty. Ties: the first stored. */
const double *kps_warm_pool_nearest(const kps_warm_pool *wp, double key);

/* The state stored last under exactly this key, or NULL. */
const double *kps_warm_pool_latest(const kps_warm_pool *wp, double key);

typedef struct kps_probe {
  kps_solver *s;
  const kps_model *m;
  const double *p;
  int K;
  double tau[KPS_MAX_BINS], L[KPS_MAX_BINS];
  double *y;  /* state buffer (caller-owned, n_state(p, K) values) */
  int warm;   /* y holds a steady state of a nearby input */
  long evals; /* evaluations made */
  /* Optional: when pool is set (and holds states of this size), an
   * evaluation starts from its state nearest to key and stores its own
   * steady state under key. */
  kps_warm_pool *pool;
  double key;
  int reuse_lu; /* gradients from the last Newton factorisation (kps_eval) */
} kps_probe;

/* Sets the inputs and forgets the warm state (the pool is kept). */
void kps_probe_reset(kps_probe *pr, int K, const double *tau, const double *L);

/*
 * Evaluates at the current inputs; fills O and, when g is not NULL, the
 * gradients dO/dtau (g[0..K)) and dO/dL (g[K..2K)). Returns a kps_status.
 */
int kps_probe_eval(kps_probe *pr, double *O, double *g);

/*
 * Finds x in [a, b] with f(x) = 0 given f(a), f(b) of opposite signs, by the
 * Illinois variant of regula falsi with bisection safeguards, to a relative
 * width of xtol. f returns a kps_status. Returns the status of the last
 * evaluation that failed, or KPS_ST_OK.
 */
typedef int (*kps_scalar_fn)(void *ctx, double x, double *f);
int kps_bracket_root(kps_scalar_fn f, void *ctx, double a, double fa, double b, double fb,
                     double xtol, double *root);

#endif
