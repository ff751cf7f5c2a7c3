"""The per-point searches against brute force (docs/statistics.md, "Searches
along a path"):

* L1* and L2* of shp1 where the response is not monotone in the dose (the
  agonist alone responds only for doses in about [74, 1778] at an explicit
  threshold of 0.6; a second agonist-like ligand that switches the response
  off and on again): the searched boundary lies in the first bracket of a
  dense scan of the same path (a `kpsweep run` job whose dose axis is the
  path), also when it lies below the job's dose, and `kpsweep solve` confirms
  the decision on both sides of it;
* FGSM in binding times on ideal, where the closed form gives exact windows
  (the dip of T around tau* just below 1): windows from 0.3 s down to and
  below the guaranteed width eps_max / 128, through `solve` and through a
  sweep (which searches the line's tau2 curve once);
* FGSM in counts on ideal with three ligands (movable: all), where the
  agonist's move to zero makes T dip below 1 and come back: exact windows
  from 2x down to the guaranteed width in the search coordinate;
* a non-responding agonist (L2* = 0, L1* = +inf, confirmed by a dense scan up
  to 1e15; attacks not applicable), and a line with L2 = 0;
* PGD of a sweep against a step-by-step reference (closed form, Python).
"""
import json
import math
import os
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, kpsweep, write  # noqa: E402

N, M, TC = 5, 2, 3.0


def run_job(build, tmp, name, text):
    out = os.path.join(tmp, name + ".h5")
    r = kpsweep(build, ["run", write(os.path.join(tmp, name + ".yaml"), text), "-o", out,
                        "--quiet", "--force"])
    if r.returncode != 0:
        raise RuntimeError(f"{name}: {r.stdout}{r.stderr}")
    return h5py.File(out, "r")


def solve(build, args):
    r = kpsweep(build, ["solve", "--json"] + args)
    return json.loads(r.stdout)


def ligands(pairs):
    out = []
    for tau, L in pairs:
        out += ["--ligand", f"{tau!r}:{L!r}"]
    return out


def first_change(doses, decisions):
    """Bracket (d[k-1], d[k]] of the first dose whose decision differs from d[0]'s."""
    k = np.nonzero(decisions != decisions[0])[0]
    return None if len(k) == 0 else (doses[k[0] - 1], doses[k[0]])


SCAN = "{log: [1.0e-2, 1.0e15, 1800]}"


def test_shp1_L1(build, tmp, tap):
    job = """name: l1
model: shp1
agonist: {tau: 10.0, L: 10000}
antagonist:
  tau: {values: [0.5, 2.0]}
  L: {values: [0, 1000]}
threshold: {tau_c: 3.0, value: 0.6}
stats: {boundary: true, line_stats: false}
"""
    f = run_job(build, tmp, "l1", job)
    L1s = f["points/L1_star"][...]
    tap.ok(abs(L1s[0, 0] / L1s[0, 1] - 1) < 1e-12, "shp1, no antagonist: L1* the same at every tau2", L1s)
    tap.ok(abs(L1s[0, 0] - 73.66) < 0.01,
           f"shp1 agonist alone at threshold 0.6: L1* = {L1s[0, 0]:.6g} (the window starts near 73.66, "
           "below the job's dose 1e4, which does not respond)")
    for i_L2, i_t2 in ((0, 0), (1, 0), (1, 1)):
        tau2, L2 = (0.5, 2.0)[i_t2], (0.0, 1000.0)[i_L2]
        # The L1 path is a dose axis when the agonist plays the antagonist's part.
        scan = run_job(build, tmp, f"l1scan{i_L2}{i_t2}", f"""name: l1scan
model: shp1
agonist: {{tau: {tau2}, L: {L2}}}
antagonist:
  tau: {{values: [10.0]}}
  L: {SCAN}
threshold: {{tau_c: 3.0, value: 0.6}}
stats: {{boundary: false, line_stats: false}}
""")
        d = scan["axes/L2"][...]
        dec = scan["points/decision"][...][:, 0]
        dec0 = solve(build, ["--model", "shp1", "--threshold-value", "0.6"] + ligands([(10.0, 0.0), (tau2, L2)]))
        br = first_change(np.concatenate(([0.0], d)), np.concatenate(([dec0["decision"]], dec)))
        got = L1s[i_L2, i_t2]
        if br is None:
            tap.ok(np.isposinf(got), f"shp1 tau2={tau2} L2={L2}: L1* = {got}, no dose of the dense scan "
                                     "up to 1e15 responds either")
            continue
        tap.ok(br[0] <= got <= br[1],
               f"shp1 tau2={tau2} L2={L2}: L1* = {got:.8g} in the dense scan's first bracket {br}")
        lo = solve(build, ["--model", "shp1", "--threshold-value", "0.6"] + ligands([(10.0, got * (1 - 1e-7)), (tau2, L2)]))
        hi = solve(build, ["--model", "shp1", "--threshold-value", "0.6"] + ligands([(10.0, got * (1 + 1e-7)), (tau2, L2)]))
        tap.ok(lo["decision"] == 0 and hi["decision"] == 1,
               f"  solve: no response at L1*(1 - 1e-7), response at L1*(1 + 1e-7) (O {lo['output']:.9g}, {hi['output']:.9g})")


