#!/usr/bin/python3
"""High-precision (mpmath) reference check of kpsweep's steady states and gradients.

usage: /usr/bin/python3 tests/scipy/highprec.py BUILD_DIR [--points N] [--seed S]
                                    [--floor F] [--o-floor G] [--report] [--verbose]

An independent route to every gradient the engine prints, at 50 significant
digits (mpmath), for the four models of docs/science.md (sections 2-4):

  * kpr, adaptive_sorting, shp1: the right-hand sides are written here from
    docs/science.md section 2 (not from the C code). State layout
    y[i*(N+1)+n] = C_{n,i}, the extra species (kinase K, SHP-1 S) last; the
    script checks the engine's `state_names` against it. The steady state is
    found by Newton's method in mpmath started from the engine's printed state
    and iterated until every component's relative step is below 1e-35. The
    Jacobian df/dy and the input derivatives df/dx are complex-step derivatives
    of this right-hand side in mpmath (mpc; the imaginary part carries its own
    50 digits, so a step of 1e-40 relative leaves an O(h^2) = 1e-80 error:
    exact at working precision). Gradients by the implicit function theorem in
    adjoint form: J^T lambda = dO/dy, dO/dx = -lambda . df/dx, for x in every
    tau_i, every L_i and every non-integer model parameter.
  * ideal: the closed form T_{N,m} = S_N / (tau_c^(N-m) S_m) and its
    derivatives with respect to tau_i, L_i, N, m and tau_c, evaluated in mpmath.

Output O = sum_i C_{N,i} (ideal: T).

Comparison. Inputs have different units, so every gradient entry is compared
as an elasticity e = x * dO/dx (x the input's value; a parameter whose value
is 0 would be compared as 1 * dO/dx). Entries are grouped in three kinds:
'tau' (x = tau_i), 'L' (x = L_i), 'param' (x = a non-integer model
parameter). The error of an entry is

    |e - e_ref| / max(|e_ref|, floor),   floor = 1e-12 * max_kind |e_ref|

with the maximum over the entries of that kind at that point (when every
entry of a kind vanishes, below 1e-30 |O|, e.g. dO/dL of ideal with one
ligand type, max_kind |e_ref| is replaced by |O|). Target: every entry within
1e-8. Note what this asks of an entry far below the floor (an exact zero such
as dO/dbetaS of shp1, whose steady state does not depend on beta_S): its
absolute error must stay below 1e-20 * max_kind |e_ref|. The failing entries
that lie below the floor are marked "(below floor)" and counted apart;
--floor F changes the 1e-12, and --o-floor G raises the floor to at least
G * |O| (the natural scale of an elasticity; off by default). O is compared relatively (target 1e-10), the
state componentwise relatively (target 1e-8, no floor: the engine converges
every component relatively, and C_N may sit 20 or more decades below C_0).

Points: a few fixed ones (defaults, the science.md section 2.3 limit set, the
point of the dO/dKT bug report) and --points random ones (default 200: 60
each for kpr, adaptive_sorting, shp1 and 20 for ideal), drawn log-uniformly
with a fixed seed (--seed) over the ranges in RANGES below: the documented
ranges are (0, inf), these are the decades around the published constants,
delta up to 1e9 as in science.md 2.3; N = 1..6, m < N, 1..3 ligand types, tau
in [0.05, 20] s, L in [1, 1e5]. A quarter of the ODE points force one ligand
count to 10..100 times R (L >> R, up to 1e6); a sixth are "tiny output" points
(short binding times, slow proofreading: O down to ~1e-30, states spanning
more than 1e20). The engine runs with an explicit threshold (--threshold-value
1) so that only the point itself is solved. A point whose engine status is
not "ok" is counted and listed, not checked; more than 10 % of them for a
model fails that model's status line. A point the engine flags
"grad_ill_conditioned" (its own first-order bound of a gradient entry's
rounding error, printed as grad_error, exceeds 1e-8) is checked, each entry
against that bound instead of 1e-8; at most 10 % of a model's points may be
flagged, and the comments count how many flagged points needed it and how
many points miss 1e-8 unflagged (which fails the kind's line).

Self-check of the reference: at one point per model (its first random one)
the IFT gradient is compared with central finite differences of the script's
own high-precision steady states (ideal: of the closed form), h = 1e-12
relative at 50 digits (agreement ~1e-23; required 1e-15).

TAP output: per model one line for the status count, O, the state, each kind
('tau', 'L', 'param') and the self-check; comments give the worst error per
model and kind with its point and entry, and each failing point with the
command that reproduces it. Exits non-zero on any failure unless --report (or
KPS_HIGHPREC_REPORT=1) is given, which prints the same and always exits 0.
Runtime about 15 s on a 2-core machine (the engine calls, mostly MPI start-up,
run ENGINE_JOBS at a time; the mpmath work is a few seconds).
"""
import json
import math
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import mpmath
from mpmath import mp, mpf, mpc

