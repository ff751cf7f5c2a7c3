#!/usr/bin/python3
"""scipy reference timings for the bench_solve line (docs/benchmarks.md).

adaptive_sorting, N = 5, m = 2, default constants (science.md 2.3), agonist
L = 4000 at tau = 4, antagonist L = 6000 at tau_2 on 200 points in [0.1, 2.9];
steady state + the 4 gradients dO/dtau_1, dO/dtau_2, dO/dL_1, dO/dL_2 by the
implicit function theorem (numpy.linalg.solve with the analytic Jacobian).

  cold    scipy.integrate.ode('vode', method='bdf', analytic Jacobian) from the
          all-free state at geometric output times 0.05 * 2^k, a Newton polish
          tried at each (as kpsweep does), + IFT gradients. Timed on a subset of
          the points (--cold-points, default 20, evenly spaced) and reported
          per point.
  newton  continuation along the line: first point cold, then a hand Newton
          in numpy from the previous state (relative step < 1e-10, as kpsweep's
          newton_tol), + IFT gradients; whole line / 200.
  hybr    the same continuation with scipy.optimize.root(method='hybr', jac).
  plain   the usual cold route: vode BDF integrated until every component's
          rate is below 1e-9 of its value per second, no polish (the route the
          issue quotes at about 10 ms per point).

usage: /usr/bin/python3 bench/bench_scipy.py [--cold-points N] [--reps N]
Last line: "RESULT scipy_cold_us=... scipy_newton_us=... scipy_hybr_us=...".
"""
import argparse
import statistics
import sys
import time

import numpy as np
from scipy.integrate import ode
from scipy.optimize import root

N, M = 5, 2
KAPPA, PHI, ALPHA, DELTA, EPS, R, KT = 1e-4, 0.09, 3e-4, 1.0, 1.0, 1e4, 1e3
NPTS, TAU2_LO, TAU2_HI = 200, 0.1, 2.9
TAU1, L1, L2 = 4.0, 4000.0, 6000.0
K = 2
W = N + 1
NS = K * W + 1  # state size, kinase last
IK = NS - 1
OUT_IDX = [i * W + N for i in range(K)]


def rhs(y, tau, L):
    C = y[:K * W].reshape(K, W)
    kin = y[IK]
    Rf = R - C.sum()
    T = C.sum(axis=1)
    k = np.full(N, PHI)
    k[N - 1] = ALPHA * kin
    F = -C / tau[:, None]
    F[:, 0] += KAPPA * (L - T) * Rf
    flux = C[:, :N] * k
    F[:, :N] -= flux
    F[:, 1:] += flux
    f = np.empty(NS)
    f[:K * W] = F.ravel()
    f[IK] = EPS * (KT - kin) - DELTA * kin * C[:, M].sum()
    return f


def jac(y, tau, L):
    """Analytic Jacobian d f / d y (dense, row-major numpy)."""
    C = y[:K * W].reshape(K, W)
    kin = y[IK]
    Rf = R - C.sum()
    T = C.sum(axis=1)
    J = np.zeros((NS, NS))
    for i in range(K):
        r0 = i * W
        J[r0, :K * W] = -KAPPA * (L[i] - T[i])          # binding vs every complex (via R_f)
        J[r0, r0:r0 + W] -= KAPPA * Rf                 # and via the free ligand of type i
        for n in range(W):
            J[r0 + n, r0 + n] -= 1.0 / tau[i]
        for n in range(N):
            kn = PHI if n < N - 1 else ALPHA * kin
            J[r0 + n, r0 + n] -= kn
            J[r0 + n + 1, r0 + n] += kn
        # the last step's rate depends on the kinase
        J[r0 + N - 1, IK] -= ALPHA * C[i, N - 1]
        J[r0 + N, IK] += ALPHA * C[i, N - 1]
        J[IK, r0 + M] = -DELTA * kin
    J[IK, IK] = -EPS - DELTA * C[:, M].sum()
    return J


def dfdp(y, tau, L):
    """Columns d f / d (tau_1, tau_2, L_1, L_2) at fixed y."""
    C = y[:K * W].reshape(K, W)
    Rf = R - C.sum()
    P = np.zeros((NS, 2 * K))
    for i in range(K):
        P[i * W:(i + 1) * W, i] = C[i] / tau[i] ** 2
        P[i * W, K + i] = KAPPA * Rf
    return P


def gradients(y, tau, L):
    """IFT: J dy/dp = -df/dp, dO/dp = sum of the output rows."""
    S = np.linalg.solve(jac(y, tau, L), -dfdp(y, tau, L))
    return S[OUT_IDX].sum(axis=0)


def newton(y, tau, L, tol=1e-10, maxit=25):
    y = y.copy()
    for _ in range(maxit):
        dy = np.linalg.solve(jac(y, tau, L), -rhs(y, tau, L))
        y += dy
        if np.max(np.abs(dy) / np.maximum(np.abs(y), 1e-300)) <= tol:
            return y
    return None


def y0():
    y = np.zeros(NS)
    y[IK] = KT
    return y