def test_shp1_L2(build, tmp, tap):
    # A second agonist-like ligand (tau2 = 20 s) switches the response off at
    # about 5900 and on again at about 12300: the job's dose 2e4 lies beyond.
    body = """model: shp1
agonist: {{tau: 10.0, L: 300}}
antagonist:
  tau: {{values: [1.0, 20.0]}}
  L: {L}
threshold: {{tau_c: 3.0, value: 0.6}}
stats: {{boundary: {b}, line_stats: false}}
"""
    f = run_job(build, tmp, "l2", "name: l2\n" + body.format(L="{values: [0, 20000]}", b="true"))
    scan = run_job(build, tmp, "l2scan", "name: l2scan\n" + body.format(L=SCAN, b="false"))
    d = scan["axes/L2"][...]
    for i_t2, tau2 in enumerate((1.0, 20.0)):
        dec = scan["points/decision"][...][:, i_t2]
        agonist_alone = int(f["points/decision"][0, i_t2])
        br = first_change(np.concatenate(([0.0], d)), np.concatenate(([agonist_alone], dec)))
        n_changes = int(np.count_nonzero(np.diff(dec)))
        for i_L2, L2 in enumerate((0.0, 20000.0)):
            got = f["points/L2_star"][i_L2, i_t2]
            tap.ok(br is not None and br[0] <= got <= br[1],
                   f"shp1 tau2={tau2} L2={L2}: L2* = {got:.8g} in the dense scan's first bracket {br} "
                   f"({n_changes} changes of decision along the scan)")
        if tau2 == 20.0:
            tap.ok(n_changes >= 2 and got < 20000.0, "  off and on again along the dose; L2* below the job's dose")
            lo = solve(build, ["--model", "shp1", "--threshold-value", "0.6"] + ligands([(10.0, 300.0), (tau2, got * (1 - 1e-7))]))
            hi = solve(build, ["--model", "shp1", "--threshold-value", "0.6"] + ligands([(10.0, 300.0), (tau2, got * (1 + 1e-7))]))
            tap.ok(lo["decision"] == 1 and hi["decision"] == 0,
                   f"  solve: response at L2*(1 - 1e-7), none at L2*(1 + 1e-7)")


# ---- ideal in closed form ----

def T_ideal(ls):
    SN = sum(L * t ** N for t, L in ls)
    Sm = sum(L * t ** M for t, L in ls)
    return SN / (TC ** (N - M) * Sm)


def dT_dtau(ls, i):
    SN = sum(L * t ** N for t, L in ls)
    Sm = sum(L * t ** M for t, L in ls)
    t, L = ls[i]
    return L * t ** (M - 1) * (N * t ** (N - M) * Sm - M * SN) / (TC ** (N - M) * Sm ** 2)


