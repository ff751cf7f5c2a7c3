#!/usr/bin/python3
"""The `published` histogram descent of the engine against an independent
Python implementation written from docs (science.md section 5, "Iterative
gradient descent on binding times", method `published`), TAP output.

    /usr/bin/python3 tests/e2e/test_descent.py BUILD_DIR SOURCE_DIR

Section 5 as implemented here (the points the text leaves terse are the
engine's documented decisions):
  * every ligand is an individual with its own binding time tau; bins
    [k w, (k+1) w), k = 0..n_bins-1, n_bins = ceil(tau_max / w); bin index
    floor(tau / w) clipped to [0, n_bins-1] (tau >= tau_max: last bin);
  * the output is evaluated on the nonempty bins, each at its centre
    c_j = (j + 1/2) w with its count L_j; for `ideal`
    O = T = S_N / (tau_c^(N-m) S_m), S_k = sum_j L_j c_j^k, O_th = 1 and the
    cell responds iff O > O_th;
  * g_j = L_j (S_m N c_j^(N-1) - S_N m c_j^(m-1)) / (S_m^2 tau_c^(N-m));
  * a bin is movable when its upper edge (j+1) w <= tau_c (relative
    tolerance 1e-12); each step every ligand in a movable bin j moves
    tau <- tau + s eta g_j (s = -1: switch the response off); a ligand with
    a new tau < 0 is reset to the first bin centre w/2; then all ligands are
    re-binned and O re-evaluated;
  * stop as soon as the decision differs from the initial one (flipped,
    steps = that step's number) or after max_steps steps (not flipped,
    steps = max_steps); when the initial decision is already 'no response'
    the descent is not applicable (steps = flipped = -1);
  * frac_near0: the share of the ligands movable at the start that sit in
    the first bin [0, w) at the end.

Cases: a seeded random histogram (~30 entries, a few hundred ligands, off
bin centres, one beyond tau_max), a scaled-down version of the paper's
set-up (30 % agonists around 3.5 s, 70 % self ligands |N(0, 1/3)|, one
entry per ligand), ligands close to 0 (the reset), a case that cannot flip
within max_steps for m = 0, and one that starts below threshold (not
applicable), each over N = 3..5 and m = 0, 1, 2. Compared per (case, N, m):
steps and flipped exactly, the final histogram exactly (every bin),
O0 and O to 1e-12 relative, frac_near0 exactly.
"""
import math
import os
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, kpsweep, write  # noqa: E402

TAU_C = 3.0
W = 0.2
TAU_MAX = 6.0
ETA = 0.2
NS = [3, 4, 5]
MS = [0, 1, 2]
RTOL = 1e-12


# ---------------------------------------------------------------------------
# Reference implementation of section 5, method `published`.
# ---------------------------------------------------------------------------

def n_bins_of(tau_max, w):
    """ceil(tau_max / w), exact when tau_max is a multiple of w up to rounding (4.2 / 0.3 is
    14.000000000000002 in floating point: 14 bins)."""
    return int(math.ceil(tau_max / w * (1.0 - 1e-12)))


def bin_index(tau, w, n_bins):
    return np.clip(np.floor(tau / w).astype(np.int64), 0, n_bins - 1)


def ideal_output_grad(counts, centres, N, m, tau_c):
    """T and g_j (dT/dtau_j times the count L_j) on the nonempty bins."""
    nz = [k for k in range(len(counts)) if counts[k] > 0]
    s_m = 0.0
    s_n = 0.0
    for k in nz:
        s_m += counts[k] * math.pow(centres[k], m)
        s_n += counts[k] * math.pow(centres[k], N)
    tcp = math.pow(tau_c, N - m)
    out = s_n / (tcp * s_m)
    g = np.zeros(len(counts))
    for k in nz:
        c = centres[k]
        d = s_m * N * math.pow(c, N - 1) - (s_n * m * math.pow(c, m - 1) if m != 0 else 0.0)
        g[k] = counts[k] * d / (s_m * s_m * tcp)
    return out, g


