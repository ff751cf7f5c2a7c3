"""The output landscape and the descent's individual ligands (docs/science.md
5.3-5.4, docs/output.md): checked against an independent evaluation of the
ideal closed form T = S_N / (tau_c^(N-m) S_m) at the bin centres, the
analytic sign of dT/dL_j, the geometry of the directions, the descent's own
output and histogram, ODE models at the base point, the config errors, the
Python reader, and --resume of files with the new datasets."""
import os
import shutil
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, h5diff, kpsweep, write  # noqa: E402

TAU_C = 3.0
W = 0.5
N_GRID = 12  # tau_max = 2 tau_c = 6 s
CENTRES = (np.arange(N_GRID) + 0.5) * W
MOVABLE = CENTRES < TAU_C  # kps_attack_movable at the bin centres
BINS = [(3.6, 20), (3.0, 4), (1.1, 30), (0.3, 6.4), (2.2, 0)]
N_LAND, EPS = 7, 12.0

IDEAL = """model: ideal
axes:
  N: {{values: [3, 4]}}
  m: {{values: [1, 2, 3.5]}}
antagonist: {{tau: {{linear: [0.5, 2.5, 3]}}, L: [1000, 4000]}}
threshold: {{tau_c: 3.0}}
stats: {{boundary: false, line_stats: false}}
attacks:
  enabled: true
  direction: {direction}
  descent_method: {method}
  fgsm_L: false
  fgsm_tau: false
  pgd: false
  descent_ligands: {ligands}
  descent_max_steps: 40
  bin_width: 0.5
  histogram:
    bins: [{bins}]
landscape: {{enabled: true, n: {n}, eps_max: {eps}, seed: 7}}
run: {{chunk: {chunk}}}
"""

ODE = """model: {model}
params: {params}
antagonist: {{tau: [1.0], L: [1000]}}
stats: {{boundary: false, line_stats: false}}
attacks:
  enabled: true
  fgsm_L: false
  fgsm_tau: false
  pgd: false
  descent_ligands: true
  descent_max_steps: 3
  bin_width: 0.5
  histogram:
    draw: [{{dist: normal, mean: 3.6, sd: 0.1, count: 400}}, {{dist: half_normal, mean: 0, sd: 1.0, count: 600}}]
landscape: {{enabled: true, n: 3, eps_max: 200}}
"""


def ideal_job(direction="off", method="published", ligands="true", n=N_LAND, eps=EPS, chunk=0):
    bins = ", ".join(f"{{tau: {t}, L: {L}}}" for t, L in BINS)
    return IDEAL.format(direction=direction, method=method, ligands=ligands, bins=bins, n=n,
                        eps=eps, chunk=chunk)


def bin_of(tau):
    return np.clip(np.floor(np.asarray(tau) / W).astype(np.int64), 0, N_GRID - 1)


def ideal_T(L, N, m):
    s_n = np.sum(L * CENTRES ** N)
    s_m = np.sum(L * CENTRES ** m)
    return s_n / (TAU_C ** (N - m) * s_m)