DPS = 50
NEWTON_TOL = mpf("1e-35")
TOL_GRAD = 1e-8
# A point the engine flags "grad_ill_conditioned" (its first-order rounding
# bound of a gradient entry exceeds 1e-8: the derivative cancels between
# paths, as in a nearly adapted output) is held to that bound instead of
# 1e-8: the engine may miss the target only where it says so, and by no more
# than it says. At most MAX_FLAGGED_FRAC of a model's points may be flagged.
MAX_FLAGGED_FRAC = 0.10
CARRIES = ("ok", "grad_ill_conditioned")
TOL_O = 1e-10
TOL_STATE = 1e-8
STATE_FLOOR = 0.0
KIND_FLOOR = 1e-12
SELF_TOL = 1e-15
FD_H = mpf("1e-12")
MAX_NONOK_FRAC = 0.10
DEFAULT_POINTS = 200
SEED = 20261127
ENGINE_JOBS = 6
MAX_LISTED = 10     # failing points listed per model without --report

MODELS = ("kpr", "adaptive_sorting", "shp1", "ideal")
KINDS = ("tau", "L", "param")

DEFAULTS = {
    "kpr": {"N": 5, "kappa": 1e-4, "phi": 0.09, "R": 1e4},
    "adaptive_sorting": {"N": 5, "m": 2, "kappa": 1e-4, "phi": 0.09, "alpha": 3e-4,
                         "delta": 1.0, "eps": 1.0, "R": 1e4, "KT": 1e3},
    "shp1": {"N": 5, "m": 1, "kappa": 1e-4, "phi": 0.09, "b": 0.04, "gamma": 1.2e-6,
             "Cstar": 500.0, "R": 3e4, "ST": 6e5, "betaS": 1.0},
    "ideal": {"N": 5.0, "m": 2.0, "tau_c": 3.0},
}
INTEGER = {"N", "m"}          # structural in the ODE models (not differentiable)

# log-uniform ranges of the random draws
RANGES = {
    "kpr": {"kappa": (1e-5, 1e-1), "phi": (1e-4, 1.0), "R": (1e3, 1e5)},
    "adaptive_sorting": {"kappa": (1e-5, 1e-1), "phi": (1e-4, 1.0), "alpha": (1e-5, 1e-2),
                         "delta": (1e-2, 1e9), "eps": (1e-2, 1e2), "R": (1e3, 1e5),
                         "KT": (1e2, 1e4)},
    "shp1": {"kappa": (1e-5, 1e-1), "phi": (1e-3, 1.0), "b": (1e-3, 1.0),
             "gamma": (1e-8, 1e-4), "Cstar": (10.0, 1e4), "R": (1e3, 1e5),
             "ST": (1e4, 1e7), "betaS": (0.1, 10.0)},
    "ideal": {"tau_c": (0.3, 10.0)},
}
TAU_RANGE = (0.05, 20.0)
L_RANGE = (1.0, 1e5)
N_MAX = 6

# Fixed points: (model, overrides, ligands, label)
FIXED = [
    ("kpr", {}, [(4.0, 4000.0), (1.0, 6000.0)], "defaults"),
    ("adaptive_sorting", {}, [(4.0, 4000.0), (1.0, 6000.0)], "defaults"),
    ("adaptive_sorting", {"N": 5, "m": 4, "phi": 1e-3, "kappa": 0.1, "R": 1e5, "delta": 1e9},
     [(4.0, 4000.0), (2.5, 6000.0)], "science.md 2.3 limit set N=5 m=4"),
    ("adaptive_sorting", {"N": 5, "m": 4, "kappa": 2.18935e-05, "phi": 0.00163172,
                          "alpha": 0.000252131, "delta": 0.12991, "eps": 35.9557,
                          "R": 3737.98, "KT": 3528.04},
     [(0.0528155, 273.039), (0.059263, 218.824)], "issue example (dO/dKT)"),
    ("shp1", {}, [(10.0, 1000.0), (1.0, 10000.0)], "PNAS defaults"),
    ("ideal", {}, [(4.0, 4000.0), (1.0, 6000.0)], "defaults"),
]


# ---------------------------------------------------------------------------
# Models (docs/science.md section 2), generic over mpf / mpc numbers.
# ---------------------------------------------------------------------------

def n_state(model, p, K):
    return K * (p["N"] + 1) + (0 if model == "kpr" else 1)


def state_names(model, p, K):
    names = ["C[%d,%d]" % (n, i) for i in range(K) for n in range(p["N"] + 1)]
    if model == "adaptive_sorting":
        names.append("K")
    elif model == "shp1":
        names.append("S")
    return names