def published_descent(taus, N, m, tau_c=TAU_C, w=W, tau_max=TAU_MAX, eta=ETA, max_steps=1000,
                      s=-1.0, o_th=1.0, trace=False):
    """Runs the descent on individual ligands `taus`; returns a dict (with trace=True also
    the output, the counts and the binding times after every step)."""
    n_bins = n_bins_of(tau_max, w)
    centres = np.array([(k + 0.5) * w for k in range(n_bins)])
    movable_bin = np.array([(k + 1) * w <= tau_c * (1.0 + 1e-12) for k in range(n_bins)])
    tau = np.array(taus, dtype=np.float64)
    k = bin_index(tau, w, n_bins)
    counts = np.bincount(k, minlength=n_bins)
    moved0 = movable_bin[k]
    out0, g = ideal_output_grad(counts, centres, N, m, tau_c)
    dec0 = out0 > o_th
    res = {"O0": out0, "resets": 0, "trace": []}
    if not dec0:  # direction off: nothing to switch off
        res.update(steps=-1, flipped=-1, O=out0, hist=counts.copy(),
                   frac=np.count_nonzero(moved0 & (k == 0)) / max(1, np.count_nonzero(moved0)))
        return res
    out = out0
    steps, flipped = max_steps, 0
    for step in range(1, max_steps + 1):
        mv = movable_bin[k]
        delta = s * eta * g
        tau[mv] = tau[mv] + delta[k[mv]]
        neg = tau < 0.0
        res["resets"] += int(np.count_nonzero(neg))
        tau[neg] = w / 2
        k = bin_index(tau, w, n_bins)
        counts = np.bincount(k, minlength=n_bins)
        out, g = ideal_output_grad(counts, centres, N, m, tau_c)
        if trace:
            res["trace"].append((out, counts.copy(), tau.copy()))
        if (out > o_th) != dec0:
            steps, flipped = step, 1
            break
    n_moved = np.count_nonzero(moved0)
    res.update(steps=steps, flipped=flipped, O=out, hist=counts.copy(),
               frac=np.count_nonzero(moved0 & (k == 0)) / n_moved if n_moved else float("nan"))
    return res


def expand(bins):
    """[(tau, L), ...] -> one binding time per ligand."""
    return [t for t, n in bins for _ in range(int(n))]


# ---------------------------------------------------------------------------
# Cases (seeded)
# ---------------------------------------------------------------------------

def random_bins(seed, n_ag, ag_range, ag_count):
    """30 entries: n_ag agonists, sub-threshold ligands, one entry beyond tau_max."""
    rng = np.random.default_rng(seed)
    bins = []
    for _ in range(n_ag):
        bins.append((float(rng.uniform(*ag_range)), int(rng.integers(*ag_count))))
    for _ in range(30 - n_ag - 1):
        bins.append((float(rng.uniform(0.02, 2.98)), int(rng.integers(1, 20))))
    bins.append((6.7, 3))  # beyond tau_max: counts in the last bin
    return bins


def case_random():
    return random_bins(20190712, 6, (3.05, 4.5), (5, 20)), 2000


def case_random2():
    return random_bins(20190712, 5, (3.05, 5.0), (5, 25)), 2000


def case_tiny():
    # Hand-checked below (two bins; the reset at step 137 for m = 0).
    return [(3.5, 2), (0.0101, 1)], 200


def case_paper():
    rng = np.random.default_rng(31012)
    ag = rng.normal(3.5, 0.1, 90)
    self_ = np.abs(rng.normal(0.0, 1.0 / 3.0, 210))
    self_ = np.where(self_ <= 0.0, 1e-3, self_)
    return [(float(t), 1) for t in np.concatenate([ag, self_])], 3000


def case_near0():
    rng = np.random.default_rng(7)
    bins = [(float(t), int(n)) for t, n in zip(rng.uniform(0.001, 0.05, 10), rng.integers(5, 25, 10))]
    bins += [(float(t), int(n)) for t, n in zip(rng.uniform(2.45, 2.95, 6), rng.integers(5, 15, 6))]
    bins += [(float(t), int(n)) for t, n in zip(rng.uniform(3.3, 4.2, 6), rng.integers(15, 35, 6))]
    return bins, 2000


def case_noflip():
    rng = np.random.default_rng(99)
    bins = [(float(t), int(n)) for t, n in zip(rng.uniform(0.05, 0.6, 12), rng.integers(5, 15, 12))]
    bins += [(float(t), int(n)) for t, n in zip(rng.uniform(3.7, 4.3, 8), rng.integers(25, 45, 8))]
    return bins, 300


