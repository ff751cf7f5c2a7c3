#!/usr/bin/python3
"""Independent cross-check of kpsweep's ODE steady states and gradients with scipy.

usage: /usr/bin/python3 tests/scipy/crosscheck.py BUILD_DIR

The right-hand sides of kpr, adaptive_sorting and shp1 are written here in numpy
from docs/science.md section 2 (not from the C code). Their Jacobian is
the complex-step derivative of that right-hand side (exact to rounding for these
polynomial fields, and independent of the C analytic Jacobians). Each point is
integrated with scipy.integrate.solve_ivp (BDF, rtol 1e-10, tiny atol, horizon
1e5 s) from the all-free state, then polished with Newton steps to full
precision. The result is compared with `kpsweep solve --json`:

  * output O to 1e-8 relative;
  * every state component to 1e-7 relative, or 1e-9 * scale absolute for tiny
    ones (scale: R for complexes, K_T for the kinase, S_T for SHP-1);
  * grad_tau and grad_L against central finite differences of the scipy steady
    states (Richardson-extrapolated, h = 1e-3 relative) to 1e-5 relative, with an
    absolute floor of 1e-9 * |O| / x for a derivative with respect to x.

Prints TAP; exits non-zero on any failure. Runtime about 20-40 s.
"""
import json
import os
import subprocess
import sys
import time

import numpy as np
from scipy.integrate import solve_ivp

TOL_O = 1e-8
TOL_STATE_REL = 1e-7
TOL_STATE_ABS = 1e-9
TOL_GRAD = 1e-5
GRAD_FLOOR = 1e-9
FD_H = 1e-3

# ---------------------------------------------------------------------------
# Models (science.md section 2). y has shape (..., n): batched evaluation lets
# one call produce the whole complex-step Jacobian.
# State layout (docs/models.md): y[i*(N+1)+n] = C_{n,i}; extra species last.
# ---------------------------------------------------------------------------

DEFAULTS = {
    "kpr": {"N": 5, "kappa": 1e-4, "phi": 0.09, "R": 1e4},
    "adaptive_sorting": {"N": 5, "m": 2, "kappa": 1e-4, "phi": 0.09, "alpha": 3e-4,
                         "delta": 1.0, "eps": 1.0, "R": 1e4, "KT": 1e3},
    "shp1": {"N": 5, "m": 1, "kappa": 1e-4, "phi": 0.09, "b": 0.04, "gamma": 1.2e-6,
             "Cstar": 500.0, "R": 3e4, "ST": 6e5, "betaS": 1.0},
}


def n_state(model, p, K):
    return K * (p["N"] + 1) + (0 if model == "kpr" else 1)


def split(y, p, K):
    N = p["N"]
    C = y[..., :K * (N + 1)].reshape(y.shape[:-1] + (K, N + 1))
    return C


def rhs(model, p, tau, L, y):
    """dy/dt for model at parameters p, binding times tau[K], counts L[K]."""
    tau = np.asarray(tau, dtype=float)
    L = np.asarray(L, dtype=float)
    K = len(tau)
    N = p["N"]
    C = split(y, p, K)
    koff = 1.0 / tau                                    # (K,)
    Rf = p["R"] - C.sum(axis=(-1, -2))                  # free receptors (...)
    T = C.sum(axis=-1)                                  # complexes of each type (..., K)
    bind = p["kappa"] * (L - T) * Rf[..., None]         # (..., K)

    F = np.zeros_like(C)
    F += -koff[:, None] * C                             # unbinding from every state
    F[..., 0] += bind
    # forward rates k_n of the steps n -> n+1, n = 0..N-1 (shape (..., N))
    if model == "kpr":
        kf = np.full(C.shape[:-2] + (N,), p["phi"], dtype=C.dtype)
        back = None
    elif model == "adaptive_sorting":
        kin = y[..., -1]
        kf = np.empty(C.shape[:-2] + (N,), dtype=C.dtype)
        kf[..., :] = p["phi"]
        kf[..., N - 1] = p["alpha"] * kin               # last step catalysed by the kinase
        back = None
    elif model == "shp1":
        S = y[..., -1]
        kf = np.full(C.shape[:-2] + (N,), p["phi"], dtype=C.dtype)
        back = p["b"] + p["gamma"] * S                  # d = b + gamma S
    else:
        raise ValueError(model)
    flux = kf[..., None, :] * C[..., :, :N]             # (..., K, N) forward fluxes
    F[..., :, :N] -= flux
    F[..., :, 1:] += flux
    if back is not None:
        bflux = back[..., None, None] * C[..., :, 1:]   # n -> n-1 for n >= 1
        F[..., :, 1:] -= bflux
        F[..., :, :N] += bflux

    f = np.zeros_like(y)
    f[..., :K * (N + 1)] = F.reshape(y.shape[:-1] + (K * (N + 1),))
    m = p.get("m", 0)
    Cm = C[..., :, m].sum(axis=-1)
    if model == "adaptive_sorting":
        kin = y[..., -1]
        f[..., -1] = p["eps"] * (p["KT"] - kin) - p["delta"] * kin * Cm
    elif model == "shp1":
        S = y[..., -1]
        alphaS = p["betaS"] / p["Cstar"]
        f[..., -1] = alphaS * Cm * (p["ST"] - S) - p["betaS"] * S
    return f