def rhs(model, p, tau, L, y):
    """dy/dt. p: dict of numbers (N, m plain ints); tau, L: lists; y: list."""
    K = len(tau)
    N = p["N"]
    W = N + 1
    nc = K * W
    Rf = p["R"] - sum(y[:nc])
    kappa = p["kappa"]
    phi = p["phi"]
    f = [None] * len(y)
    if model == "adaptive_sorting":
        kin = y[nc]
        k_last = p["alpha"] * kin           # rate of the last step N-1 -> N
        back = None
    elif model == "shp1":
        k_last = phi
        back = p["b"] + p["gamma"] * y[nc]  # d = b + gamma S, steps n -> n-1
    else:
        k_last = phi
        back = None
    for i in range(K):
        C = y[i * W:(i + 1) * W]
        koff = 1 / tau[i]
        F = [-koff * c for c in C]
        F[0] += kappa * (L[i] - sum(C)) * Rf
        for n in range(N):
            flux = (k_last if n == N - 1 else phi) * C[n]
            F[n] -= flux
            F[n + 1] += flux
        if back is not None:
            for n in range(1, N + 1):
                bflux = back * C[n]
                F[n] -= bflux
                F[n - 1] += bflux
        f[i * W:(i + 1) * W] = F
    if model != "kpr":
        m = p["m"]
        Cm = sum(y[i * W + m] for i in range(K))
        if model == "adaptive_sorting":
            f[nc] = p["eps"] * (p["KT"] - kin) - p["delta"] * kin * Cm
        else:
            S = y[nc]
            alphaS = p["betaS"] / p["Cstar"]
            f[nc] = alphaS * Cm * (p["ST"] - S) - p["betaS"] * S
    return f


def output(p, K, y):
    N = p["N"]
    return sum(y[i * (N + 1) + N] for i in range(K))


def cs_step(x):
    return mpf("1e-40") * (abs(x) if x != 0 else mpf(1))


def jacobian(model, p, tau, L, y):
    """Complex-step Jacobian J[r][c] = Im f_r(y + i h e_c) / h."""
    n = len(y)
    J = [[None] * n for _ in range(n)]
    yc = [mpc(v) for v in y]
    for c in range(n):
        h = cs_step(y[c])
        save = yc[c]
        yc[c] = mpc(y[c], h)
        fc = rhs(model, p, tau, L, yc)
        yc[c] = save
        for r in range(n):
            J[r][c] = fc[r].imag / h
    return J


def input_derivs(model, p, tau, L, y, inputs):
    """df/dx for each input ('tau', i), ('L', i), ('param', name) by complex step."""
    out = []
    for kind, key in inputs:
        pc, tc, lc = dict(p), list(tau), list(L)
        if kind == "tau":
            x = tau[key]
            h = cs_step(x)
            tc[key] = mpc(x, h)
        elif kind == "L":
            x = L[key]
            h = cs_step(x)
            lc[key] = mpc(x, h)
        else:
            x = p[key]
            h = cs_step(x)
            pc[key] = mpc(x, h)
        fc = rhs(model, pc, tc, lc, [mpc(v) for v in y])
        out.append([v.imag / h for v in fc])
    return out


# ---------------------------------------------------------------------------
# Dense linear algebra in mpmath: equilibrated LU with partial pivoting.
# ---------------------------------------------------------------------------

class LU:
    def __init__(self, A):
        n = len(A)
        # column then row equilibration (states span ~20 decades)
        cs = []
        for c in range(n):
            mx = max(abs(A[r][c]) for r in range(n))
            cs.append(1 / mx if mx != 0 else mpf(1))
        M = [[A[r][c] * cs[c] for c in range(n)] for r in range(n)]
        rs = []
        for r in range(n):
            mx = max(abs(v) for v in M[r])
            if mx == 0:
                raise ZeroDivisionError("singular matrix (zero row %d)" % r)
            rs.append(1 / mx)
            M[r] = [v * rs[r] for v in M[r]]
        perm = list(range(n))
        for k in range(n):
            piv = max(range(k, n), key=lambda r: abs(M[r][k]))
            if M[piv][k] == 0:
                raise ZeroDivisionError("singular matrix (column %d)" % k)
            if piv != k:
                M[k], M[piv] = M[piv], M[k]
                perm[k], perm[piv] = perm[piv], perm[k]
            inv = 1 / M[k][k]
            rowk = M[k]
            for r in range(k + 1, n):
                rowr = M[r]
                if rowr[k] == 0:
                    continue
                fac = rowr[k] * inv
                rowr[k] = fac
                for c in range(k + 1, n):
                    rowr[c] -= fac * rowk[c]
        self.n, self.M, self.perm, self.rs, self.cs = n, M, perm, rs, cs

    def solve(self, b):
        n, M = self.n, self.M
        z = [b[self.perm[r]] * self.rs[self.perm[r]] for r in range(n)]
        for r in range(n):
            row = M[r]
            s = z[r]
            for c in range(r):
                s -= row[c] * z[c]
            z[r] = s
        for r in range(n - 1, -1, -1):
            row = M[r]
            s = z[r]
            for c in range(r + 1, n):
                s -= row[c] * z[c]
            z[r] = s / row[r]
        return [z[c] * self.cs[c] for c in range(n)]


def transpose(A):
    return [list(col) for col in zip(*A)]


# ---------------------------------------------------------------------------
# High-precision steady state and IFT gradients
# ---------------------------------------------------------------------------

class RefError(Exception):
    pass