def case_below():
    rng = np.random.default_rng(5)
    bins = [(float(t), int(n)) for t, n in zip(rng.uniform(0.05, 2.95, 20), rng.integers(1, 30, 20))]
    return bins, 100


def case_tolerance():
    # tau_c = 1.4: the upper edge of bin 6 is 7 * 0.2 = 1.4000000000000001 in floating point,
    # still <= tau_c (the bin is movable); 2.8 / 0.2 = 13.999999999999998, 14 bins.
    rng = np.random.default_rng(14)
    bins = [(float(t), int(n)) for t, n in zip(rng.uniform(1.21, 1.39, 5), rng.integers(5, 15, 5))]
    bins += [(float(t), int(n)) for t, n in zip(rng.uniform(0.02, 1.19, 10), rng.integers(1, 10, 10))]
    bins += [(float(t), int(n)) for t, n in zip(rng.uniform(1.45, 2.1, 6), rng.integers(5, 25, 6))]
    return bins, 2000, {"tau_c": 1.4, "w": 0.2, "tau_max": 2.8}


def case_ceil():
    # tau_c = 2.1, w = 0.3, tau_max = 4.2: 14 bins although 4.2 / 0.3 > 14 in floating point.
    rng = np.random.default_rng(21)
    bins = [(float(t), int(n)) for t, n in zip(rng.uniform(0.02, 2.08, 12), rng.integers(1, 12, 12))]
    bins += [(float(t), int(n)) for t, n in zip(rng.uniform(2.2, 4.15, 6), rng.integers(10, 30, 6))]
    bins.append((4.19, 4))
    return bins, 2000, {"tau_c": 2.1, "w": 0.3, "tau_max": 4.2}


CASES = [("tiny", case_tiny), ("random", case_random), ("random2", case_random2), ("paper", case_paper),
         ("near0", case_near0), ("noflip", case_noflip), ("below", case_below),
         ("tolerance", case_tolerance), ("ceil", case_ceil)]


def make_case(make):
    """(bins, max_steps, {tau_c, w, tau_max}) of a case."""
    c = make()
    opts = {"tau_c": TAU_C, "w": W, "tau_max": TAU_MAX}
    opts.update(c[2] if len(c) > 2 else {})
    return c[0], c[1], opts


def self_check(tap):
    """The reference on cases worked out by hand (tau_c = 3, w = 0.2, eta = 0.2)."""
    # N=3, m=1; agonist 3.5 (bin 17), one ligand at 0.25 (bin 1, centre 0.3):
    # S_1 = 3.8, S_3 = 42.902, T = 42.902 / (9 * 3.8); g_1 = (3.8*3*0.09 - 42.902) / (3.8^2 * 9)
    # = -0.32222..., so tau = 0.25 + 0.2 * 0.32222 = 0.31444 (bin 1), 0.37889 (bin 1), 0.44333 (bin 2,
    # centre 0.5: S_1 = 4, S_3 = 43, T = 43/36); then g = (4*3*0.25 - 43)/(16*9), tau = 0.49889.
    # c^3 - 9c + 11.375 > 0 for all c > 0: it never flips.
    r = published_descent([3.5, 0.25], 3, 1, max_steps=4, trace=True)
    taus = [tr[2][1] for tr in r["trace"]]
    outs = [tr[0] for tr in r["trace"]]
    want = [0.25 + 0.2 * 41.876 / 129.96 * i for i in (1, 2, 3)]
    want.append(want[2] + 0.2 * 40.0 / 144.0)
    tap.ok(rel_close(r["O0"], 42.902 / 34.2, 1e-14) and r["steps"] == 4 and r["flipped"] == 0
           and all(abs(a - b) < 1e-12 for a, b in zip(taus, want))
           and rel_close(outs[2], 43.0 / 36.0, 1e-14),
           "reference, by hand: two bins, N=3 m=1, first four steps", f"{taus} {want} {outs}")
    # N=3, m=0; two agonists at 3.5, one ligand at 0.0101 (centre 0.1): T = 85.751/81; every step
    # tau -= 0.2 * 3*3*0.01 / (9*27) = 7.407e-5; negative at step 137 (0.0101 / 7.407e-5 = 136.4),
    # reset to 0.1; T never changes (the bin centre stays 0.1): no flip, frac_near0 = 1.
    r = published_descent([3.5, 3.5, 0.0101], 3, 0, max_steps=140, trace=True)
    tr = [x[2][2] for x in r["trace"]]
    tap.ok(rel_close(r["O0"], 85.751 / 81, 1e-14) and r["resets"] == 1 and tr[136] == 0.1
           and 0 < tr[135] < 1e-4 and r["frac"] == 1.0 and r["steps"] == 140 and r["flipped"] == 0
           and list(np.nonzero(r["hist"])[0]) == [0, 17],
           "reference, by hand: the reset to w/2 at step 137 (N=3 m=0)", f"{tr[134:138]} {r['resets']}")
    # Movable bins: upper edge <= tau_c, so 2.95 (bin 14) moves and 3.05 (bin 15) does not;
    # 6.7 >= tau_max counts in the last bin (29).
    r = published_descent([3.5, 3.05, 2.95, 6.7], 3, 1, max_steps=1, trace=True)
    tr = r["trace"][0][2]
    tap.ok(tr[1] == 3.05 and tr[2] != 2.95 and tr[0] == 3.5 and r["trace"][0][1][29] == 1,
           "reference: movable iff the bin's upper edge <= tau_c; tau >= tau_max in the last bin", f"{tr}")
    # One sub-threshold type alone never responds: not applicable.
    r = published_descent([2.5] * 10, 4, 2)
    tap.ok(r["steps"] == -1 and r["flipped"] == -1 and rel_close(r["O0"], (2.5 / 3) ** 2, 1e-14),
           "reference: a sub-threshold histogram is not applicable", r)


