"""The same job (with line statistics, dose boundaries and every attack) gives
identical datasets on 1, 2, 3 and 5 ranks and under any chunking (compared
with h5diff, bit for bit), also where the searches cross windows of response
(shp1 at an explicit threshold), and so do the landscape and the descent's
individual ligands. With several writer ranks (run.writers) the datasets
are the same again, and only writer ranks spend time in HDF5."""
import os
import sys
import tempfile

import h5py

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, h5diff, kpsweep, quick, write  # noqa: E402

JOB = """name: det
model: adaptive_sorting
params: {{N: 5, m: 2}}
axes:
  phi: {{log: [0.02, 0.2, 3]}}
  delta: {{values: [0.5, 2.0]}}
antagonist:
  tau: {{linear: [0.1, 2.9, 40]}}
  L: {{values: [1000, 6000]}}
attacks:
  enabled: true
  descent_max_steps: 50
  histogram:
    draw: [{{dist: normal, mean: 3.5, sd: 0.1, count: 400}}, {{dist: half_normal, mean: 0, sd: 0.5, count: 300}}]
run: {{chunk: {chunk}, checkpoint_every: {ckpt}, memory_limit_mb: {mem}, writers: {writers}}}
"""


def rank_hdf5(path):
    """The last run's HDF5 seconds by rank (/history/ranks)."""
    with h5py.File(path, "r") as f:
        rows = f["history/ranks"][...]
    last = rows["run"].max()
    return {int(r["rank"]): float(r["hdf5_seconds"]) for r in rows if r["run"] == last}