def physical(model, p, L, y):
    K = len(L)
    W = p["N"] + 1
    nc = K * W
    if any(v < 0 for v in y[:nc]) or p["R"] - sum(y[:nc]) < 0:
        return False
    for i in range(K):
        if L[i] - sum(y[i * W:(i + 1) * W]) < 0:
            return False
    if model == "adaptive_sorting" and not (0 <= y[nc] <= p["KT"]):
        return False
    if model == "shp1" and not (0 <= y[nc] <= p["ST"]):
        return False
    return True


def rel_step(dy, y):
    worst = mpf(0)
    for d, v in zip(dy, y):
        den = abs(v) if v != 0 else mpf("1e-300")
        worst = max(worst, abs(d) / den)
    return worst


def newton(model, p, tau, L, y0, maxit=40, lu=None):
    """Newton's method, damped by halving only to stay physical. With lu given:
    chord iterations on that fixed factorisation (used for the nearby states of
    the finite-difference self-check). Returns (y, factorisation used last)."""
    y = list(y0)
    step = None
    for it in range(maxit):
        f = rhs(model, p, tau, L, y)
        J_lu = lu if lu is not None else LU(jacobian(model, p, tau, L, y))
        dy = [-v for v in J_lu.solve(f)]
        lam = mpf(1)
        while True:
            yn = [a + lam * b for a, b in zip(y, dy)]
            if physical(model, p, L, yn):
                break
            lam /= 2
            if lam < mpf("1e-6"):
                raise RefError("Newton cannot stay physical")
        step = rel_step([lam * d for d in dy], yn)
        y = yn
        if step < NEWTON_TOL and lam == 1:
            return y, J_lu
    raise RefError("Newton did not converge (last relative step %s)" % mpmath.nstr(step, 3))


def diff_inputs(model, p, K):
    ins = [("tau", i) for i in range(K)] + [("L", i) for i in range(K)]
    names = [k for k in DEFAULTS[model] if not (model != "ideal" and k in INTEGER)]
    ins += [("param", k) for k in names]
    return ins


def ode_reference(model, p, tau, L, y_engine):
    """Steady state, O and IFT gradients at DPS digits."""
    y, _ = newton(model, p, tau, L, [mpf(v) for v in y_engine])
    J = jacobian(model, p, tau, L, y)          # at the converged state
    K = len(tau)
    c = [mpf(0)] * len(y)
    for i in range(K):
        c[i * (p["N"] + 1) + p["N"]] = mpf(1)
    lam = LU(transpose(J)).solve(c)
    ins = diff_inputs(model, p, K)
    dfs = input_derivs(model, p, tau, L, y, ins)
    grads = {x: -mp.fsum(a * b for a, b in zip(lam, df)) for x, df in zip(ins, dfs)}
    return {"y": y, "O": output(p, K, y), "grad": grads, "J_lu": LU(J)}


def ideal_T(p, tau, L):
    N, m, tc = p["N"], p["m"], p["tau_c"]
    SN = mp.fsum(l * t ** N for t, l in zip(tau, L))
    Sm = mp.fsum(l * t ** m for t, l in zip(tau, L))
    return SN / (tc ** (N - m) * Sm)


def ideal_reference(p, tau, L):
    """T and its closed-form derivatives (docs/science.md 2.1 and 4)."""
    N, m, tc = p["N"], p["m"], p["tau_c"]
    SN = mp.fsum(l * t ** N for t, l in zip(tau, L))
    Sm = mp.fsum(l * t ** m for t, l in zip(tau, L))
    D = tc ** (N - m)
    T = SN / (D * Sm)
    g = {}
    for i, (t, l) in enumerate(zip(tau, L)):
        # dT/dL_i = (tau^N - T D tau^m) / (D S_m)
        g[("L", i)] = (t ** N - T * D * t ** m) / (D * Sm)
        # dT/dtau_i = L_i (N tau^(N-1) - T D m tau^(m-1)) / (D S_m)
        dm = m * t ** (m - 1) if m != 0 else mpf(0)
        g[("tau", i)] = l * (N * t ** (N - 1) - T * D * dm) / (D * Sm)
    lnt = [mp.log(t) for t in tau]
    SN_ln = mp.fsum(l * t ** N * lt for t, l, lt in zip(tau, L, lnt))
    Sm_ln = mp.fsum(l * t ** m * lt for t, l, lt in zip(tau, L, lnt))
    g[("param", "N")] = SN_ln / (D * Sm) - T * mp.log(tc)
    g[("param", "m")] = T * (mp.log(tc) - Sm_ln / Sm)
    g[("param", "tau_c")] = -(N - m) * T / tc
    return {"y": [], "O": T, "grad": g}


def perturbed(p, tau, L, x, val):
    pc, tc, lc = dict(p), list(tau), list(L)
    kind, key = x
    if kind == "tau":
        tc[key] = val
    elif kind == "L":
        lc[key] = val
    else:
        pc[key] = val
    return pc, tc, lc


def input_value(p, tau, L, x):
    kind, key = x
    return tau[key] if kind == "tau" else L[key] if kind == "L" else p[key]


