/*
 * The proofreading chain shared by kpr, adaptive_sorting and shp1 (private to
 * src/models; every function is static inline so each model compiles to
 * straight-line loops with no calls across files).
 *
 * State layout: y[i*(N+1) + n] = C_{n,i} for ligand type i = 0..K-1 and
 * proofreading state n = 0..N; a model's extra species (kinase, phosphatase)
 * follow at index K*(N+1).
 *
 * The three networks are one chain with model-specific rates:
 *
 *   binding into state 0      kappa (L_i - T_i) R_f,   T_i = sum_n C_{n,i},
 *                                                      R_f = R - sum_i T_i
 *   forward n -> n+1          phi C_{n,i}       (n < N-1)
 *                             phi_last C_{N-1,i}  (the last step)
 *   backward n -> n-1         d C_{n,i}         (n >= 1)
 *   unbinding from any state  C_{n,i} / tau_i
 *
 * kpr: phi_last = phi, d = 0. adaptive_sorting: phi_last = alpha K, d = 0.
 * shp1: phi_last = phi, d = b + gamma S.
 *
 * The "add" helpers accumulate into a vector the caller has zeroed, so one
 * helper serves both dfdp and the Jacobian column of an extra species (the
 * derivative of f with respect to a rate is the flux pattern of that rate).
 */
#ifndef KPSWEEP_MODELS_CHAIN_H
#define KPSWEEP_MODELS_CHAIN_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kpsweep/model.h"

typedef struct chain {
  int N;           /* last proofreading state */
  int K;           /* ligand types */
  int n;           /* full state size (leading dimension of J) */
  double kappa, R; /* on-rate, total receptors */
  double phi;      /* forward rate of the steps n -> n+1, n < N-1 */
  double phi_last; /* forward rate of the step N-1 -> N */
  double d;        /* backward rate n -> n-1 */
  int pooled;      /* R_f is an unknown of the steady-state system (in->pool) */
  double Rf_pool;  /* its value when pooled */
} chain;

/* Structural parameters are validated integers stored as doubles. */
static inline int chain_int(double x) { return (int)(x + 0.5); }

static inline int chain_size(int N, int K) { return K * (N + 1); }

static inline double chain_type_total(const chain *c, const double *y, int i) {
  const double *C = y + i * (c->N + 1);
  double T = 0.0;
  for (int n = 0; n <= c->N; ++n) T += C[n];
  return T;
}

static inline double chain_free_receptors(const chain *c, const double *y) {
  if (c->pooled) return c->Rf_pool;
  const int m = chain_size(c->N, c->K);
  double s = 0.0;
  for (int k = 0; k < m; ++k) s += y[k];
  return c->R - s;
}

/* Sum over ligand types of the complexes in proofreading state m. */
static inline double chain_state_total(const chain *c, const double *y,
                                       int m) {
  double s = 0.0;
  for (int i = 0; i < c->K; ++i) s += y[i * (c->N + 1) + m];
  return s;
}

/* The complex block of f: entries 0 .. K(N+1)-1. */
static inline void chain_rhs(const chain *c, const kps_inputs *in,
                             const double *y, double *f) {
  const int N = c->N, w = N + 1;
  const double Rf = chain_free_receptors(c, y);
  for (int i = 0; i < c->K; ++i) {
    const double *C = y + i * w;
    double *F = f + i * w;
    const double koff = 1.0 / in->tau[i];
    double T = 0.0;
    for (int n = 0; n <= N; ++n) {
      T += C[n];
      F[n] = -koff * C[n];
    }
    F[0] += c->kappa * (in->L[i] - T) * Rf;
    for (int n = 0; n < N; ++n) {
      const double flux = (n < N - 1 ? c->phi : c->phi_last) * C[n];
      F[n] -= flux;
      F[n + 1] += flux;
    }
    for (int n = 1; n <= N; ++n) {
      const double flux = c->d * C[n];
      F[n] -= flux;
      F[n - 1] += flux;
    }
  }
}

/*
 * The complex-by-complex block of J (column-major, leading dimension c->n),
 * into a J the caller has zeroed. Binding couples C_{0,i} to every complex:
 * d bind_i / d C_{n,j} = -kappa ((L_i - T_i) + [i == j] R_f); with R_f
 * pooled (held fixed) only the [i == j] R_f part remains.
 */
static inline void chain_jacobian(const chain *c, const kps_inputs *in,
                                  const double *y, double *J) {
  const int N = c->N, w = N + 1, ld = c->n, nc = chain_size(N, c->K);
  const double Rf = chain_free_receptors(c, y);
  for (int i = 0; i < c->K; ++i) {
    const int r0 = i * w;
    const double a = c->pooled ? 0.0 : -c->kappa * (in->L[i] - chain_type_total(c, y, i));
    for (int col = 0; col < nc; ++col) J[r0 + (size_t)col * ld] = a;
    for (int n = 0; n <= N; ++n) J[r0 + (size_t)(r0 + n) * ld] -= c->kappa * Rf;

    const double koff = 1.0 / in->tau[i];
    for (int n = 0; n <= N; ++n) J[(r0 + n) * ((size_t)ld + 1)] -= koff;
    for (int n = 0; n < N; ++n) {
      const double k = n < N - 1 ? c->phi : c->phi_last;
      const size_t col = (size_t)(r0 + n) * ld;
      J[r0 + n + col] -= k;
      J[r0 + n + 1 + col] += k;
    }
    for (int n = 1; n <= N; ++n) {
      const size_t col = (size_t)(r0 + n) * ld;
      J[r0 + n + col] -= c->d;
      J[r0 + n - 1 + col] += c->d;
    }
  }
}