def dT_dL(ls, i):
    SN = sum(L * t ** N for t, L in ls)
    Sm = sum(L * t ** M for t, L in ls)
    t = ls[i][0]
    return (t ** N * Sm - SN * t ** M) / (TC ** (N - M) * Sm ** 2)


def bisect(f, a, b, it=200):
    fa = f(a)
    for _ in range(it):
        c = 0.5 * (a + b)
        if c in (a, b):
            break
        if (f(c) > 0) == (fa > 0):
            a = c
        else:
            b = c
    return 0.5 * (a + b)


def tau_window(L2):
    """Edges of the window T(tau2) <= 1 around tau* for agonist 4000 at 4 s."""
    T = lambda t: T_ideal([(4.0, 4000.0), (t, L2)]) - 1.0  # noqa: E731
    ts = bisect(lambda t: dT_dtau([(4.0, 4000.0), (t, L2)], 1), 0.05, 2.99)
    if T(ts) > 0:
        return None
    return bisect(T, 0.05, ts), bisect(T, ts, 2.999), ts


def L2_for_tau_width(w):
    def width(L2):
        e = tau_window(L2)
        return -1.0 if e is None else e[1] - e[0]
    lo, hi = 1e3, 1e7
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        if width(mid) < w:
            lo = mid
        else:
            hi = mid
    return hi


def test_fgsm_tau_windows(build, tmp, tap):
    h = TC / 128
    widths = [0.3, 0.1, 1.05 * h, 0.01, 0.003]
    L2s = [L2_for_tau_width(w) for w in widths]
    for w, L2 in zip(widths, L2s):
        left, right, _ = tau_window(L2)
        tag = "guaranteed" if w >= h else "below the guarantee, found on this smooth curve"
        for t0, want in ((0.5, left - 0.5), (2.9, 2.9 - right)):
            r = solve(build, ["--model", "ideal", "--set", "N=5", "--set", "m=2", "--attack", "fgsm_tau"] +
                      ligands([(4.0, 4000.0), (t0, L2)]))
            got = r["attacks"]["fgsm_tau"]["eps_star"]
            ok = isinstance(got, float) and abs(got - want) <= 1e-9 * want + 1e-12
            tap.ok(ok, f"solve, FGSM in tau from {t0}: window {w:.4g} s wide ({w / h:.3g} x eps_max/128, {tag}): "
                       f"eps* {got} vs {want:.15g}")
    # The sweep: every point of each line against the exact window.
    f = run_job(build, tmp, "tauwin", f"""name: tauwin
model: ideal
params: {{N: 5, m: 2}}
agonist: {{tau: 4.0, L: 4000}}
antagonist:
  tau: {{linear: [0.1, 2.9, 57]}}
  L: {{values: [{", ".join(repr(x) for x in L2s)}]}}
threshold: {{tau_c: 3.0}}
stats: {{boundary: false, line_stats: false}}
attacks: {{enabled: true, descent: false, fgsm_L: false}}
""")
    t2 = f["axes/tau2"][...]
    eps = f["points/fgsm_tau_eps"][...]
    for k, (w, L2) in enumerate(zip(widths, L2s)):
        left, right, ts = tau_window(L2)
        bad = []
        for j, t in enumerate(t2):
            want = left - t if t < left else (t - right if t > right else float("nan"))
            got = eps[k, j]
            if math.isnan(want):
                if not math.isnan(got):
                    bad.append((t, got, "inside the window: not applicable"))
            elif not abs(got - want) <= 1e-9 * want + 1e-12:
                bad.append((t, got, want))
        tap.ok(not bad, f"sweep, window {w:.4g} s: fgsm_tau_eps at all 57 points of the line", bad[:5])
    return f, L2s