def self_check(model, p, tau, L, ref):
    """Worst |IFT - FD| / max(|IFT|, floor) over every input (elasticities)."""
    K = len(tau)
    fd = {}
    for x in diff_inputs(model, p, K):
        x0 = input_value(p, tau, L, x)
        h = FD_H * (abs(x0) if x0 != 0 else 1)
        Os = []
        for s in (1, -1):
            pc, tc, lc = perturbed(p, tau, L, x, x0 + s * h)
            if model == "ideal":
                Os.append(ideal_T(pc, tc, lc))
            else:
                y, _ = newton(model, pc, tc, lc, ref["y"], lu=ref["J_lu"])
                Os.append(output(pc, K, y))
        fd[x] = (Os[0] - Os[1]) / (2 * h)
    worst, where = 0.0, None
    for kind in KINDS:
        xs = [x for x in fd if x[0] == kind]
        e_ref = {x: scale_of(p, tau, L, x) * ref["grad"][x] for x in xs}
        floor = KIND_FLOOR * kind_scale(e_ref, ref["O"])
        for x in xs:
            den = max(abs(e_ref[x]), floor)
            err = float(abs(scale_of(p, tau, L, x) * fd[x] - e_ref[x]) / den)
            if err >= worst:
                worst, where = err, x
    return worst, where


def kind_scale(e_ref, O):
    """Largest |elasticity| of a kind; |O| when every entry vanishes (below 1e-30 |O|:
    zero at working precision, e.g. dO/dL of ideal with one ligand type)."""
    mx = max([abs(v) for v in e_ref.values()] + [mpf(0)])
    return mx if mx >= mpf("1e-30") * abs(O) else abs(O)


def scale_of(p, tau, L, x):
    v = input_value(p, tau, L, x)
    return abs(v) if v != 0 else mpf(1)


# ---------------------------------------------------------------------------
# Points
# ---------------------------------------------------------------------------

def log_uniform(rng, lo, hi):
    return math.exp(math.log(lo) + rng.random() * (math.log(hi) - math.log(lo)))


def rint(rng, lo, hi):
    """Uniform integer in [lo, hi] from rng.random() only (stable across versions)."""
    return lo + min(int(rng.random() * (hi - lo + 1)), hi - lo)


def sig(x):
    """Round to 6 significant digits: short command lines, exact doubles all the same."""
    return float("%.6g" % x)


def draw_point(rng, model, idx):
    over = {}
    for k, (lo, hi) in RANGES[model].items():
        over[k] = sig(log_uniform(rng, lo, hi))
    K = rint(rng, 1, 3)
    tiny = False
    if model == "ideal":
        if rng.random() < 0.5:
            N = rint(rng, 1, N_MAX)
            m = rint(rng, 0, N - 1)
            over["N"], over["m"] = float(N), float(m)
        else:
            N = sig(1 + rng.random() * (N_MAX - 1))
            over["N"] = N
            over["m"] = sig(rng.random() * N * 0.999)
        lig = [(sig(log_uniform(rng, *TAU_RANGE)), sig(log_uniform(rng, *L_RANGE)))
               for _ in range(K)]
        return over, lig, ""
    N = rint(rng, 1, N_MAX)
    over["N"] = N
    if model != "kpr":
        over["m"] = rint(rng, 0, N - 1)
    kind = idx % 12
    tag = ""
    if kind in (1, 7):             # tiny output: short binding times, slow proofreading
        tiny = True
        tag = "tiny-O"
        over["N"] = N = rint(rng, 5, N_MAX)
        if model != "kpr":
            over["m"] = rint(rng, 0, N - 1)
        over["phi"] = sig(log_uniform(rng, 1e-4, 1e-3))
        if model == "adaptive_sorting":
            over["alpha"] = sig(log_uniform(rng, 1e-6, 1e-5))
    lig = []
    for _ in range(K):
        t = log_uniform(rng, 0.05, 0.3) if tiny else log_uniform(rng, *TAU_RANGE)
        lig.append((sig(t), sig(log_uniform(rng, *L_RANGE))))
    if kind in (0, 4, 8):          # L >> R: one count 10..100 x R
        ratio = 10 ** (1 + rng.random())
        i = rint(rng, 0, K - 1)
        lig[i] = (lig[i][0], sig(min(over["R"] * ratio, 1e6)))
        tag = "L>>R"
    return over, lig, tag


def split_counts(total):
    w = {"kpr": 0.3, "adaptive_sorting": 0.3, "shp1": 0.3, "ideal": 0.1}
    c = {m: int(total * w[m]) for m in MODELS}
    rest = total - sum(c.values())
    for m in MODELS:
        if rest <= 0:
            break
        c[m] += 1
        rest -= 1
    return c


def make_points(total, seed):
    pts = [(m, o, l, "fixed: " + lab) for m, o, l, lab in FIXED]
    counts = split_counts(total)
    for model in MODELS:
        rng = random.Random("%d/%s" % (seed, model))
        for k in range(counts[model]):
            over, lig, tag = draw_point(rng, model, k)
            pts.append((model, over, lig, "random %d%s" % (k, " " + tag if tag else "")))
    return pts