def job_yaml(bins, max_steps, tau_c, w, tau_max):
    entries = ",\n      ".join(f"{{tau: {t!r}, L: {n}}}" for t, n in bins)
    return f"""model: ideal
axes:
  N: {{values: [{', '.join(map(str, NS))}]}}
  m: {{values: [{', '.join(map(str, MS))}]}}
agonist: {{tau: 4.0, L: 4000}}
antagonist: {{tau: [1.0], L: 6000}}
threshold: {{tau_c: {tau_c!r}}}
stats: {{boundary: false, line_stats: false}}
attacks:
  enabled: true
  direction: off
  movable: below_threshold
  fgsm_L: false
  fgsm_tau: false
  pgd: false
  descent: true
  descent_method: published
  descent_eta: {ETA!r}
  descent_max_steps: {max_steps}
  bin_width: {w!r}
  tau_max: {tau_max!r}
  histogram:
    bins: [
      {entries}]
"""


def rel_close(a, b, rtol=RTOL):
    return a == b or abs(a - b) <= rtol * max(abs(a), abs(b))


def first_difference(taus, N, m, max_steps, opts, hist):
    """Describes the engine's final histogram against the reference's histogram after every step."""
    ref = published_descent(taus, N, m, max_steps=max_steps, trace=True, **opts)
    for i, (out, counts, _) in enumerate(ref["trace"]):
        if np.array_equal(counts, hist):
            return f"engine histogram equals the reference after step {i + 1} (O = {out!r})"
    return "engine histogram equals no histogram of the reference trace"