def jac_cs(model, p, tau, L, y):
    """Complex-step Jacobian: J[:, j] = Im f(y + i h e_j) / h (exact for polynomials)."""
    n = y.size
    h = 1e-100 * np.maximum(np.abs(y), 1.0)
    Y = np.tile(y.astype(complex), (n, 1))
    Y[np.arange(n), np.arange(n)] += 1j * h
    Fc = rhs(model, p, tau, L, Y)                       # row j: f(y + i h_j e_j)
    return (Fc.imag / h[:, None]).T


def initial_state(model, p, K):
    y = np.zeros(n_state(model, p, K))
    if model == "adaptive_sorting":
        y[-1] = p["KT"]
    return y


def newton(model, p, tau, L, y, maxit=60):
    """Newton on f(y) = 0 until the relative step stops shrinking below 1e-14."""
    y = y.copy()
    last = np.inf
    for it in range(maxit):
        f = rhs(model, p, tau, L, y)
        J = jac_cs(model, p, tau, L, y)
        # column scaling keeps the solve well conditioned across 10 decades
        s = np.maximum(np.abs(y), 1e-12)
        dy = -np.linalg.solve(J * s[None, :], f) * s
        y = y + dy
        step = np.max(np.abs(dy) / np.maximum(np.abs(y), 1e-300))
        if not np.isfinite(step):
            return None
        if step < 1e-15 or (step < 1e-12 and step >= 0.5 * last):
            return y
        last = step
    return y if last < 1e-11 else None


def scipy_steady(model, p, tau, L):
    K = len(tau)
    y0 = initial_state(model, p, K)
    scale = max(p["R"], max(L), p.get("KT", 0), p.get("ST", 0))
    sol = solve_ivp(lambda t, y: rhs(model, p, tau, L, y), (0.0, 1e5), y0, method="BDF",
                    rtol=1e-10, atol=1e-13 * scale,
                    jac=lambda t, y: jac_cs(model, p, tau, L, y))
    if not sol.success:
        raise RuntimeError("solve_ivp: " + sol.message)
    y = newton(model, p, tau, L, sol.y[:, -1])
    if y is None:
        raise RuntimeError("Newton polish did not converge")
    return y


def output(p, K, y):
    N = p["N"]
    return sum(y[i * (N + 1) + N] for i in range(K))


def fd_gradient(model, p, tau, L, y_base, which):
    """dO/d(tau_i or L_i) by central differences with Richardson extrapolation."""
    K = len(tau)
    kind, i = which
    x0 = (tau if kind == "tau" else L)[i]
    h = FD_H * x0

    def O_at(x):
        t, l = list(tau), list(L)
        (t if kind == "tau" else l)[i] = x
        y = newton(model, p, t, l, y_base)
        if y is None:
            raise RuntimeError("FD Newton failed")
        return output(p, K, y)

    d1 = (O_at(x0 + h) - O_at(x0 - h)) / (2 * h)
    d2 = (O_at(x0 + h / 2) - O_at(x0 - h / 2)) / h
    return (4 * d2 - d1) / 3


# ---------------------------------------------------------------------------
# Points: (model, overrides, ligands [(tau, L)], label)
# ---------------------------------------------------------------------------
LIMIT = {"phi": 1e-3, "kappa": 0.1, "R": 1e5}  # science.md 2.3, 1 % set
POINTS = [
    ("kpr", {}, [(4.0, 4000.0)], "defaults N=5 K=1"),
    ("kpr", {}, [(4.0, 4000.0), (1.0, 6000.0)], "defaults N=5 K=2"),
    ("kpr", {"N": 3, "phi": 0.05}, [(2.0, 10000.0), (0.5, 3000.0)], "N=3 phi=0.05 K=2"),
    ("adaptive_sorting", {}, [(4.0, 4000.0)], "defaults N=5 m=2 K=1"),
    ("adaptive_sorting", {}, [(4.0, 4000.0), (1.5, 6000.0)], "defaults N=5 m=2 K=2"),
    ("adaptive_sorting", {"N": 3, "m": 1}, [(4.0, 4000.0), (0.5, 6000.0)],
     "defaults N=3 m=1 K=2"),
    ("adaptive_sorting", dict(LIMIT, N=1, m=0, delta=1.0), [(3.0, 4000.0)],
     "limit set N=1 m=0 K=1"),
    ("adaptive_sorting", dict(LIMIT, N=3, m=1, delta=1e2), [(4.0, 4000.0), (2.0, 6000.0)],
     "limit set N=3 m=1 K=2"),
    ("adaptive_sorting", dict(LIMIT, N=5, m=2, delta=1e5), [(4.0, 4000.0), (1.0, 6000.0)],
     "limit set N=5 m=2 K=2"),
    ("adaptive_sorting", dict(LIMIT, N=5, m=4, delta=1e9), [(4.0, 4000.0), (2.5, 6000.0)],
     "limit set N=5 m=4 K=2"),
    ("shp1", {}, [(10.0, 1000.0)], "PNAS N=5 m=1 K=1"),
    ("shp1", {}, [(10.0, 1000.0), (1.0, 10000.0)], "PNAS N=5 m=1 K=2"),
    ("shp1", {}, [(3.0, 3000.0), (0.5, 30000.0)], "PNAS N=5 m=1 K=2 (tau 3, 0.5)"),
]


