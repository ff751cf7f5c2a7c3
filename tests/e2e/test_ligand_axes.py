"""The agonist on sweep axes (axes.tau1, axes.L1) and background "self"
ligands (docs/config.md, docs/science.md section 3.2), end to end:

* ideal with tau1 and L1 on axes, (N, m) = (1, 0) and (5, 3): /points/L2_star
  and /points/L1_star against the closed forms L2* = -L1 w(tau1) / w(tau2)
  and L1* = -L2 w(tau2) / w(tau1), w(tau) = tau^m (tau^(N-m) - tau_c^(N-m))
  (inf where no dose up to the search's end, 1e15, reaches the other
  decision); the axis datasets, their attributes and the NaN root attributes;
* ideal with a self ligand: O_rel, FC, O_agonist, L2* and L1* against the
  closed form with three ligand types;
* kpr with two self ligands and attacks: FC against `kpsweep solve --config`
  (which includes the job's self ligands) and cold solves of agonist + self,
  and identical files on 1 and 2 worker ranks;
* kpr with L_ref: agonist and L1 on an axis: every slice equals the job with
  that agonist dose fixed (the per-point threshold cache takes each line's L1).
"""
import json
import math
import os
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, h5diff, kpsweep, write  # noqa: E402

TC = 4.0
DOSE_MAX = 1e15  # end of the engine's dose search (src/stats.c)


def run_job(build, tmp, name, text, ranks=None):
    out = os.path.join(tmp, name + ".h5")
    r = kpsweep(build, ["run", write(os.path.join(tmp, name + ".yaml"), text), "-o", out,
                        "--quiet", "--force"], ranks=ranks)
    if r.returncode != 0:
        raise RuntimeError(f"{name}: {r.stdout}{r.stderr}")
    return out


def w(tau, N, m):
    return tau ** m * (tau ** (N - m) - TC ** (N - m))


def T(taus, Ls, N, m):
    SN = sum(L * t ** N for t, L in zip(taus, Ls))
    Sm = sum(L * t ** m for t, L in zip(taus, Ls))
    return SN / (TC ** (N - m) * Sm)


def boundary(num, den):
    """The smallest dose x >= 0 with num + x den > 0 (target on) or <= 0 (off)."""
    return -num / den


def close(got, want, rel=1e-9):
    if math.isinf(want) or want > DOSE_MAX:
        return math.isinf(got) and got > 0
    return abs(got - want) <= rel * abs(want) + 1e-300