def main():
    build = sys.argv[1]
    tap = Tap()
    self_check(tap)
    tmp = tempfile.mkdtemp(prefix="kps-descent-")
    seen = {"flipped": 0, "noflip": 0, "na": 0, "resets": 0}
    refs = {}
    for name, make in CASES:
        bins, max_steps, opts = make_case(make)
        taus = expand(bins)
        for N in NS:
            for m in MS:
                ref = published_descent(taus, N, m, max_steps=max_steps, **opts)
                ref["kind"] = "na" if ref["flipped"] < 0 else ("flipped" if ref["flipped"] else "noflip")
                seen[ref["kind"]] += 1
                seen["resets"] += ref["resets"]
                refs[name, N, m] = ref
    # The cases must exercise what they are meant to (a property of the reference).
    tap.ok(seen["flipped"] >= 5 and seen["noflip"] >= 5 and seen["na"] >= 5 and seen["resets"] > 0,
           f"the cases cover flips, no flips, not applicable and resets: {seen}")
    for name, make in CASES:
        bins, max_steps, opts = make_case(make)
        taus = expand(bins)
        job = write(os.path.join(tmp, f"{name}.yaml"), job_yaml(bins, max_steps, **opts))
        out = os.path.join(tmp, f"{name}.h5")
        r = kpsweep(build, ["run", job, "-o", out, "--quiet"], timeout=600)
        if not tap.ok(r.returncode == 0 and os.path.exists(out),
                      f"{name}: kpsweep run ({len(bins)} entries, {len(taus)} ligands)",
                      r.stdout + r.stderr):
            continue
        with h5py.File(out, "r") as f:
            need = ["descent_steps", "descent_flipped", "descent_O0", "descent_O",
                    "descent_frac_near0", "descent_hist"]
            missing = [d for d in need if f"/lines/{d}" not in f]
            if not tap.ok(not missing, f"{name}: descent datasets present", f"missing {missing}"):
                continue
            steps = f["/lines/descent_steps"][...]
            flipped = f["/lines/descent_flipped"][...]
            o0 = f["/lines/descent_O0"][...]
            o1 = f["/lines/descent_O"][...]
            frac = f["/lines/descent_frac_near0"][...]
            hist = f["/lines/descent_hist"][...]
            n_bins = n_bins_of(opts["tau_max"], opts["w"])
            tap.ok(hist.shape == (len(NS), len(MS), 1, n_bins) and hist.dtype == np.int32,
                   f"{name}: descent_hist has shape (N, m, L2, bin) = {(len(NS), len(MS), 1, n_bins)}, int32",
                   f"{hist.shape} {hist.dtype}")
            if name == CASES[0][0]:
                dims = f["/lines/descent_hist"].dims[hist.ndim - 1]
                scale = dims[0][...] if len(dims) else None
                want = np.array([(k + 0.5) * opts["w"] for k in range(n_bins)])
                tap.ok(scale is not None and scale.shape == want.shape
                       and np.allclose(scale, want, rtol=1e-14, atol=0)
                       and "/axes/bin" in f and dims[0] == f["/axes/bin"],  # same object (also /bin)
                       "descent_hist's last dimension has the scale /axes/bin = bin centres",
                       f"{scale} {dims[0].name if len(dims) else None}")
                tap.ok(list(f["/axes/N"][...]) == NS and list(f["/axes/m"][...]) == MS,
                       "/axes/N and /axes/m as in the job")
        for i, N in enumerate(NS):
            for j, m in enumerate(MS):
                ref = refs[name, N, m]
                kind = ref["kind"]
                tag = f"{name} N={N} m={m}"
                e = (int(steps[i, j, 0]), int(flipped[i, j, 0]), float(o0[i, j, 0]),
                     float(o1[i, j, 0]), float(frac[i, j, 0]), hist[i, j, 0])
                print(f"# {tag}: reference {kind}, steps {ref['steps']}, O0 {ref['O0']:.6g}, "
                      f"O {ref['O']:.6g}, resets {ref['resets']}", flush=True)
                ok_s = tap.ok(e[0] == ref["steps"], f"{tag}: steps {ref['steps']}",
                              f"engine {e[0]}, reference {ref['steps']}")
                tap.ok(e[1] == ref["flipped"], f"{tag}: flipped {ref['flipped']}",
                       f"engine {e[1]}, reference {ref['flipped']}")
                tap.ok(rel_close(e[2], ref["O0"]), f"{tag}: O0", f"engine {e[2]!r}, reference {ref['O0']!r}")
                if kind == "na":
                    # Section 5 says nothing about the outputs of a descent that never ran.
                    print(f"#   not applicable: engine O {e[3]!r}, frac_near0 {e[4]!r}, "
                          f"hist sum {int(np.sum(e[5]))} (not compared)", flush=True)
                    continue
                tap.ok(rel_close(e[3], ref["O"]), f"{tag}: O after the descent",
                       f"engine {e[3]!r}, reference {ref['O']!r}")
                diff = np.nonzero(e[5] != ref["hist"])[0]
                detail = (f"bins differ: {list(diff)}\nengine    {list(e[5])}\nreference {list(ref['hist'])}\n"
                          + ("" if ok_s else first_difference(taus, N, m, max_steps, opts, e[5])))
                tap.ok(len(diff) == 0, f"{tag}: final histogram, every bin", detail)
                tap.ok(e[4] == ref["frac"], f"{tag}: frac_near0 {ref['frac']!r}",
                       f"engine {e[4]!r}, reference {ref['frac']!r}")
    tap.done()


if __name__ == "__main__":
    main()
