/*
 * The biomimetic input layer (docs/defence.md): adaptive proofreading
 * T_{N,m} applied to an image, each pixel intensity x_i in [0, 1] read as a
 * ligand's binding time. Per pixel
 *
 *   T_i = x_i^N / (theta^(N-m) (M_m + c)),   M_m = (1/n) sum_j x_j^m,
 *   y_i = T_i / (1 + T_i),
 *
 * the image's m-th moment M_m being the late feedback (the inhibitory
 * branch that counts every bound ligand with weight tau^m) and theta the
 * threshold binding time (T_i = 1 at x_i = theta on a uniform image). For
 * m >= 2 a dim pixel neither responds (x^N) nor feeds back (x^m): response
 * and gradient vanish, so small perturbations of weak inputs are filtered;
 * for m = 1 every pixel, however dim, feeds back with slope 1/n (the
 * antagonism of the cellular networks). m = 0 has no feedback (x^0 = 1).
 */
#ifndef KPSWEEP_DEFENCE_H
#define KPSWEEP_DEFENCE_H

#include <stddef.h>

typedef struct kps_layer {
  int on;       /* 0: identity (an undefended network) */
  int N, m;     /* proofreading steps and feedback order, 0 <= m < N */
  double theta; /* threshold intensity, > 0 */
  double c;     /* floor of the feedback: keeps a black image finite */
} kps_layer;

/* The identity layer. */
kps_layer kps_layer_none(void);

/* A layer T_{N,m} with threshold theta and feedback floor c. */
kps_layer kps_layer_make(int N, int m, double theta, double c);

/* Empty string when valid; else why not, into why (n bytes). */
const char *kps_layer_check(const kps_layer *l, char *why, size_t n);

/*
 * y = layer(x) for one image of n pixels; T (n values, may be NULL for the
 * identity) keeps T_i and *D the feedback M_m + c for the backward pass.
 * Not collective.
 */
void kps_layer_forward(const kps_layer *l, size_t n, const double *x, double *y, double *T,
                       double *D);

/*
 * The exact input gradient: gx = (dy/dx)^T gy, including the feedback's
 * dependence on every pixel, from the T and D of the forward pass. Not
 * collective.
 */
void kps_layer_backward(const kps_layer *l, size_t n, const double *x, const double *T, double D,
                        const double *gy, double *gx);

#endif