def kpsweep_solve(exe, model, over, ligands):
    cmd = [exe, "solve", "--model", model, "--json"]
    for k, v in over.items():
        cmd += ["--set", "%s=%r" % (k, v)]
    for t, l in ligands:
        cmd += ["--ligand", "%r:%r" % (t, l)]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return json.loads(r.stdout)


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, ok, desc, diag=""):
        self.n += 1
        if not ok:
            self.failed += 1
        print("%s %d - %s" % ("ok" if ok else "not ok", self.n, desc))
        if diag and (not ok or os.environ.get("VERBOSE")):
            for line in diag.splitlines():
                print("# " + line)
        sys.stdout.flush()


def main():
    if len(sys.argv) != 2:
        print("usage: crosscheck.py BUILD_DIR", file=sys.stderr)
        return 2
    exe = os.path.join(sys.argv[1], "src", "kpsweep")
    if not os.access(exe, os.X_OK):
        print("Bail out! no kpsweep executable at " + exe)
        return 1
    tap = Tap()
    t_start = time.time()
    for model, over, ligands, label in POINTS:
        p = dict(DEFAULTS[model])
        p.update(over)
        p["N"] = int(p["N"])
        if "m" in p:
            p["m"] = int(p["m"])
        tau = [t for t, _ in ligands]
        L = [l for _, l in ligands]
        K = len(tau)
        name = "%s %s" % (model, label)
        try:
            js = kpsweep_solve(exe, model, over, ligands)
            y = scipy_steady(model, p, tau, L)
        except Exception as e:  # a failed solve is a failed check, not a crash
            tap.check(False, name + ": solve", str(e))
            continue
        if js.get("status") != "ok" or js.get("state") is None:
            tap.check(False, name + ": kpsweep status ok", "status %s" % js.get("status"))
            continue

        # output
        O = output(p, K, y)
        Ok = js["output"]
        rel = abs(Ok - O) / abs(O)
        tap.check(rel <= TOL_O, "%s: O agrees (rel %.1e)" % (name, rel),
                  "kpsweep %.17g scipy %.17g" % (Ok, O))

        # state
        yk = np.array(js["state"], dtype=float)
        nc = K * (p["N"] + 1)
        scale = np.full(y.size, p["R"])
        if model == "adaptive_sorting":
            scale[nc] = p["KT"]
        elif model == "shp1":
            scale[nc] = p["ST"]
        if yk.size != y.size:
            tap.check(False, name + ": state size", "kpsweep %d scipy %d" % (yk.size, y.size))
        else:
            err = np.abs(yk - y)
            okv = (err <= TOL_STATE_REL * np.abs(y)) | (err <= TOL_STATE_ABS * scale)
            worst = int(np.argmax(err / np.maximum(np.abs(y), 1e-300)))
            tap.check(bool(okv.all()),
                      "%s: every state component agrees (worst rel %.1e at %s)" %
                      (name, err[worst] / max(abs(y[worst]), 1e-300),
                       js["state_names"][worst]),
                      "\n".join("%-8s kpsweep %.17g scipy %.17g" % (js["state_names"][k], yk[k], y[k])
                                for k in range(y.size) if not okv[k]))

        # gradients against finite differences of the scipy steady states
        for kind, key, xs in (("tau", "grad_tau", tau), ("L", "grad_L", L)):
            bad, worst, diag = 0, 0.0, []
            for i in range(K):
                try:
                    fd = fd_gradient(model, p, tau, L, y, (kind, i))
                except Exception as e:
                    bad += 1
                    diag.append("FD d O/d %s_%d: %s" % (kind, i, e))
                    continue
                g = js[key][i]
                err = abs(g - fd)
                lim = TOL_GRAD * abs(fd) + GRAD_FLOOR * abs(O) / xs[i]
                worst = max(worst, err / max(abs(fd), 1e-300))
                if not err <= lim:
                    bad += 1
                diag.append("dO/d%s_%d kpsweep %.12g FD %.12g (err %.2e, limit %.2e)"
                            % (kind, i, g, fd, err, lim))
            tap.check(bad == 0, "%s: %s matches central differences (worst rel %.1e)"
                      % (name, key, worst), "\n".join(diag))
    print("1..%d" % tap.n)
    print("# %d passed, %d failed in %.1f s" % (tap.n - tap.failed, tap.failed,
                                                  time.time() - t_start))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