def check_ideal_axes(tap, build, tmp):
    for N, m in ((1, 0), (5, 3)):
        job = (f"model: ideal\nparams: {{N: {N}, m: {m}}}\n"
               "axes:\n  tau1: {linear: [4, 6, 5]}\n  L1: {log: [1, 1.0e4, 5]}\n"
               "antagonist: {tau: [0.1, 3], L: [1000]}\n"
               f"threshold: {{tau_c: {TC}}}\n")
        out = run_job(build, tmp, f"axes_{N}{m}", job)
        with h5py.File(out, "r") as f:
            t1, L1, t2 = f["axes/tau1"][...], f["axes/L1"][...], f["axes/tau2"][...]
            L2 = f["axes/L2"][...]
            tap.ok(f["points/L2_star"].shape == (5, 5, 1, 2), f"N={N}, m={m}: shape (tau1, L1, L2, tau2)",
                   f["points/L2_star"].shape)
            bad2, bad1 = [], []
            for i, a in enumerate(t1):
                for j, l1 in enumerate(L1):
                    for k, b in enumerate(t2):
                        # Off when L1 w(tau1) + L2 w(tau2) <= 0: L2* = 0 when the agonist is off alone.
                        want2 = 0.0 if w(a, N, m) <= 0 else boundary(l1 * w(a, N, m), w(b, N, m))
                        want1 = boundary(L2[0] * w(b, N, m), w(a, N, m)) if w(a, N, m) > 0 else math.inf
                        got2 = f["points/L2_star"][i, j, 0, k]
                        got1 = f["points/L1_star"][i, j, 0, k]
                        if not close(got2, want2):
                            bad2.append((a, l1, b, got2, want2))
                        if not close(got1, want1):
                            bad1.append((a, l1, b, got1, want1))
            tap.ok(not bad2, f"N={N}, m={m}: L2* = -L1 w(tau1)/w(tau2) at all 50 points (rel 1e-9)", bad2)
            tap.ok(not bad1, f"N={N}, m={m}: L1* = -L2 w(tau2)/w(tau1) (inf at tau1 = tau_c)", bad1)
            O = f["points/O"][...]
            want_O = np.array([[[[T([a, b], [l1, L2[0]], N, m) for b in t2]] for l1 in L1] for a in t1])
            tap.ok(np.allclose(O, want_O, rtol=1e-12, atol=0), f"N={N}, m={m}: O = T on the agonist's axes")
            if N == 1:
                for name, units, long_name in (("tau1", "s", "agonist binding time"),
                                               ("L1", "molecules", "agonist dose")):
                    d = f[f"axes/{name}"]
                    tap.ok(d.attrs.get("units") == units and d.attrs.get("long_name") == long_name
                           and d.attrs.get("CLASS") == b"DIMENSION_SCALE",
                           f"/axes/{name}: units {units!r}, long_name {long_name!r}, a dimension scale",
                           dict(d.attrs))
                    tap.ok(all(f[g].id == d.id for g in (name, f"points/{name}", f"lines/{name}")),
                           f"/axes/{name} hard-linked at the root, in /points and /lines")
                dims = [dd[0].name.rsplit("/", 1)[-1] for dd in f["points/O"].dims]
                tap.ok(dims == ["tau1", "L1", "L2", "tau2"], "dimension scales tau1, L1, L2, tau2", dims)
                tap.ok(math.isnan(f.attrs["agonist_tau"]) and math.isnan(f.attrs["agonist_L"])
                       and "self_tau" not in f.attrs and "self_L" not in f.attrs,
                       "root agonist_tau, agonist_L NaN when swept; no self attributes without self")
                canon = f.attrs["config_canonical"]
                tap.ok("axis.tau1=[4,4.5,5,5.5,6]\n" in canon and "agonist.tau=nan\n" in canon
                       and "self=" not in canon, "canonical text holds the agonist's axes")


