"""The defence sweep (kpsweep defence sweep, docs/defence.md) on
jobs/defence/quick.yaml: training identical across rank counts (1 rank
in-process, 3 ranks = master and 2 workers writing one file by collective
MPI-IO give the same results file), the loss landscape (grid and axes,
the FGSM direction raising the loss), a run stopped by SIGUSR1 through
mpirun or SIGTERM to one process exits 3 with its completed tasks saved
and --resume completes it identically to an uninterrupted run, as it does
after half the tasks were undone; a file of another job or an existing
file without --resume/--force is refused, job-file errors are exit 2 with
FILE:LINE:COL: key: reason, and analysis/plot_defence.py draws the file
and its landscapes. Needs Fashion-MNIST (a declared test dependency: its
absence fails)."""
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, env, h5diff, kpsweep, write  # noqa: E402

RESULTS = ["clean_accuracy", "class_accuracy", "robust_accuracy", "robust_class_accuracy",
           "mean_flip_eps", "loss_landscape", "status", "done", "N", "m", "theta", "kind", "eps",
           "attack", "landscape_u", "landscape_v"]


def same(tap, a, b, what):
    bad = []
    for d in RESULTS:
        ok, out = h5diff(a, b, "/" + d)
        if not ok:
            bad.append(f"/{d}: {out}")
    tap.ok(not bad, what, "\n".join(bad))


def interrupted(build, job, out, ranks, sig):
    """Starts the sweep, sends sig once a trained task is reported done."""
    exe = os.path.join(build, "src", "kpsweep")
    cmd = ([exe] if ranks is None else ["mpirun", "-n", str(ranks), exe])
    p = subprocess.Popen(cmd + ["defence", "sweep", job, "-o", out], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env())
    sent, lines = False, []
    for line in p.stdout:
        lines.append(line)
        if not sent and line.startswith("task") and "clean" in line:
            p.send_signal(sig)
            sent = True
    err = p.stderr.read()
    p.wait(timeout=120)
    return p.returncode, sent, "".join(lines) + err


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
            land, u, v = f["loss_landscape"][()], f["landscape_u"][()], f["landscape_v"][()]
            c = len(u) // 2
            tap.ok(land.shape == (6, 11, 11) and np.allclose(u, np.linspace(-0.2, 0.2, 11))
                   and np.array_equal(u, v) and u[c] == 0.0
                   and f["landscape_u"].attrs.get("CLASS") == b"DIMENSION_SCALE"
                   and f.attrs["landscape_images"] == 50,
                   "loss_landscape (task, u, v) with its axes as dimension scales", land.shape)
            tap.ok(np.isfinite(land[st == 1]).all() and np.isnan(land[1]).all()
                   and (land[st == 1] > 0).all(), "landscapes finite and positive, NaN when invalid")
            rise = land[st == 1][:, -1, c] - land[st == 1][:, c, c]
            fall = land[st == 1][:, c, c] - land[st == 1][:, 0, c]
            tap.ok((rise > 0).all() and (fall > 0).all(),
                   "along the FGSM direction the loss rises for every network", rise)

        # Interrupted, then resumed: as if uninterrupted.
        for label, ranks, sig in (("SIGUSR1 through mpirun -n 3", 3, signal.SIGUSR1),
                                  ("SIGTERM to a single process", None, signal.SIGTERM)):
            part = os.path.join(tmp, f"part-{int(sig)}.h5")
            rc, sent, log = interrupted(build, job, part, ranks, sig)
            tap.ok(sent and rc == 3 and "interrupted; saved" in log and "--resume" in log,
                   f"{label}: exit status 3 after the first trained task, got {rc}", log)
            with h5py.File(part, "r") as f:
                done, st = f["done"][()], f["status"][()]
                clean = f["clean_accuracy"][()]
            trained = (done == 1) & (st == 1)
            tap.ok(0 < done.sum() < 6 and trained.any() and np.isfinite(clean[trained]).all()
                   and np.isnan(clean[done == 0]).all(),
                   f"{label}: {int(done.sum())} of 6 tasks saved and marked done, the rest untouched",
                   done)
            r = kpsweep(build, ["defence", "sweep", job, "-o", part, "--resume"], ranks=3)
            want = f"{6 - int(done.sum())} this run"
            tap.ok(r.returncode == 0 and want in r.stdout, f"{label}: --resume computes the rest ({want})",
                   r.stdout + r.stderr)
            same(tap, one, part, f"{label}: resumed file identical to the uninterrupted one")

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
        import fcntl
        locked = os.path.join(tmp, "locked.h5")
        with open(locked + ".lock", "w") as held:
            fcntl.lockf(held, fcntl.LOCK_EX)
            r = kpsweep(build, ["defence", "sweep", job, "-o", locked], ranks=3)
        tap.ok(r.returncode == 2 and "being written by another" in r.stderr
               and not os.path.exists(locked),
               "a file whose lock another process holds is refused on every rank", r.stdout + r.stderr)
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
            "undefended: true\nlandscape: {points: 10}\n": "2:21: landscape.points: wants an odd",
            "undefended: true\nlandscape: {span: 0}\n": "landscape.span: 0 is outside",
            "undefended: [\n": "yaml:",
        }
        for k, (text, want) in enumerate(bad.items()):
            path = write(os.path.join(tmp, f"bad{k}.yaml"), text)
            r = kpsweep(build, ["defence", "sweep", path, "-o", os.path.join(tmp, f"bad{k}.h5")])
            tap.ok(r.returncode == 2 and f"{path}:" in r.stderr and want in r.stderr
                   and not os.path.exists(os.path.join(tmp, f"bad{k}.h5")),
                   f"job error exits 2: {want}", r.stderr)

        png, lpng = os.path.join(tmp, "plot.png"), os.path.join(tmp, "land.png")
        r = subprocess.run(["/usr/bin/python3", plot, three, "-o", png, "--landscape", lpng],
                           capture_output=True, text=True)
        tap.ok(r.returncode == 0 and os.path.getsize(png) > 10000 and os.path.getsize(lpng) > 10000,
               "plot_defence.py draws the summary and the landscapes", r.stdout + r.stderr)
        r = subprocess.run(["/usr/bin/python3", plot, job, "-o", png], capture_output=True, text=True)
        tap.ok(r.returncode == 2 and "plot_defence.py:" in r.stderr, "plot_defence.py: not HDF5 is exit 2",
               r.stderr)
        r = subprocess.run(["/usr/bin/python3", plot, three, "-o", png, "--eps", "0.3"],
                           capture_output=True, text=True)
        tap.ok(r.returncode == 2 and "no eps" in r.stderr, "plot_defence.py: a missing eps is exit 2",
               r.stderr)
    tap.done()


main()