def main():
    build = sys.argv[1]
    src = sys.argv[2]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="kps-det-")
    ref = os.path.join(tmp, "ref.h5")
    cfg = write(os.path.join(tmp, "det.yaml"), JOB.format(chunk=0, ckpt=60, mem=1024, writers=1))
    r = kpsweep(build, ["run", cfg, "-o", ref, "--quiet"])
    tap.ok(r.returncode == 0, "reference run on 1 rank", r.stderr)
    # (ranks, chunk, checkpoint seconds, memory limit MB, writers); 0.03 MB
    # leaves room for about two lines per writer between writes (and one
    # line per range); 2 writers of 2 or 3 ranks are one (rank 0, so that a
    # worker is left).
    cases = [(2, 0, 60, 1024, 1), (3, 0, 60, 1024, 1), (5, 0, 60, 1024, 1), (3, 1, 60, 1024, 1),
             (3, 5, 0.001, 1024, 1), (2, 7, 60, 1024, 1), (1, 3, 0.001, 1024, 1),
             (3, 7, 60, 0.03, 1), (1, 0, 60, 0.03, 1), (4, 0, 60, 1024, 2), (5, 1, 0.001, 1024, 2),
             (5, 3, 60, 0.03, 3), (2, 0, 60, 1024, 2), (3, 0, 60, 1024, 2)]
    if quick():  # automatic chunks, flushes at every request, a memory cap, 2 writers
        cases = [(2, 0, 60, 1024, 1), (3, 5, 0.001, 1024, 1), (3, 7, 60, 0.03, 1),
                 (5, 1, 0.001, 1024, 2)]
    for ranks, chunk, ckpt, mem, writers in cases:
        cfg = write(os.path.join(tmp, f"det-{ranks}-{chunk}-{ckpt}-{mem}-{writers}.yaml"),
                    JOB.format(chunk=chunk, ckpt=ckpt, mem=mem, writers=writers))
        out = os.path.join(tmp, f"r{ranks}-c{chunk}-{ckpt}-{mem}-{writers}.h5")
        r = kpsweep(build, ["run", cfg, "-o", out, "--quiet"], ranks=ranks)
        what = (f"{ranks} ranks, chunk {chunk or 'auto'}, checkpoint every {ckpt} s, {mem} MB, "
                f"{writers} writer(s)")
        if not tap.ok(r.returncode == 0, f"run with {what}", r.stdout + r.stderr):
            continue
        for group in ("/points", "/lines", "/progress", "/axes"):
            same, diff = h5diff(ref, out, group)
            tap.ok(same, f"{group} identical to 1 rank with {what}", diff)
        # Only the writers touch HDF5: rank 0 alone, or ranks 1..G when G > 1
        # (the master does not write; at least one worker is left).
        g = min(writers, ranks - 2)
        first, g = (1, g) if g > 1 else (0, 1)
        h5 = rank_hdf5(out)
        tap.ok(sorted(h5) == list(range(ranks))
               and all((h5[k] > 0) == (first <= k < first + g) for k in range(ranks)),
               f"HDF5 seconds on the writer(s) {list(range(first, first + g))} only with {what}",
               str(h5))

    # Searches through windows of response (shp1 at an explicit threshold: the
    # agonist alone responds only in a window of doses; tau2 = 20 s switches
    # it off and on again) on 1, 2, 3, 5 ranks and chunks of 1 and 2 lines.
    win = """name: win
model: shp1
axes:
  gamma: {{values: [1.2e-6, 2.4e-6]}}
agonist: {{tau: 10.0, L: 300}}
antagonist:
  tau: {{values: [0.5, 1.0, 2.0, 20.0]}}
  L: {{values: [0, 1000, 20000]}}
threshold: {{tau_c: 3.0, value: 0.6}}
attacks: {{enabled: true, descent: false, pgd_eps: 1.0}}
run: {{chunk: {chunk}}}
"""
    ref_w = os.path.join(tmp, "win-1.h5")
    r = kpsweep(build, ["run", write(os.path.join(tmp, "win-0.yaml"), win.format(chunk=0)), "-o", ref_w,
                        "--quiet"])
    tap.ok(r.returncode == 0, "window job on 1 rank", r.stderr)
    for ranks, chunk in ((2, 1), (3, 2), (5, 1)):
        out = os.path.join(tmp, f"win-{ranks}-{chunk}.h5")
        cfg = write(os.path.join(tmp, f"win-{chunk}.yaml"), win.format(chunk=chunk))
        r = kpsweep(build, ["run", cfg, "-o", out, "--quiet"], ranks=ranks)
        if not tap.ok(r.returncode == 0, f"window job on {ranks} ranks, chunk {chunk}", r.stdout + r.stderr):
            continue
        for group in ("/points", "/lines"):
            same, diff = h5diff(ref_w, out, group)
            tap.ok(same, f"window job {group} identical on 1 and {ranks} ranks (chunk {chunk})", diff)

    # The landscape and the descent's ligands (per parameter point, kept across
    # doses; an ODE model, so the warm starts along the grid matter) on 1
    # worker and on 2, with chunks of one line and automatic ones.
    land = """name: land
model: adaptive_sorting
params: {{N: 4, m: 2}}
axes:
  phi: {{values: [0.03, 0.09]}}
antagonist:
  tau: {{values: [0.5, 2.0]}}
  L: {{values: [1000, 6000, 20000]}}
stats: {{boundary: false}}
attacks:
  enabled: true
  fgsm_tau: false
  pgd: false
  descent_ligands: true
  descent_max_steps: 20
  bin_width: 0.5
  histogram:
    draw: [{{dist: normal, mean: 3.5, sd: 0.1, count: 300}}, {{dist: half_normal, mean: 0, sd: 1.0, count: 400}}]
landscape: {{enabled: true, n: 5, eps_max: 300, seed: 3}}
run: {{chunk: {chunk}}}
"""
    ref_l = os.path.join(tmp, "land-1-0.h5")
    r = kpsweep(build, ["run", write(os.path.join(tmp, "land-0.yaml"), land.format(chunk=0)), "-o", ref_l,
                        "--quiet"])
    tap.ok(r.returncode == 0, "landscape job on 1 rank, chunk auto", r.stderr)
    for ranks, chunk in ((1, 1), (3, 1), (3, 0)):
        out = os.path.join(tmp, f"land-{ranks}-{chunk}.h5")
        cfg = write(os.path.join(tmp, f"land-{chunk}.yaml"), land.format(chunk=chunk))
        r = kpsweep(build, ["run", cfg, "-o", out, "--quiet"], ranks=None if ranks == 1 else ranks)
        what = f"{ranks} rank(s) ({max(1, ranks - 1)} worker(s)), chunk {chunk or 'auto'}"
        if not tap.ok(r.returncode == 0, f"landscape job on {what}", r.stdout + r.stderr):
            continue
        for obj in ("/lines/landscape", "/lines/landscape_u", "/lines/landscape_v",
                    "/lines/descent_ligand_tau", "/lines", "/points", "/axes"):
            same, diff = h5diff(ref_l, out, obj)
            tap.ok(same, f"landscape job {obj} identical to 1 rank, chunk auto, on {what}", diff)

    # The default job (closed form, invalid m >= N cells) on 1, 2, 3 ranks.
    default = os.path.join(src, "jobs", "examples", "default.yaml")
    outs = []
    for ranks in (1, 2, 3):
        out = os.path.join(tmp, f"default-{ranks}.h5")
        r = kpsweep(build, ["run", default, "-o", out, "--quiet"], ranks=None if ranks == 1 else ranks)
        tap.ok(r.returncode == 0, f"default job on {ranks} rank(s)", r.stderr)
        outs.append(out)
    for out, ranks in zip(outs[1:], (2, 3)):
        for group in ("/points", "/lines"):
            same, diff = h5diff(outs[0], out, group)
            tap.ok(same, f"default job {group} identical on 1 and {ranks} ranks", diff)
    tap.done()


if __name__ == "__main__":
    main()
