"""Checkpoint and resume: a run stopped by SIGUSR1 (through mpirun, as SLURM
sends it) or SIGTERM saves its progress and exits with status 3; resuming it
(on another rank count) gives a file identical, dataset by dataset, to an
uninterrupted run, also with two writer ranks (run.writers: 2). A file
from another config is refused, and nothing is ever overwritten without
--force."""
import hashlib
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, env, h5diff, kpsweep, quick, write  # noqa: E402

JOB = """name: resume
model: adaptive_sorting
params: {{N: 5, m: 2}}
axes:
  phi: {{log: [0.01, 0.3, 12]}}
  delta: {{values: [0.5, 1, 2, 4, 8]}}
antagonist:
  tau: {{linear: [0.1, 2.9, {n_tau}]}}
  L: {{values: [1000, {dose}]}}
solver: {{warm_start: false}}
run: {{checkpoint_every: 0.2, progress_every: 0.1, writers: {writers}}}
"""


# Under KPS_QUICK (the sanitize lane) a shorter line, the same checks.
N_TAU = 30 if quick() else 60


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def interrupted_run(build, cfg, out, ranks, sig):
    """Starts a run, sends sig once about a fifth of the points are done."""
    exe = os.path.join(build, "src", "kpsweep")
    cmd = ([exe] if ranks is None else ["mpirun", "-n", str(ranks), exe]) + ["run", cfg, "-o", out]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    sent = False
    err = []
    for line in p.stderr:
        err.append(line)
        if not sent and "points (" in line:
            pct = float(line.split("(")[1].split("%")[0])
            if pct >= 20.0:
                p.send_signal(sig)
                sent = True
    out_text = p.stdout.read()
    p.wait(timeout=120)
    return p.returncode, sent, out_text + "".join(err)


def main():
    build = sys.argv[1]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="kps-resume-")
    cfg = write(os.path.join(tmp, "job.yaml"), JOB.format(dose=6000, n_tau=N_TAU, writers=1))
    # The same job (run: is not part of the configuration's identity).
    cfg2 = write(os.path.join(tmp, "job2.yaml"), JOB.format(dose=6000, n_tau=N_TAU, writers=2))
    ref = os.path.join(tmp, "ref.h5")
    r = kpsweep(build, ["run", cfg, "-o", ref, "--quiet"], ranks=2)
    tap.ok(r.returncode == 0, "uninterrupted reference run", r.stderr)

    # The last case resumes with 2 writers too (ranks 1, 2; the first writer
    # sends the master the progress map it read).
    for label, ranks, sig, resume_ranks, job in (
            ("SIGUSR1 through mpirun -n 3", 3, signal.SIGUSR1, 2, cfg),
            ("SIGTERM to a single process", None, signal.SIGTERM, 3, cfg),
            ("SIGINT (Ctrl-C) to a single process", None, signal.SIGINT, 2, cfg),
            ("SIGUSR1 through mpirun -n 5, 2 writers", 5, signal.SIGUSR1, 4, cfg2)):
        out = os.path.join(tmp, f"part-{sig}-{ranks}.h5")
        rc, sent, log = interrupted_run(build, job, out, ranks, sig)
        tap.ok(sent, f"{label}: signal sent mid-run", log)
        tap.ok(rc == 3, f"{label}: exit status 3 (interrupted, resumable), got {rc}", log)
        ins = kpsweep(build, ["inspect", out])
        tap.ok(ins.returncode == 0 and "partial" in ins.stdout,
               f"{label}: inspect reports a partial file", ins.stdout + ins.stderr)
        same, _ = h5diff(ref, out, "/points")
        tap.ok(not same, f"{label}: the partial file differs from the full one before resume")
        r = kpsweep(build, ["run", job, "-o", out, "--resume", "--quiet"], ranks=resume_ranks)
        tap.ok(r.returncode == 0 and "resumed" in r.stdout,
               f"{label}: resume on {resume_ranks} ranks completes", r.stdout + r.stderr)
        resumed = int(r.stdout.split("(")[1].split(" resumed")[0]) if "resumed" in r.stdout else 0
        tap.ok(resumed > 0, f"{label}: resume kept {resumed} finished lines", r.stdout)
        for group in ("/points", "/lines", "/progress", "/axes"):
            same, diff = h5diff(ref, out, group)
            tap.ok(same, f"{label}: {group} identical to the uninterrupted run", diff)
        import h5py
        n1 = ranks or 1
        with h5py.File(out, "r") as f:
            runs, rk = f["history/runs"][...], f["history/ranks"][...]
            total = f["progress/line_done"].size
        tap.ok(len(runs) == 2 and list(runs["n_ranks"]) == [n1, resume_ranks]
               and runs["interrupted"][0] == 1 and runs["complete"][1] == 1
               and runs["lines_computed"].sum() == total,
               f"{label}: the history keeps both pieces (ranks, lines computed adding up to "
               f"{total}, interrupted then complete)", runs)
        tap.ok(len(rk) == n1 + resume_ranks and list(rk["run"]) == [0] * n1 + [1] * resume_ranks
               and abs(rk["lines"].sum() - total) < 1e-9,
               f"{label}: one /history/ranks row per rank of each piece", rk)
        ins = kpsweep(build, ["inspect", out])
        tap.ok("history     2 runs" in ins.stdout and "interrupted (resumable)" in ins.stdout,
               f"{label}: inspect prints the history", ins.stdout)

    # Refusals leave the file untouched.
    before = sha(ref)
    other = write(os.path.join(tmp, "other.yaml"), JOB.format(dose=7000, n_tau=N_TAU, writers=1))
    r = kpsweep(build, ["run", other, "-o", ref, "--resume"])
    tap.ok(r.returncode == 2 and "different configuration" in r.stderr,
           "resume with a different config is refused with exit 2", r.stderr)
    tap.ok("these settings differ: antagonist.L" in r.stderr and "param" not in r.stderr,
           "the refusal names the setting that differs (and only that one)", r.stderr)
    r = kpsweep(build, ["run", cfg, "-o", ref])
    tap.ok(r.returncode == 2 and "already exists" in r.stderr,
           "run onto an existing file without --force/--resume is refused", r.stderr)
    tap.ok(sha(ref) == before, "refused runs left the file byte for byte unchanged")
    r = kpsweep(build, ["run", cfg, "-o", ref, "--resume", "--quiet"])
    tap.ok(r.returncode == 0 and "0 failed" in r.stdout, "resuming a complete file is a no-op", r.stdout + r.stderr)
    same, diff = h5diff(ref, os.path.join(tmp, f"part-{signal.SIGTERM}-None.h5"), "/points")
    tap.ok(same, "a complete file resumed again keeps its data", diff)
    bad = write(os.path.join(tmp, "not.h5"), "not an hdf5 file\n")
    r = kpsweep(build, ["run", cfg, "-o", bad, "--resume"])
    tap.ok(r.returncode != 0 and open(bad).read() == "not an hdf5 file\n",
           "resume onto a non-HDF5 file fails and leaves it alone", r.stderr)
    tap.done()


if __name__ == "__main__":
    main()