def pgd_reference(t0, L2, steps=20, eps=0.5, a=0.05, tau_min=1e-3):
    """Step-by-step PGD on ideal (only the antagonist moves, direction off)."""
    ls = lambda t: [(4.0, 4000.0), (t, L2)]  # noqa: E731
    d0 = T_ideal(ls(t0)) > 1
    if not d0:
        return -1, -1
    t = t0
    for step in range(1, steps + 1):
        g = dT_dtau(ls(t), 1)
        x = t + (-1) * a * ((g > 0) - (g < 0))
        x = min(max(x, t0 - eps), t0 + eps)
        t = min(max(x, min(tau_min, t0)), max(TC, t0))
        if (T_ideal(ls(t)) > 1) != d0:
            return 1, step
    return 0, steps


def test_pgd(f, L2s, tap):
    t2 = f["axes/tau2"][...]
    flipped, steps = f["points/pgd_flipped"][...], f["points/pgd_steps"][...]
    bad, n_flip = [], 0
    for k, L2 in enumerate(L2s):
        for j, t in enumerate(t2):
            want = pgd_reference(float(t), L2)
            n_flip += want[0] == 1
            if (int(flipped[k, j]), int(steps[k, j])) != want:
                bad.append((L2, t, (int(flipped[k, j]), int(steps[k, j])), want))
    tap.ok(not bad and n_flip > 0,
           f"PGD of the sweep step for step as the reference at all {len(L2s) * len(t2)} points "
           f"({n_flip} flip)", bad[:5])


def count_window(LB, LA1=3000.0, tA2=3.2, LA2=1000.0):
    """FGSM in counts, movable all: the agonist (6 s) moves down to 0 while
    the weak agonist (3.2 s) and the antagonist (1 s) move up; T dips below 1
    and comes back. Returns (e_a, e_b, width in units of the guaranteed gap)."""
    ls = [(6.0, LA1), (tA2, LA2), (1.0, LB)]
    dirs = [-np.sign(dT_dL(ls, i)) for i in range(3)]
    assert list(dirs) == [-1, 1, 1] and T_ideal(ls) > 1
    k = TC ** (N - M)

    def root(pl, ds):  # T = 1 on a piece where every count is linear in eps
        a = sum(L * t ** N for t, L in pl)
        b = sum(d * t ** N for (t, L), d in zip(pl, ds))
        c = sum(L * t ** M for t, L in pl)
        e = sum(d * t ** M for (t, L), d in zip(pl, ds))
        return (c * k - a) / (b - e * k)

    e_a = root(ls, dirs)
    e_b = LA1 + root([(6.0, 0.0), (tA2, LA2 + LA1), (1.0, LB + LA1)], [0, 1, 1])
    E = (LA1 + LA2 + LB) * (1 + 1e-3)
    hz = math.log1p(1e7 / E) / 16
    return e_a, e_b, math.log((E + e_b) / (E + e_a)) / hz


def test_fgsm_count_windows(build, tap):
    for target in (2.0, 1.5, 1.05, 0.7, 0.5):
        LB = bisect(lambda x: count_window(x)[2] - target, 5e3, 2.9e5)
        e_a, e_b, z = count_window(LB)
        r = solve(build, ["--model", "ideal", "--set", "N=5", "--set", "m=2", "--movable", "all",
                          "--attack", "fgsm_L"] + ligands([(6.0, 3000.0), (3.2, 1000.0), (1.0, LB)]))
        got = r["attacks"]["fgsm_L"]["eps_star"]
        ok = isinstance(got, float) and abs(got - e_a) <= 1e-9 * e_a
        if target >= 1.0:
            tap.ok(ok, f"FGSM in counts: window [{e_a:.6g}, {e_b:.6g}] ({z:.3g} x the guaranteed gap): "
                       f"eps* {got} vs {e_a:.15g}")
        else:
            print(f"# below the guarantee, window {z:.3g} x the gap at the agonist's kink: eps* {got}, "
                  f"window starts at {e_a:.15g} ({'found' if ok else 'missed'})", flush=True)


