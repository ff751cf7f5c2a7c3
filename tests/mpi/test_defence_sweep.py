"""The defence sweep (kpsweep defence sweep, docs/defence.md) on
jobs/defence/quick.yaml: training identical across rank counts (1 rank
in-process, 3 ranks = master and 2 workers give the same results file),
--resume after half the tasks were undone completes it identically, a file
of another job or an existing file without --resume/--force is refused,
job-file errors are exit 2 with FILE:LINE:COL: key: reason, and
analysis/plot_defence.py draws the file. Needs Fashion-MNIST (a declared
test dependency: its absence fails)."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, h5diff, kpsweep, write  # noqa: E402

RESULTS = ["clean_accuracy", "class_accuracy", "robust_accuracy", "robust_class_accuracy",
           "mean_flip_eps", "status", "done", "N", "m", "theta", "kind", "eps", "attack"]


def same(tap, a, b, what):
    bad = []
    for d in RESULTS:
        ok, out = h5diff(a, b, "/" + d)
        if not ok:
            bad.append(f"/{d}: {out}")
    tap.ok(not bad, what, "\n".join(bad))


def main():
    build, source = sys.argv[1], sys.argv[2]
    job = os.path.join(source, "jobs", "defence", "quick.yaml")
    plot = os.path.join(source, "analysis", "plot_defence.py")
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        one, three = os.path.join(tmp, "one.h5"), os.path.join(tmp, "three.h5")
        r = kpsweep(build, ["defence", "sweep", job, "-o", one])
        if not tap.ok(r.returncode == 0, "quick sweep on 1 rank", r.stdout + r.stderr):
            tap.done()
        r = kpsweep(build, ["defence", "sweep", job, "-o", three], ranks=3)
        tap.ok(r.returncode == 0, "quick sweep on 3 ranks (2 workers)", r.stdout + r.stderr)
        same(tap, one, three, "training and evaluation identical across rank counts")

        import h5py
        import numpy as np
        with h5py.File(one, "r") as f:
            st = f["status"][()]
            tap.ok(list(st) == [1, 2, 1, 1, 1, 1], "statuses: m >= N stored as invalid", st)
            rob = f["robust_accuracy"][()]
            tap.ok(rob.shape == (6, 3, 3) and np.isfinite(rob[st == 1]).all()
                   and np.isnan(rob[1]).all(), "robust_accuracy (task, eps, attack)", rob.shape)
            tap.ok(f["eps"].attrs.get("CLASS") == b"DIMENSION_SCALE", "eps is a dimension scale")

        # Undo every other task, as a run killed half way would leave them.
        half = os.path.join(tmp, "half.h5")
        subprocess.run(["cp", one, half], check=True)
        with h5py.File(half, "r+") as f:
            for name in ["clean_accuracy", "class_accuracy", "robust_accuracy",
                         "robust_class_accuracy", "mean_flip_eps"]:
                f[name][0::2] = np.nan
            f["status"][0::2] = 0
            f["done"][0::2] = 0
        r = kpsweep(build, ["defence", "sweep", job, "-o", half, "--resume"], ranks=3)
        tap.ok(r.returncode == 0 and "3 this run" in r.stdout, "--resume computes the undone tasks",
               r.stdout + r.stderr)
        same(tap, one, half, "resumed file identical to the uninterrupted one")

        r = kpsweep(build, ["defence", "sweep", job, "-o", one])
        tap.ok(r.returncode == 2 and "--resume" in r.stderr, "an existing file needs --resume or --force",
               r.stdout + r.stderr)
        other = write(os.path.join(tmp, "other.yaml"), open(job).read() + "attack_seed: 8\n")
        r = kpsweep(build, ["defence", "sweep", other, "-o", one, "--resume"])
        tap.ok(r.returncode == 2 and "another job" in r.stderr, "--resume refuses another job's file",
               r.stdout + r.stderr)

        bad = {
            "layers: {N: [2], m: [0], theta: [0.3]}\nepoch: 1\n": "2:1: epoch: unknown key",
            "layers: {N: [2], m: [0], theta: [1.5]}\n": "1:34: layers.theta:",
            "layers: {N: [2], m: [0]}\n": "layers.theta: missing required key",
            "undefended: true\neps: [0.1, 0.05]\n": "2:12: eps: radii must increase",
            "undefended: true\nattacks: [cw]\n": "2:11: attacks: wants fgsm, pgd or spsa",
            "undefended: true\nn_train: 2.5\n": "n_train: wants an integer",
            "undefended: [\n": "yaml:",
        }
        for k, (text, want) in enumerate(bad.items()):
            path = write(os.path.join(tmp, f"bad{k}.yaml"), text)
            r = kpsweep(build, ["defence", "sweep", path, "-o", os.path.join(tmp, f"bad{k}.h5")])
            tap.ok(r.returncode == 2 and f"{path}:" in r.stderr and want in r.stderr
                   and not os.path.exists(os.path.join(tmp, f"bad{k}.h5")),
                   f"job error exits 2: {want}", r.stderr)

        png = os.path.join(tmp, "plot.png")
        r = subprocess.run(["/usr/bin/python3", plot, three, "-o", png], capture_output=True, text=True)
        tap.ok(r.returncode == 0 and os.path.getsize(png) > 10000, "plot_defence.py draws a PNG",
               r.stdout + r.stderr)
        r = subprocess.run(["/usr/bin/python3", plot, job, "-o", png], capture_output=True, text=True)
        tap.ok(r.returncode == 2 and "plot_defence.py:" in r.stderr, "plot_defence.py: not HDF5 is exit 2",
               r.stderr)
        r = subprocess.run(["/usr/bin/python3", plot, three, "-o", png, "--eps", "0.3"],
                           capture_output=True, text=True)
        tap.ok(r.returncode == 2 and "no eps" in r.stderr, "plot_defence.py: a missing eps is exit 2",
               r.stderr)
    tap.done()


main()