def check_ideal_self(tap, build, tmp):
    N, m = 5, 3
    ts, Ls = 1.5, 3000.0
    job = (f"model: ideal\nparams: {{N: {N}, m: {m}}}\nagonist: {{tau: 5, L: 200}}\n"
           "antagonist: {tau: {linear: [0.1, 3.9, 9]}, L: [0, 1000, 1.0e5]}\n"
           f"self: {{tau: {ts}, L: {Ls}}}\nthreshold: {{tau_c: {TC}}}\n"
           "attacks: {enabled: true, fgsm_tau: false, pgd: false, descent: false}\n")
    out = run_job(build, tmp, "self_ideal", job)
    with h5py.File(out, "r") as f:
        t2, L2 = f["axes/tau2"][...], f["axes/L2"][...]
        tap.ok(list(f.attrs["self_tau"]) == [ts] and list(f.attrs["self_L"]) == [Ls]
               and f.attrs["agonist_tau"] == 5.0, "root attributes self_tau, self_L",
               (f.attrs.get("self_tau"), f.attrs.get("self_L")))
        tap.ok(f"self=[({ts},{Ls:g})]" in f.attrs["config_canonical"], "canonical text holds self")
        ag = T([5.0, ts], [200.0, Ls], N, m)
        O_rel = f["points/O_rel"][...]
        FC = f["points/FC"][...]
        want = np.array([[T([5.0, b, ts], [200.0, l2, Ls], N, m) for b in t2] for l2 in L2])
        tap.ok(np.allclose(f["lines/O_agonist"][...], ag, rtol=1e-13, atol=0),
               "O_agonist = T(agonist + self)", (f["lines/O_agonist"][...], ag))
        tap.ok(np.allclose(f["lines/O_th"][...], 1.0, rtol=1e-13, atol=0),
               "O_th = 1: the threshold has no self ligand")
        tap.ok(np.allclose(O_rel, want, rtol=1e-12, atol=0), "O_rel = T over agonist, antagonist and self",
               np.max(np.abs(O_rel / want - 1)))
        tap.ok(np.allclose(FC, want / ag, rtol=1e-12, atol=0),
               "FC = T(agonist+antagonist+self) / T(agonist+self)", np.max(np.abs(FC / (want / ag) - 1)))
        tap.ok(np.allclose(FC[0], 1.0, rtol=1e-13, atol=0), "L2 = 0: FC = 1")
        bad = []
        base = 200.0 * w(5.0, N, m) + Ls * w(ts, N, m)
        for i, l2 in enumerate(L2):
            for k, b in enumerate(t2):
                want2 = 0.0 if base <= 0 else (boundary(base, w(b, N, m)) if w(b, N, m) < 0 else math.inf)
                want1 = boundary(l2 * w(b, N, m) + Ls * w(ts, N, m), w(5.0, N, m))
                want1 = max(want1, 0.0)
                got2, got1 = f["points/L2_star"][i, k], f["points/L1_star"][i, k]
                if not (close(got2, want2) and close(got1, want1)):
                    bad.append((l2, b, got2, want2, got1, want1))
        tap.ok(not bad, "L2* and L1* with the self ligand present (closed form)", bad)
        # Only the antagonist moves (the self ligand, below tau_c too, never does):
        # FGSM in counts adds antagonists up to L2*.
        dec, eps, L2s = f["points/decision"][...], f["points/fgsm_L_eps"][...], f["points/L2_star"][...]
        want = np.where(dec == 1, L2s - L2[:, None], np.nan)
        ok = np.allclose(eps, want, rtol=1e-9, atol=0, equal_nan=True) and (dec == 1).sum() >= 5
        tap.ok(ok, "FGSM in counts flips at L2* - L2: the self ligand is never moved", (eps, want))


KPR_SELF = """model: kpr
params: {N: 3, phi: 0.3}
agonist: {tau: 10, L: 2000}
antagonist: {tau: [0.5, 2, 4], L: [3000, 30000]}
self:
  - {tau: 0.3, L: 20000}
  - {tau: 1.0, L: 5000}
threshold: {tau_c: 5, L_ref: agonist}
attacks: {enabled: true, descent: false, pgd_steps: 5}
run: {chunk: 1}
"""


def solve(build, args):
    r = kpsweep(build, ["solve", "--json"] + args)
    return json.loads(r.stdout) if r.stdout.startswith("{") else {"error": r.stdout + r.stderr}