def test_non_responding(build, tmp, tap):
    f = run_job(build, tmp, "weak", """name: weak
model: ideal
params: {N: 5, m: 2}
agonist: {tau: 2.5, L: 4000}
antagonist:
  tau: {values: [0.5, 1.5]}
  L: {values: [0, 6000]}
threshold: {tau_c: 3.0}
attacks: {enabled: true, descent: false}
""")
    p = lambda k: f["points/" + k][...]  # noqa: E731
    tap.ok(np.all(p("decision") == 0), "agonist at 2.5 s < tau_c: no response anywhere")
    tap.ok(np.all(p("L2_star") == 0.0), "  L2* = 0 (already off)")
    tap.ok(np.all(np.isposinf(p("L1_star"))), "  L1* = +inf (no agonist dose responds)", p("L1_star"))
    tap.ok(np.all(np.isnan(p("fgsm_L_eps"))) and np.all(np.isnan(p("fgsm_tau_eps"))) and
           np.all(p("pgd_flipped") == -1), "  FGSM and PGD not applicable")
    scan = run_job(build, tmp, "weakscan", """name: weakscan
model: ideal
params: {N: 5, m: 2}
agonist: {tau: 1.5, L: 6000}
antagonist:
  tau: {values: [2.5]}
  L: {log: [1.0e-3, 1.0e15, 400]}
threshold: {tau_c: 3.0}
stats: {boundary: false, line_stats: false}
""")
    tap.ok(np.all(scan["points/decision"][...] == 0), "  a dense scan of the agonist dose up to 1e15 never responds")
    q = lambda k: scan["points/" + k][...]  # noqa: E731
    tap.ok(all(np.all(np.isnan(q(k))) for k in ("L2_star", "L1_star", "fgsm_L_eps", "fgsm_tau_eps")) and
           np.all(q("pgd_flipped") == -1) and np.all(q("pgd_steps") == -1),
           "  no boundary, no attack: L2*, L1*, FGSM are NaN and PGD -1 (not computed), not left unset",
           [q(k)[0, :3] for k in ("L2_star", "L1_star", "pgd_flipped", "pgd_steps")])


def test_no_antagonist(build, tmp, tap):
    f = run_job(build, tmp, "zero", """name: zero
model: ideal
params: {N: 5, m: 2}
agonist: {tau: 4.0, L: 4000}
antagonist:
  tau: {values: [0.5, 1.0, 2.0]}
  L: 0
threshold: {tau_c: 3.0}
attacks: {enabled: true, descent: false}
""")
    t2 = f["axes/tau2"][...]
    w = lambda t: t ** M * (t ** (N - M) - TC ** (N - M))  # noqa: E731
    want = np.array([-4000 * w(4.0) / w(t) for t in t2])
    p = lambda k: f["points/" + k][0]  # noqa: E731
    tap.ok(np.allclose(p("L2_star"), want, rtol=1e-9, atol=0), "L2 = 0: L2* on the linear boundary", p("L2_star"))
    tap.ok(np.allclose(p("fgsm_L_eps"), want, rtol=1e-9, atol=0), "L2 = 0: FGSM in counts flips at L2* - 0",
           p("fgsm_L_eps"))
    tap.ok(np.all(np.isposinf(p("fgsm_tau_eps"))), "L2 = 0: FGSM in binding times: nothing to move, +inf")
    tap.ok(np.all(p("pgd_flipped") == 0) and np.all(p("pgd_steps") == 20), "L2 = 0: PGD does not flip in 20 steps")


def main():
    build = sys.argv[1]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="kps-searches-")
    test_shp1_L1(build, tmp, tap)
    test_shp1_L2(build, tmp, tap)
    f, L2s = test_fgsm_tau_windows(build, tmp, tap)
    test_pgd(f, L2s, tap)
    test_fgsm_count_windows(build, tap)
    test_non_responding(build, tmp, tap)
    test_no_antagonist(build, tmp, tap)
    tap.done()


if __name__ == "__main__":
    main()