def cold(tau, L, rtol=1e-6):
    """vode BDF with the analytic Jacobian; a Newton polish at 0.05 * 2^k s."""
    r = ode(lambda t, y: rhs(y, tau, L), lambda t, y: jac(y, tau, L))
    r.set_integrator("vode", method="bdf", with_jacobian=True, rtol=rtol,
                     atol=1e-12 * max(R, L.max(), KT), nsteps=100000)
    r.set_initial_value(y0(), 0.0)
    t = 0.05
    while t <= 1e7:
        y = r.integrate(t)
        if not r.successful():
            raise RuntimeError("vode failed at t = %g" % t)
        yp = newton(y, tau, L, maxit=8)
        if yp is not None and yp.min() >= -1e-9 * R:
            return yp
        t *= 2
    raise RuntimeError("no steady state")


def cold_plain(tau, L, rtol=1e-8):
    """vode BDF with the analytic Jacobian integrated until every component's
    rate is below 1e-9 of its value per second (no Newton polish): the usual
    route, and the one the issue timed at about 10 ms per point."""
    r = ode(lambda t, y: rhs(y, tau, L), lambda t, y: jac(y, tau, L))
    r.set_integrator("vode", method="bdf", with_jacobian=True, rtol=rtol,
                     atol=1e-14 * max(R, L.max(), KT), nsteps=100000)
    r.set_initial_value(y0(), 0.0)
    t = 1.0
    while t <= 1e7:
        y = r.integrate(t)
        if not r.successful():
            raise RuntimeError("vode failed at t = %g" % t)
        if np.all(np.abs(rhs(y, tau, L)) <= 1e-9 * np.abs(y) + 1e-300):
            return y
        t *= 1.5
    raise RuntimeError("no steady state")


def line_taus():
    return [TAU2_LO + (TAU2_HI - TAU2_LO) * k / (NPTS - 1) for k in range(NPTS)]


def run_cold(points, solve=None):
    solve = solve or cold
    out = []
    t0 = time.perf_counter()
    for t2 in points:
        tau, L = np.array([TAU1, t2]), np.array([L1, L2])
        y = solve(tau, L)
        out.append((y[OUT_IDX].sum(), gradients(y, tau, L)))
    return time.perf_counter() - t0, out


def run_continuation(method):
    out = []
    t0 = time.perf_counter()
    y = None
    for k, t2 in enumerate(line_taus()):
        tau, L = np.array([TAU1, t2]), np.array([L1, L2])
        if k == 0:
            y = cold(tau, L)
        elif method == "newton":
            yn = newton(y, tau, L)
            y = yn if yn is not None else cold(tau, L)
        else:
            sol = root(rhs, y, args=(tau, L), jac=jac, method="hybr",
                       options={"xtol": 1e-12})
            y = sol.x if sol.success else cold(tau, L)
        out.append((y[OUT_IDX].sum(), gradients(y, tau, L)))
    return time.perf_counter() - t0, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cold-points", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    taus = line_taus()
    step = max(1, NPTS // a.cold_points)
    subset = taus[::step][:a.cold_points]
    ncold = len(subset)

    tc = [run_cold(subset)[0] for _ in range(a.reps)]
    tp = [run_cold(subset, cold_plain)[0] for _ in range(a.reps)]
    up = 1e6 * statistics.median(tp) / ncold
    tn, tn_out = zip(*[run_continuation("newton") for _ in range(a.reps)])
    th, th_out = zip(*[run_continuation("hybr") for _ in range(a.reps)])
    uc = 1e6 * statistics.median(tc) / ncold
    un = 1e6 * statistics.median(tn) / NPTS
    uh = 1e6 * statistics.median(th) / NPTS

    # agreement between the routes on the cold subset
    _, cold_out = run_cold(subset)
    idx = [taus.index(t) for t in subset]
    dO = max(abs(cold_out[j][0] - tn_out[0][i][0]) / abs(cold_out[j][0]) for j, i in enumerate(idx))
    dOh = max(abs(th_out[0][i][0] - tn_out[0][i][0]) / abs(tn_out[0][i][0]) for i in range(NPTS))

    print("bench_scipy: adaptive_sorting N=%d m=%d, %d points, tau2 in [%g, %g]; medians of %d"
          % (N, M, NPTS, TAU2_LO, TAU2_HI, a.reps))
    print("%-58s %12s" % ("route (steady state + 4 IFT gradients)", "us/point"))
    print("%-58s %12.1f" % ("cold: ode('vode','bdf') + analytic Jacobian (%d of %d pts)"
                            % (ncold, NPTS), uc))
    print("%-58s %12.1f" % ("cold: ode('vode','bdf') to |f_i| < 1e-9 |y_i| (%d pts), no polish"
                            % ncold, up))
    print("%-58s %12.1f" % ("warm: hand Newton continuation (numpy), amortised", un))
    print("%-58s %12.1f" % ("warm: optimize.root('hybr', jac) continuation, amortised", uh))
    print("max rel |O| difference: cold vs Newton %.1e, hybr vs Newton %.1e" % (dO, dOh))
    print("RESULT scipy_cold_us=%.2f scipy_newton_us=%.2f scipy_hybr_us=%.2f cold_points=%d "
          "max_rel_dO_cold_newton=%.3e scipy_plain_us=%.2f" % (uc, un, uh, ncold, dO, up))
    return 0


if __name__ == "__main__":
    sys.exit(main())