# ---------------------------------------------------------------------------
# Engine
# ---------------------------------------------------------------------------

def engine_cmd(exe, model, over, ligands):
    cmd = [exe, "solve", "--model", model, "--threshold-value", "1", "--json"]
    for k, v in over.items():
        cmd += ["--set", "%s=%r" % (k, v)]
    for t, l in ligands:
        cmd += ["--ligand", "%r:%r" % (t, l)]
    return cmd


def run_engine(exe, model, over, ligands):
    cmd = engine_cmd(exe, model, over, ligands)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    if r.returncode not in (0, 1) or not r.stdout.strip():
        raise RuntimeError("exit %d: %s" % (r.returncode, r.stderr.strip()[:300]))
    return json.loads(r.stdout)


def num(v):
    if v is None:
        return float("nan")
    if isinstance(v, str):
        return float(v)     # "inf" / "-inf"
    return float(v)


def engine_grad(js, x):
    kind, key = x
    if kind == "tau":
        return num(js["grad_tau"][key])
    if kind == "L":
        return num(js["grad_L"][key])
    gp = js.get("grad_params") or {}
    return num(gp[key]) if key in gp else float("nan")


def xname(x):
    kind, key = x
    return "%s_%d" % (kind, key) if kind in ("tau", "L") else key


def rel(a, b, floor):
    den = max(abs(b), floor)
    if not math.isfinite(a):
        return float("inf")
    if den == 0:
        return 0.0 if a == 0 else float("inf")
    return float(abs(mpf(a) - b) / den)


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------

class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, ok, desc, diag=()):
        self.n += 1
        if not ok:
            self.failed += 1
        print("%s %d - %s" % ("ok" if ok else "not ok", self.n, desc))
        for line in diag:
            print("# " + line)
        sys.stdout.flush()


def parse_args(argv):
    opts = {"build": None, "points": DEFAULT_POINTS, "seed": SEED,
            "floor": KIND_FLOOR, "o_floor": 0.0,
            "report": os.environ.get("KPS_HIGHPREC_REPORT", "") not in ("", "0"),
            "verbose": bool(os.environ.get("VERBOSE"))}
    it = iter(argv)
    for a in it:
        if a == "--points":
            opts["points"] = int(next(it))
        elif a == "--floor":
            opts["floor"] = float(next(it))
        elif a == "--o-floor":
            opts["o_floor"] = float(next(it))
        elif a == "--seed":
            opts["seed"] = int(next(it))
        elif a == "--report":
            opts["report"] = True
        elif a == "--verbose":
            opts["verbose"] = True
        elif a.startswith("-"):
            raise SystemExit("unknown option " + a)
        elif opts["build"] is None:
            opts["build"] = a
        else:
            raise SystemExit("usage: highprec.py BUILD_DIR [--points N] [--seed S] [--floor F] [--o-floor G] [--report] [--verbose]")
    if opts["build"] is None:
        raise SystemExit("usage: highprec.py BUILD_DIR [--points N] [--seed S] [--floor F] [--o-floor G] [--report] [--verbose]")
    return opts


def new_worst():
    return {"err": -1.0, "where": "(no entries)", "norm": -1.0, "norm_where": "(no entries)"}


def note(w, err, where):
    if err > w["err"] or (math.isnan(err) and not math.isnan(w["err"])):
        w["err"], w["where"] = err, where