def ideal_dT_dL(L, N, m):
    T = ideal_T(L, N, m)
    s_m = np.sum(L * CENTRES ** m)
    tcp = TAU_C ** (N - m)
    return CENTRES ** m * (CENTRES ** (N - m) - T * tcp) / (tcp * s_m)


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def check_ideal(tap, f, base, s, what):
    """Landscape, directions and base against the closed form at every valid line."""
    NS, MS = f["axes/N"][...], f["axes/m"][...]
    a = f["axes/land_u"][...]
    b = f["axes/land_v"][...]
    land = f["lines/landscape"][...]
    U, V = f["lines/landscape_u"][...], f["lines/landscape_v"][...]
    o_th = f["lines/O_th"][...]
    worst, sign_bad, geom_bad, same_l2 = 0.0, [], [], True
    for i, N in enumerate(NS):
        for j, m in enumerate(MS):
            if not m < N:
                tap.ok(np.isnan(land[i, j]).all() and np.isnan(U[i, j]).all(),
                       f"{what}: invalid N={N}, m={m} holds NaN")
                continue
            same_l2 &= bool(np.array_equal(land[i, j, 0], land[i, j, 1])
                            and np.array_equal(U[i, j, 0], U[i, j, 1])
                            and np.array_equal(V[i, j, 0], V[i, j, 1]))
            u, v = U[i, j, 0], V[i, j, 0]
            for ia, da in enumerate(a):
                for ib, db in enumerate(b):
                    L = np.maximum(0.0, base + da * u + db * v)
                    want = ideal_T(L, N, m) / o_th[i, j, 0]
                    worst = max(worst, rel(land[i, j, 0, ia, ib], want))
            g = ideal_dT_dL(base, N, m)
            clear = np.abs(g) > 1e-9 * np.max(np.abs(g))
            want_u = np.where(MOVABLE, s * np.sign(g), 0.0)
            if not (np.array_equal(u[~MOVABLE], np.zeros((~MOVABLE).sum()))
                    and np.array_equal(u[clear], want_u[clear])):
                sign_bad.append((N, m, u, want_u))
            uu, vv = u @ u, v @ v
            if not (abs(u @ v) <= 1e-12 * uu and rel(vv, uu) <= 1e-12 and uu > 0
                    and not v[~MOVABLE].any()):
                geom_bad.append((N, m, u @ v, uu, vv))
    tap.ok(worst <= 1e-12, f"{what}: landscape = T(max(0, L0 + a u + b v)) / O_th of the closed "
           f"form at the bin centres (worst relative error {worst:.2e})")
    tap.ok(not sign_bad, f"{what}: u = s sign(dT/dL_j) on the movable bins (s = {s}), 0 elsewhere",
           sign_bad)
    tap.ok(not geom_bad, f"{what}: v is 0 off the movable bins, orthogonal to u, |v| = |u|", geom_bad)
    tap.ok(same_l2, f"{what}: every dose of a parameter point holds the same landscape")
    want_steps = np.linspace(-EPS, EPS, N_LAND)
    tap.ok(np.allclose(a, want_steps, rtol=0, atol=1e-12) and np.array_equal(a, b)
           and a[N_LAND // 2] == 0.0 and a[0] == -EPS and a[-1] == EPS
           and f["axes/land_u"].attrs["units"] == "molecules",
           f"{what}: /axes/land_u = /axes/land_v = linspace(-eps_max, eps_max, n), 0 in the middle",
           a)


def main():
    build = sys.argv[1]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="kps-land-")

    # 1. ideal, published descent: the landscape, the directions, the ligands.
    out = os.path.join(tmp, "ideal.h5")
    cfg = write(os.path.join(tmp, "ideal.yaml"), ideal_job())
    r = kpsweep(build, ["run", cfg, "-o", out, "--quiet"])
    tap.ok(r.returncode == 0, "ideal job with landscape and descent_ligands runs", r.stderr)
    with h5py.File(out, "r") as f:
        lig0 = f["axes/ligand"][...]
        want_lig = np.concatenate([np.full(int(np.floor(L + 0.5)), t) for t, L in BINS])
        tap.ok(np.array_equal(lig0, want_lig) and f["axes/ligand"].attrs["units"] == "s",
               f"/axes/ligand: the {want_lig.size} initial binding times in draw order", lig0)
        base = np.bincount(bin_of(lig0), minlength=N_GRID).astype(float)
        hist = f["lines/descent_hist"][...]
        lt = f["lines/descent_ligand_tau"][...]
        tap.ok(lt.shape == (2, 3, 2, want_lig.size) and f["lines/landscape"].shape == (2, 3, 2, 7, 7)
               and f["lines/landscape_u"].shape == (2, 3, 2, N_GRID),
               "shapes (N, m, L2, ligand), (N, m, L2, land_u, land_v), (N, m, L2, bin)",
               (lt.shape, f["lines/landscape"].shape))
        steps = f["lines/descent_steps"][...]
        ran, hist_ok, fixed_ok, moved = 0, True, True, False
        agonist = lig0 >= TAU_C
        for idx in np.ndindex(*lt.shape[:-1]):
            if not np.isfinite(lt[idx]).all():
                continue
            ran += 1
            hist_ok &= bool(np.array_equal(np.bincount(bin_of(lt[idx]), minlength=N_GRID), hist[idx]))
            fixed_ok &= bool(np.array_equal(lt[idx][agonist], lig0[agonist]))
            moved |= bool(steps[idx] > 0 and not np.array_equal(lt[idx], lig0))
        tap.ok(ran == 10 and hist_ok,
               f"the final binding times binned give descent_hist exactly ({ran} lines)")
        tap.ok(fixed_ok, "ligands starting at tau >= tau_c (agonists) keep their binding time exactly")
        tap.ok(moved, "some descent moved its ligands")
        tap.ok(np.isnan(lt[0, 2]).all(), "descent_ligand_tau is NaN where the descent did not run")
        land = f["lines/landscape"][...]
        o0 = f["lines/descent_O0"][...] / f["lines/O_th"][...]
        mid = N_LAND // 2
        ok = np.isfinite(o0)
        tap.ok(ok.sum() == 10 and np.array_equal(land[..., mid, mid][ok], o0[ok]),
               "the landscape at (0, 0) is descent_O0 / O_th", (land[..., mid, mid], o0))
        check_ideal(tap, f, base, -1.0, "published, off")
        canon = f.attrs["config_canonical"]
        want = ["landscape.enabled=1", "landscape.eps_max=12", "landscape.n=7", "landscape.seed=7",
                "attacks.descent_ligands=1"]
        tap.ok(all(w + "\n" in canon for w in want), "the canonical text holds the landscape section "
               "and descent_ligands", [w for w in want if w + "\n" not in canon])

    # 2. normalized descent, direction on: its bins (unrounded counts) on the grid, s = +1.
    out2 = os.path.join(tmp, "ideal-on.h5")
    cfg2 = write(os.path.join(tmp, "ideal-on.yaml"),
                 ideal_job(direction="on", method="normalized", ligands="false"))
    r = kpsweep(build, ["run", cfg2, "-o", out2, "--quiet"])
    tap.ok(r.returncode == 0, "ideal job with the normalized descent, direction on", r.stderr)
    with h5py.File(out2, "r") as f:
        base2 = np.zeros(N_GRID)
        for t, L in BINS:
            base2[bin_of(t)] += L
        check_ideal(tap, f, base2, 1.0, "normalized, on")
        tap.ok(f["lines/descent_ligand_tau"].shape == (2, 3, 2, 1)
               and np.isnan(f["lines/descent_ligand_tau"][...]).all()
               and np.isnan(f["axes/ligand"][...]).all(),
               "without descent_ligands: a ligand dimension of length 1, NaN")

    # 3. ODE models: finite, and the base point is the descent's start.
    for model, params in (("kpr", "{N: 3}"), ("adaptive_sorting", "{N: 3, m: 1}")):
        o = os.path.join(tmp, f"{model}.h5")
        r = kpsweep(build, ["run", write(os.path.join(tmp, f"{model}.yaml"), ODE.format(model=model, params=params)),
                            "-o", o, "--quiet"])
        if not tap.ok(r.returncode == 0, f"{model} job with a landscape runs", r.stderr):
            continue
        with h5py.File(o, "r") as f:
            land = f["lines/landscape"][0]
            o0 = f["lines/descent_O0"][0] / f["lines/O_th"][0]
            u, v = f["lines/landscape_u"][0], f["lines/landscape_v"][0]
            tap.ok(land.shape == (3, 3) and np.isfinite(land).all(), f"{model}: landscape finite", land)
            tap.ok(rel(land[1, 1], o0) <= 1e-8, f"{model}: landscape at (0, 0) = descent_O0 / O_th "
                   f"to 1e-8 ({land[1, 1]!r} vs {o0!r})")
            tap.ok(set(np.unique(u)) <= {-1.0, 0.0, 1.0} and (u != 0).any() and abs(u @ v) <= 1e-12 * (u @ u)
                   and rel(v @ v, u @ u) <= 1e-12, f"{model}: u in {{-1, 0, 1}}, v orthogonal, |v| = |u|")
            hist = f["lines/descent_hist"][0]
            tap.ok(np.array_equal(np.bincount(bin_of(f["lines/descent_ligand_tau"][0]),
                                              minlength=N_GRID), hist),
                   f"{model}: descent_ligand_tau binned = descent_hist")

    # 4. The Python reader: dimension names and coordinates of the new fields.
    sys.path.insert(0, os.path.join(sys.argv[2], "analysis"))
    import kpsweep as kp
    with kp.Results(out) as res:
        tap.ok(res.field_dims("landscape") == ["N", "m", "L2", "land_u", "land_v"]
               and res.field_dims("descent_ligand_tau")[-1] == "ligand"
               and res.field_dims("landscape_u")[-1] == "bin" and res.field_dims("O")[-1] == "tau2"
               and np.array_equal(res.coord("land_u"), res.coord("land_v"))
               and res.field("landscape").shape == (2, 3, 2, 7, 7)
               and list(res.coords("landscape")) == res.field_dims("landscape"),
               "kpsweep.Results: field_dims(), coord() and coords() of the new dimensions")

    # 5. --resume: a file with half its lines undone is completed identically;
    # one whose landscape has another shape is refused.
    part = os.path.join(tmp, "part.h5")
    shutil.copy(out, part)
    with h5py.File(part, "r+") as f:
        shape = f["lines/O_th"].shape
        done = f["progress/line_done"]
        for line in range(0, done.shape[0], 2):
            done[line] = 0
            idx = np.unravel_index(line, shape)
            for name in ("landscape", "landscape_u", "landscape_v", "descent_ligand_tau"):
                f["lines/" + name][idx] = np.nan
    r = kpsweep(build, ["run", cfg, "-o", part, "--resume", "--quiet"])
    tap.ok(r.returncode == 0, "--resume accepts a file with the landscape and ligand datasets", r.stderr)
    same, diff = h5diff(out, part, "/lines")
    tap.ok(same, "the resumed lines equal the uninterrupted run", diff)
    bad = os.path.join(tmp, "bad.h5")
    shutil.copy(out, bad)
    with h5py.File(bad, "r+") as f:
        del f["lines/landscape"]
        f.create_dataset("lines/landscape", shape=(2, 3, 2, 7, 9), dtype="f8")
    r = kpsweep(build, ["run", cfg, "-o", bad, "--resume", "--quiet"])
    tap.ok(r.returncode != 0 and "landscape has shape" in r.stderr,
           "--resume refuses a file whose landscape has another shape", r.stderr)

    # 6. Config errors: FILE:LINE:COLUMN: KEY.
    base_job = "model: ideal\nantagonist: {tau: 1}\n"
    hist = "attacks: {histogram: {bins: [{tau: 1, L: 5}]}}\n"
    cases = [
        ("landscape without a histogram", base_job + "landscape: {enabled: true}\n",
         ":3:22: landscape.enabled: needs attacks.histogram"),
        ("even n", base_job + hist + "landscape: {enabled: true, n: 6}\n", ":4:31: landscape.n: must be odd"),
        ("n below 3", base_job + hist + "landscape: {n: 1}\n", ":4:16: landscape.n: "),
        ("n above 201", base_job + hist + "landscape: {n: 203}\n", ":4:16: landscape.n: "),
        ("n not an integer", base_job + hist + "landscape: {n: 5.5}\n", ":4:16: landscape.n: "),
        ("eps_max zero", base_job + hist + "landscape: {eps_max: 0}\n", ":4:22: landscape.eps_max: must be > 0"),
        ("unknown key", base_job + hist + "landscape:\n  enabled: true\n  size: 3\n",
         ":6:3: landscape.size: unknown key (known keys: enabled, eps_max, n, seed)"),
        ("descent_ligands with the normalized descent",
         base_job + "attacks:\n  enabled: true\n  descent_method: normalized\n  descent_ligands: true\n"
         "  histogram: {bins: [{tau: 1, L: 5}]}\n", ":6:20: attacks.descent_ligands: needs the published"),
        ("descent_ligands without a histogram",
         base_job + "attacks: {enabled: true, descent_ligands: true}\n", ":3:43: attacks.descent_ligands: "),
    ]
    for what, text, want in cases:
        path = write(os.path.join(tmp, "bad.yaml"), text)
        r = kpsweep(build, ["validate", path])
        tap.ok(r.returncode == 2 and r.stderr.startswith(path + want), f"config error: {what}",
               r.stderr)
    tap.done()


if __name__ == "__main__":
    main()