def check_kpr_self(tap, build, tmp):
    one = run_job(build, tmp, "self_kpr1", KPR_SELF, ranks=2)
    two = run_job(build, tmp, "self_kpr2", KPR_SELF, ranks=3)
    for grp in ("/points", "/lines"):
        same, diff = h5diff(one, two, grp)
        tap.ok(same, f"kpr with self: {grp} identical on 1 and 2 worker ranks", diff)
    job = os.path.join(tmp, "self_kpr1.yaml")
    with h5py.File(one, "r") as f:
        t2, L2 = f["axes/tau2"][...], f["axes/L2"][...]
        FC, O = f["points/FC"][...], f["points/O"][...]
        L2s = f["points/L2_star"][...]
        tap.ok(np.isfinite(O).all() and not np.isnan(L2s).any() and (f["points/decision"][...] == 1).all(),
               "every point converged and responds, with its L2*", f["points/status"][...])
        O_ag = f["lines/O_agonist"][...]
        fl = f["points/fgsm_L_eps"][...]
        tap.ok((f["points/pgd_flipped"][...] >= 0).all(), "PGD ran at every point with self ligands present",
               f["points/pgd_flipped"][...])
        want = L2s - L2[:, None]
        tap.ok(np.allclose(fl, want, rtol=1e-9, atol=0) and np.isfinite(fl).any(),
               "FGSM in counts flips at L2* - L2 (inf where L2* is): the self ligands never move",
               (fl, want))
    ag = solve(build, ["--model", "kpr", "--set", "N=3", "--set", "phi=0.3", "--tau-c", "5",
                       "--L-ref", "agonist",
                       "--ligand", "10:2000", "--ligand", "0.3:20000", "--ligand", "1.0:5000"])
    bad = []
    for i, l2 in enumerate(L2):
        tap.ok(abs(O_ag[i] / ag.get("output", math.nan) - 1) < 1e-8,
               f"L2={l2:g}: O_agonist = cold solve of agonist + both self ligands",
               (O_ag[i], ag.get("output")))
        for k, b in enumerate(t2):
            r = solve(build, ["--config", job, "--at", f"tau2={b!r}", "--at", f"L2={l2!r}",
                              "--attack", "fgsm_L"])
            e = r.get("attacks", {}).get("fgsm_L", {}).get("eps_star")
            e = math.inf if e == "inf" else e
            if not (isinstance(e, float) and (e == fl[i, k] or abs(e / fl[i, k] - 1) < 1e-6)):
                bad.append(("fgsm_L", l2, b, e, fl[i, k]))
            lig = [(x["tau"], x["L"]) for x in r.get("ligands", [])]
            if lig != [(10.0, 2000.0), (b, l2), (0.3, 20000.0), (1.0, 5000.0)]:
                bad.append(("ligands", lig))
                continue
            fc = r["output"] / ag["output"]
            if not (abs(O[i, k] / r["output"] - 1) < 1e-8 and abs(FC[i, k] / fc - 1) < 1e-8):
                bad.append((l2, b, O[i, k], r["output"], FC[i, k], fc))
    tap.ok(not bad, "FC, O and FGSM in counts of every point against kpsweep solve --config (self "
           "ligands included and not moved)", bad)


def check_L_ref_agonist(tap, build, tmp):
    base = ("model: kpr\nparams: {N: 3, phi: 0.3}\nantagonist: {tau: [0.5, 2], L: [3000]}\n"
            "threshold: {tau_c: 5, L_ref: agonist}\nself: {tau: 0.5, L: 1000}\n")
    swept = run_job(build, tmp, "lref_swept",
                    base + "agonist: {tau: 10}\naxes: {L1: {values: [1000, 4000]}}\n")
    fixed = run_job(build, tmp, "lref_fixed", base + "agonist: {tau: 10, L: 4000}\n")
    with h5py.File(swept, "r") as a, h5py.File(fixed, "r") as b:
        th = a["lines/O_th"][...]
        tap.ok(th.shape == (2, 1) and th[0, 0] < th[1, 0],
               "L_ref: agonist with L1 on an axis: O_th follows each line's L1", th)
        mism = [n for grp in ("points", "lines") for n in b[grp]
                if b[grp][n].attrs.get("CLASS") != b"DIMENSION_SCALE" and not np.array_equal(a[grp][n][1], b[grp][n][...], equal_nan=True)]
        tap.ok(not mism, "the L1 = 4000 slice equals the job with agonist.L = 4000 (every field)", mism)
        tap.ok(math.isnan(a.attrs["agonist_L"]) and a.attrs["agonist_tau"] == 10.0
               and math.isnan(a.attrs["L_ref"]), "root agonist_L and L_ref NaN, agonist_tau kept")


def main():
    build = sys.argv[1]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="kps-ligaxes-")
    check_ideal_axes(tap, build, tmp)
    check_ideal_self(tap, build, tmp)
    check_kpr_self(tap, build, tmp)
    check_L_ref_agonist(tap, build, tmp)
    tap.done()


if __name__ == "__main__":
    main()