/* Adds factor * (flux pattern of the forward steps lo <= n < hi). */
static inline void chain_add_forward(const chain *c, const double *y, int lo,
                                     int hi, double factor, double *v) {
  const int w = c->N + 1;
  for (int i = 0; i < c->K; ++i)
    for (int n = lo; n < hi; ++n) {
      const double flux = factor * y[i * w + n];
      v[i * w + n] -= flux;
      v[i * w + n + 1] += flux;
    }
}

/* Adds factor * (flux pattern of every backward step n -> n-1). */
static inline void chain_add_backward(const chain *c, const double *y,
                                      double factor, double *v) {
  const int w = c->N + 1;
  for (int i = 0; i < c->K; ++i)
    for (int n = 1; n <= c->N; ++n) {
      const double flux = factor * y[i * w + n];
      v[i * w + n] -= flux;
      v[i * w + n - 1] += flux;
    }
}

/* Adds d f / d kappa (binding term only). */
static inline void chain_add_dkappa(const chain *c, const kps_inputs *in,
                                    const double *y, double *v) {
  const double Rf = chain_free_receptors(c, y);
  for (int i = 0; i < c->K; ++i)
    v[i * (c->N + 1)] += (in->L[i] - chain_type_total(c, y, i)) * Rf;
}

/* Adds d f / d R (binding term only; none with R_f pooled, where R enters
 * through the conservation law alone). */
static inline void chain_add_dR(const chain *c, const kps_inputs *in,
                                const double *y, double *v) {
  if (c->pooled) return;
  for (int i = 0; i < c->K; ++i)
    v[i * (c->N + 1)] += c->kappa * (in->L[i] - chain_type_total(c, y, i));
}

/* Adds d f / d R_f at fixed complexes: the binding flux pattern. */
static inline void chain_add_dRf(const chain *c, const kps_inputs *in,
                                 const double *y, double *v) {
  for (int i = 0; i < c->K; ++i)
    v[i * (c->N + 1)] += c->kappa * (in->L[i] - chain_type_total(c, y, i));
}

/*
 * d f / d tau_i and d f / d L_i (0 <= which < 2K) into a zeroed v. Returns 1
 * when `which` was one of those, 0 otherwise (a model parameter, or invalid).
 */
static inline int chain_add_dinput(const chain *c, const kps_inputs *in,
                                   const double *y, int which, double *v) {
  const int w = c->N + 1;
  if (which < 0) return 0;
  if (which < c->K) {
    const int i = which;
    const double t = in->tau[i];
    for (int n = 0; n <= c->N; ++n) v[i * w + n] += y[i * w + n] / (t * t);
    return 1;
  }
  if (which < 2 * c->K) {
    const int i = which - c->K;
    v[i * w] += c->kappa * chain_free_receptors(c, y);
    return 1;
  }
  return 0;
}

/* O = sum_i C_{N,i}; dO_dy (n entries, may be NULL) is 1 there, else 0. */
static inline double chain_output(const chain *c, const double *y,
                                  double *dO_dy) {
  const int w = c->N + 1;
  if (dO_dy) memset(dO_dy, 0, sizeof(double) * (size_t)c->n);
  double O = 0.0;
  for (int i = 0; i < c->K; ++i) {
    O += y[i * w + c->N];
    if (dO_dy) dO_dy[i * w + c->N] = 1.0;
  }
  return O;
}

/*
 * Complexes, free receptors and free ligands each >= -tol * scale: R for a
 * complex and for R_f (no complex can exceed it), max(L_i, 1) for free
 * ligand i. The comparisons are written so that NaN fails. Returns 0 when
 * valid.
 */
static inline int chain_check_state(const chain *c, const kps_inputs *in,
                                    const double *y, double tol) {
  const int nc = chain_size(c->N, c->K);
  const double floor_R = -tol * c->R;
  for (int k = 0; k < nc; ++k)
    if (!(y[k] >= floor_R)) return 1;
  if (!(chain_free_receptors(c, y) >= floor_R)) return 1;
  for (int i = 0; i < c->K; ++i) {
    const double Li = in->L[i];
    const double scale = Li > 1.0 ? Li : 1.0;
    if (!(Li - chain_type_total(c, y, i) >= -tol * scale)) return 1;
  }
  return 0;
}

/* An extra species x with 0 <= x <= total, within tol * total. */
static inline int chain_check_bounded(double x, double total, double tol) {
  return !(x >= -tol * total && x <= total * (1.0 + tol));
}

/* "C[n,i]" for the complexes, `extra` for the index after them. */
static inline void chain_state_name(int N, int K, int k, const char *extra,
                                    char *buf, size_t n) {
  if (n == 0) return;
  if (k >= 0 && k < chain_size(N, K))
    snprintf(buf, n, "C[%d,%d]", k % (N + 1), k / (N + 1));
  else if (extra && k == chain_size(N, K))
    snprintf(buf, n, "%s", extra);
  else
    snprintf(buf, n, "?");
}

/* Fills v[0..n) with NaN: the answer to a non-differentiable `which`. */
static inline void chain_fill_nan(double *v, int n) {
  for (int k = 0; k < n; ++k) v[k] = NAN;
}

#endif