def main():
    opts = parse_args(sys.argv[1:])
    mp.dps = DPS
    exe = os.path.join(opts["build"], "src", "kpsweep")
    if not os.access(exe, os.X_OK):
        print("Bail out! no kpsweep executable at " + exe)
        return 1
    t0 = time.time()
    points = make_points(opts["points"], opts["seed"])
    stats = {m: {"n": 0, "checked": 0, "nonok": [], "referr": [],
                 "O": new_worst(), "state": new_worst(),
                 "kinds": {k: new_worst() for k in KINDS},
                 "bad": {k: 0 for k in KINDS + ("O", "state")},
                 "bad_below": {k: 0 for k in KINDS},
                 "minO": float("inf"), "listed": 0, "span": 0.0, "self": None,
                 "flagged": 0, "flag_needed": 0, "unflagged_miss": 0, "worst_est": 0.0}
             for m in MODELS}
    print("# kpsweep high-precision reference check: %d points (%d fixed), seed %d, %d digits"
          % (len(points), len(FIXED), opts["seed"], DPS))
    # The engine spends most of a call in MPI start-up (~0.3 s, idle): run the
    # calls concurrently, then check the points one after the other.
    def engine_job(pt):
        try:
            return run_engine(exe, pt[0], pt[1], pt[2])
        except Exception as e:  # reported per point below
            return e
    with ThreadPoolExecutor(max_workers=ENGINE_JOBS) as pool:
        results = list(pool.map(engine_job, points))
    for idx, (model, over, lig, label) in enumerate(points):
        st = stats[model]
        st["n"] += 1
        pname = "#%d %s (%s)" % (idx, model, label)
        p = dict(DEFAULTS[model])
        p.update(over)
        if model != "ideal":
            p["N"] = int(p["N"])
            if "m" in p:
                p["m"] = int(p["m"])
        K = len(lig)
        js = results[idx]
        if isinstance(js, Exception):
            st["nonok"].append("%s: engine failed: %s" % (pname, js))
            continue
        if js.get("status") not in CARRIES:
            st["nonok"].append("%s: status %s; %s" % (pname, js.get("status"),
                                                      " ".join(engine_cmd("kpsweep", model, over, lig)[1:])))
            continue
        st["checked"] += 1
        pm = {k: (v if k in INTEGER and model != "ideal" else mpf(v)) for k, v in p.items()}
        tau = [mpf(t) for t, _ in lig]
        L = [mpf(l) for _, l in lig]
        # the engine must have taken exactly these doubles
        echo = js.get("params", {})
        if any(float(echo.get(k, "nan")) != float(v) for k, v in p.items()):
            st["referr"].append("%s: engine params %s differ from %s" % (pname, echo, p))
            continue
        try:
            if model == "ideal":
                ref = ideal_reference(pm, tau, L)
            else:
                if js.get("state_names") != state_names(model, p, K):
                    raise RefError("state_names %s" % js.get("state_names"))
                if not all(math.isfinite(num(v)) for v in js.get("state") or [float("nan")]):
                    raise RefError("engine state not finite: %s" % js.get("state"))
                ref = ode_reference(model, pm, tau, L, [num(v) for v in js["state"]])
        except (RefError, ZeroDivisionError, KeyError, TypeError) as e:
            st["referr"].append("%s: reference failed: %s" % (pname, e))
            continue
        O_ref = ref["O"]
        st["minO"] = min(st["minO"], float(O_ref))
        e = rel(num(js["output"]), O_ref, mpf(0))
        note(st["O"], e, pname)
        st["bad"]["O"] += e > TOL_O
        if model != "ideal":
            y = ref["y"]
            nc = K * (p["N"] + 1)
            ypos = [abs(v) for v in y if v != 0]
            st["span"] = max(st["span"], float(max(ypos) / min(ypos)))
            ys = [num(v) for v in js["state"]]
            worst_s = (-1.0, None)
            for k, (a, b) in enumerate(zip(ys, y)):
                scale = p["R"] if k < nc else p["KT"] if model == "adaptive_sorting" else p["ST"]
                ek = rel(a, b, STATE_FLOOR * scale)
                if ek > worst_s[0]:
                    worst_s = (ek, k)
            note(st["state"], worst_s[0], "%s %s" % (pname, state_names(model, p, K)[worst_s[1]]))
            st["bad"]["state"] += worst_s[0] > TOL_STATE
        # gradients as elasticities
        point_bad = []
        flagged = js.get("status") == "grad_ill_conditioned"
        est = num(js.get("grad_error")) if js.get("grad_error") is not None else 0.0
        tol_entry = max(TOL_GRAD, est) if flagged else TOL_GRAD
        st["flagged"] += flagged
        missed_target = False
        for kind in KINDS:
            xs = [x for x in ref["grad"] if x[0] == kind]
            if not xs:
                continue
            e_ref = {x: scale_of(pm, tau, L, x) * ref["grad"][x] for x in xs}
            emax = kind_scale(e_ref, O_ref)
            floor = max(opts["floor"] * emax, opts["o_floor"] * abs(O_ref))
            bad = False
            below_only = True
            for x in xs:
                g = engine_grad(js, x)
                e_eng = float(scale_of(pm, tau, L, x)) * g
                err = rel(e_eng, e_ref[x], floor)
                where = "%s dO/d%s: engine %.10g ref %s%s" % (
                    pname, xname(x), g, mpmath.nstr(ref["grad"][x], 12),
                    " (below floor: |e_ref| = %.1e x largest)" % float(abs(e_ref[x]) / emax)
                    if abs(e_ref[x]) < floor else "")
                note(st["kinds"][kind], err, where)
                w = st["kinds"][kind]
                en = rel(e_eng, e_ref[x], emax) if emax != 0 else err
                if en > w["norm"] or (math.isnan(en) and not math.isnan(w["norm"])):
                    w["norm"], w["norm_where"] = en, where
                if not err <= TOL_GRAD:
                    missed_target = True
                    if flagged:
                        st["worst_est"] = max(st["worst_est"], float(err / est) if est else
                                              float("inf"))
                if not err <= tol_entry:
                    bad = True
                    below = abs(e_ref[x]) < floor
                    below_only = below_only and below
                    point_bad.append("%s %.1e%s" % (xname(x), err, " (below floor)" if below else ""))
            st["bad"][kind] += bad
            st["bad_below"][kind] += bad and below_only
        st["flag_needed"] += flagged and missed_target
        st["unflagged_miss"] += missed_target and not flagged
        if opts["verbose"] or point_bad and (opts["report"] or st["listed"] < MAX_LISTED):
            st["listed"] += bool(point_bad)
            print("# %s O=%.3e: %s%s" % (pname, float(O_ref),
                                         ", ".join(point_bad) if point_bad else "all gradients ok",
                                         " [flagged grad_ill_conditioned, estimate %.1e]" % est
                                         if flagged else ""))
            if point_bad:
                print("#   " + " ".join(engine_cmd("kpsweep", model, over, lig)))
        # self-check of the reference at the first random point of each model
        # (at its first point when it has no random one)
        if st.get("first") is None:
            st["first"] = (pm, tau, L, ref, pname)
        if st["self"] is None and label.startswith("random"):
            try:
                st["self"] = self_check(model, pm, tau, L, ref) + (pname,)
            except RefError as ex:
                st["self"] = (float("inf"), None, "%s: %s" % (pname, ex))
        sys.stdout.flush()

    for model in MODELS:
        st = stats[model]
        if st["self"] is None and st.get("first") is not None:
            pm, tau, L, ref, pname = st["first"]
            try:
                st["self"] = self_check(model, pm, tau, L, ref) + (pname,)
            except RefError as ex:
                st["self"] = (float("inf"), None, "%s: %s" % (pname, ex))
    tap = Tap()
    print("#")
    print("# worst relative error per model and kind (elasticities; floor %.0e x largest of"
          " the kind%s)" % (opts["floor"], ", at least %.0e |O|" % opts["o_floor"]
                           if opts["o_floor"] else ""))
    print("# %-17s %-6s %-9s %s" % ("model", "kind", "worst", "where"))
    for model in MODELS:
        st = stats[model]
        for kind in ("O", "state") + KINDS:
            if model == "ideal" and kind == "state":
                continue
            w = st["kinds"][kind] if kind in KINDS else st[kind]
            print("# %-17s %-6s %-9.2e %s" % (model, kind, w["err"], w["where"]))
    print("#")
    print("# for information, normwise: worst |e - e_ref| / max_kind |e_ref| (no per-entry"
          " relative part)")
    for model in MODELS:
        for kind in KINDS:
            w = stats[model]["kinds"][kind]
            print("# %-17s %-6s %-9.2e %s" % (model, kind, w["norm"], w["norm_where"]))
    print("#")
    for model in MODELS:
        st = stats[model]
        nn = len(st["nonok"])
        diag = st["nonok"] + st["referr"]
        tap.check(nn <= MAX_NONOK_FRAC * st["n"] and not st["referr"],
                  "%s: engine status ok at %d of %d points, reference solved at every one "
                  "(%d failures)" % (model, st["n"] - nn, st["n"], len(st["referr"])), diag)
        print("# %s: smallest O %.2e%s" % (model, st["minO"], "" if model == "ideal" else
                                            ", largest state span %.1e" % st["span"]))
        tap.check(st["bad"]["O"] == 0, "%s: O within %.0e at every point (worst %.2e, %d bad)"
                  % (model, TOL_O, st["O"]["err"], st["bad"]["O"]), [st["O"]["where"]])
        if model != "ideal":
            tap.check(st["bad"]["state"] == 0,
                      "%s: state within %.0e at every point (worst %.2e, %d bad)"
                      % (model, TOL_STATE, st["state"]["err"], st["bad"]["state"]),
                      [st["state"]["where"]])
        for kind in KINDS:
            w = st["kinds"][kind]
            tap.check(st["bad"][kind] == 0,
                      "%s: d O/d %s within %.0e at every point, or within the engine's own "
                      "estimate where it flags the point (worst %.2e, %d bad points, %d of them "
                      "only in entries below the floor)"
                      % (model, kind, TOL_GRAD, w["err"], st["bad"][kind], st["bad_below"][kind]),
                      [w["where"]])
        print("# %s: %d points flagged grad_ill_conditioned, %d of them missing 1e-8 (worst "
              "error / estimate %.2f); %d points miss 1e-8 unflagged"
              % (model, st["flagged"], st["flag_needed"], st["worst_est"], st["unflagged_miss"]))
        tap.check(st["flagged"] <= MAX_FLAGGED_FRAC * st["n"],
                  "%s: %d of %d points flagged grad_ill_conditioned (at most %d %%)"
                  % (model, st["flagged"], st["n"], round(100 * MAX_FLAGGED_FRAC)))
        sc = st["self"]
        if sc is None:
            tap.check(False, "%s: reference self-check (no random point ran)" % model)
        else:
            tap.check(sc[0] <= SELF_TOL,
                      "%s: reference IFT gradient = central differences of its own steady "
                      "states (worst %.1e, at %s)" % (model, sc[0], xname(sc[1]) if sc[1] else "-"),
                      [sc[2]])
    print("1..%d" % tap.n)
    print("# %d passed, %d failed in %.1f s" % (tap.n - tap.failed, tap.failed,
                                                  time.time() - t0))
    if opts["report"]:
        return 0
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
