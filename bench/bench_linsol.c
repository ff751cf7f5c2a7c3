/*
 * Which CVODE linear solver for these networks: cold solves of
 * adaptive_sorting (N = 5, m = 2, K = 2, default constants) to t = 100 s with
 * the dense solver and with the band solver at full and at half bandwidth,
 * along a 200-point tau2 line. Prints time per solve, steps and the output
 * (a truncated band changes the Newton matrix, so O moves). docs/models.md.
 */
#include <cvode/cvode.h>
#include <nvector/nvector_serial.h>
#include <stdio.h>
#include <sunlinsol/sunlinsol_band.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_band.h>
#include <sunmatrix/sunmatrix_dense.h>

#include "../src/check.h"
#include "kpsweep/model.h"
#include "kpsweep/progress.h"

#define NPTS 200
#define MAXN 64

typedef struct bench_data {
  const kps_model *m;
  kps_inputs in;
  int n;
  double J[MAXN * MAXN];
} bench_data;

static int rhs(sunrealtype t, N_Vector y, N_Vector yd, void *d) {
  (void)t;
  const bench_data *u = d;
  u->m->rhs(u->m, &u->in, N_VGetArrayPointer(y), N_VGetArrayPointer(yd));
  return 0;
}

static int jac_dense(sunrealtype t, N_Vector y, N_Vector fy, SUNMatrix J, void *d, N_Vector a,
                     N_Vector b, N_Vector c) {
  (void)t, (void)fy, (void)a, (void)b, (void)c;
  const bench_data *u = d;
  u->m->jacobian(u->m, &u->in, N_VGetArrayPointer(y), SM_DATA_D(J));
  return 0;
}

static int jac_band(sunrealtype t, N_Vector y, N_Vector fy, SUNMatrix J, void *d, N_Vector a,
                    N_Vector b, N_Vector c) {
  (void)t, (void)fy, (void)a, (void)b, (void)c;
  bench_data *u = d;
  u->m->jacobian(u->m, &u->in, N_VGetArrayPointer(y), u->J);
  const long mu = SM_UBAND_B(J), ml = SM_LBAND_B(J);
  for (int j = 0; j < u->n; ++j)
    for (int i = 0; i < u->n; ++i)
      if (i - j <= ml && j - i <= mu) SM_ELEMENT_B(J, i, j) = u->J[i + j * u->n];
  return 0;
}

/* One cold solve with linear solver `variant` (0 dense, else band of that width). */
static kps_err solve(SUNContext ctx, bench_data *u, int width, long *steps, double *O) {
  kps_err rc = KPS_OK;
  N_Vector y = NULL;
  SUNMatrix A = NULL;
  SUNLinearSolver LS = NULL;
  void *cv = NULL;
  y = N_VNew_Serial(u->n, ctx);
  KPS_CHECK_ALLOC(y);
  u->m->initial_state(u->m, &u->in, N_VGetArrayPointer(y));
  A = width == 0 ? SUNDenseMatrix(u->n, u->n, ctx) : SUNBandMatrix(u->n, width, width, ctx);
  KPS_CHECK_ALLOC(A);
  LS = width == 0 ? SUNLinSol_Dense(y, A, ctx) : SUNLinSol_Band(y, A, ctx);
  KPS_CHECK_ALLOC(LS);
  cv = CVodeCreate(CV_BDF, ctx);
  KPS_CHECK_ALLOC(cv);
  KPS_CHECK_CV(CVodeInit(cv, rhs, 0.0, y));
  KPS_CHECK_CV(CVodeSetUserData(cv, u));
  KPS_CHECK_CV(CVodeSStolerances(cv, 1e-8, 1e-12 * 1e4));
  KPS_CHECK_CV(CVodeSetLinearSolver(cv, LS, A));
  KPS_CHECK_CV(CVodeSetJacFn(cv, width == 0 ? jac_dense : jac_band));
  KPS_CHECK_CV(CVodeSetMaxNumSteps(cv, 100000));
  double t;
  KPS_CHECK_CV(CVode(cv, 100.0, y, &t, CV_NORMAL));
  KPS_CHECK_CV(CVodeGetNumSteps(cv, steps));
  *O = u->m->output(u->m, &u->in, N_VGetArrayPointer(y), NULL);
cleanup:
  if (cv) CVodeFree(&cv);
  if (LS) SUNLinSolFree(LS);
  if (A) SUNMatDestroy(A);
  if (y) N_VDestroy(y);
  return rc;
}

int main(void) {
  kps_err rc = KPS_OK;
  SUNContext ctx = NULL;
  KPS_CHECK_CV(SUNContext_Create(NULL, &ctx));
  bench_data u;
  u.m = kps_model_find("adaptive_sorting");
  double p[KPS_MAX_PARAMS], tau[2] = {4.0, 1.0}, L[2] = {4000.0, 6000.0};
  kps_model_defaults(u.m, p);
  u.in = (kps_inputs){.p = p, .K = 2, .tau = tau, .L = L};
  u.n = u.m->n_state(u.m, p, 2);
  const int widths[3] = {0, u.n - 1, (u.n - 1) / 2};
  printf("adaptive_sorting N=5 m=2 K=2 (n = %d), cold CVODE solves to t = 100 s, rtol 1e-8\n", u.n);
  for (int v = 0; v < 3; ++v) {
    long steps = 0, total = 0;
    double O = 0.0;
    const double t0 = kps_now();
    for (int r = 0; r < NPTS; ++r) {
      tau[1] = 0.1 + 2.8 * r / (NPTS - 1);
      KPS_CHECK(solve(ctx, &u, widths[v], &steps, &O));
      total += steps;
    }
    char name[64];
    if (v == 0) snprintf(name, sizeof name, "dense");
    else snprintf(name, sizeof name, "band, bandwidth %d%s", widths[v], v == 2 ? " (truncated)" : "");
    printf("%-32s %9.1f us/solve %6.0f steps  O(tau2=2.9) = %.12g\n", name,
           1e6 * (kps_now() - t0) / NPTS, (double)total / NPTS, O);
  }
cleanup:
  if (ctx) SUNContext_Free(&ctx);
  return rc == KPS_OK ? 0 : 1;
}
