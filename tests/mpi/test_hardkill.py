"""Hard kills: SIGKILL the whole job, or a single rank (a worker, or the
master), at random moments, including while rank 0 creates the file (the
moment OUT.part appears) and inside checkpoints (the moment the file is
written to), then resume on another rank count, repeatedly: every file ends
identical, dataset by dataset, to an uninterrupted run. Half of the runs
drawn on 3 ranks run on 4 with 2 writer ranks instead (run.writers: 2:
ranks 1 and 2 write, rank 3 computes), so a killed "worker" may be a writer.

KPS_HARDKILL_TRIALS sets the number of trials (default 12: four per kind of
moment; 3 under KPS_QUICK); KPS_HARDKILL_SEED the random seed (default: fixed, so a failure
can be replayed)."""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, env, h5diff, kpsweep, quick, write  # noqa: E402

JOB = """name: hardkill
model: adaptive_sorting
params: {N: 5, m: 2}
axes:
  phi: {log: [0.01, 0.3, 12]}
  delta: {values: [0.5, 1, 2, 4, 8]}
antagonist:
  tau: {linear: [0.1, 2.9, 60]}
  L: {values: [1000, 6000]}
solver: {warm_start: false}
run: {checkpoint_every: 0.05, progress_every: 10}
"""
GROUPS = ("/points", "/lines", "/progress", "/axes")
MOMENTS = ("creation", "checkpoint", "random")
HANG = 90


def rank_pids(job_pid):
    """PIDs of the ranks of an mpirun job, by rank (from their environment)."""
    ranks = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != job_pid:
                continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                for var in f.read().split(b"\0"):
                    if var.startswith(b"OMPI_COMM_WORLD_RANK="):
                        ranks[int(var.split(b"=")[1])] = int(pid)
        except (OSError, ValueError, IndexError):
            continue
    return ranks


def zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def wait_for(cond, p, limit):
    t0 = time.time()
    while not cond() and p.poll() is None and time.time() - t0 < limit:
        time.sleep(0.00005)
    return cond()


def mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def trial(build, cfg, out, ranks, moment, target, rng):
    """One killed run; returns (what happened, the run's log)."""
    exe = os.path.join(build, "src", "kpsweep")
    cmd = ([exe] if ranks == 1 else ["mpirun", "-n", str(ranks), exe])
    p = subprocess.Popen(cmd + ["run", cfg, "-o", out, "--resume", "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                         start_new_session=True)
    if moment == "creation":
        hit = wait_for(lambda: os.path.exists(out + ".part"), p, 30)
    elif moment == "checkpoint":
        wait_for(lambda: os.path.exists(out), p, 30)
        first = mtime(out)
        time.sleep(rng.uniform(0.0, 0.5))
        start = mtime(out)
        hit = wait_for(lambda: mtime(out) != start, p, 30) and first is not None
    else:
        time.sleep(rng.uniform(0.0, 2.0))
        hit = p.poll() is None
    pids = rank_pids(p.pid) if ranks > 1 else {0: p.pid}
    try:
        if target == "job" or ranks == 1:
            what = "whole job"
            os.killpg(p.pid, signal.SIGKILL)
        else:
            r = 0 if target == "master" else rng.randrange(1, ranks)
            what = f"rank {r} of {ranks}"
            if r in pids:
                os.kill(pids[r], signal.SIGKILL)
    except ProcessLookupError:
        hit = False
    try:
        o, e = p.communicate(timeout=HANG)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        o, e = p.communicate()
        rc = "hung"
    if p.returncode == 0:
        hit = False
    # mpirun may return while the ranks it stops are still exiting (and
    # rank 0 still holds the output lock): wait until they are gone.
    t0 = time.time()
    while any(os.path.exists(f"/proc/{q}") and not zombie(q) for q in pids.values()):
        if time.time() - t0 > HANG:
            rc = "hung"
            break
        time.sleep(0.01)
    return f"{what} at {moment}{'' if hit else ' (missed: the run ended first)'}", rc, o + e


def main():
    build = sys.argv[1]
    tap = Tap()
    n_trials = int(os.environ.get("KPS_HARDKILL_TRIALS", "3" if quick() else "12"))
    seed = int(os.environ.get("KPS_HARDKILL_SEED", "20261201"))
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="kps-hardkill-")
    cfg = write(os.path.join(tmp, "job.yaml"), JOB)
    cfg2 = write(os.path.join(tmp, "job2.yaml"), JOB.replace("run: {", "run: {writers: 2, "))
    ref = os.path.join(tmp, "ref.h5")
    r = kpsweep(build, ["run", cfg, "-o", ref, "--quiet"], ranks=2)
    tap.ok(r.returncode == 0, "uninterrupted reference run", r.stderr)
    counts = {}
    hits = 0
    for t in range(n_trials):
        moment = MOMENTS[t % len(MOMENTS)]
        target = rng.choice(("job", "worker", "master"))
        ranks = rng.choice((1, 2, 3)) if target == "job" else rng.choice((2, 3))
        out = os.path.join(tmp, f"trial{t}.h5")
        job = cfg
        if ranks == 3 and rng.random() < 0.5:  # ranks 1, 2 write, rank 3 computes
            job, ranks = cfg2, 4
        what, rc, log = trial(build, job, out, ranks, moment, target, rng)
        if job == cfg2:
            what += ", 2 writers"
        kind = what.split(" at ")[0].split(" of ")[0]
        counts[kind] = counts.get(kind, 0) + 1
        hits += "missed" not in what
        tap.ok(rc != "hung", f"trial {t}: SIGKILL {what}: the job ended (status {rc})", log)
        # A second kill of the resumed run, at a random moment, on another rank count.
        if rng.random() < 0.5:
            ranks2 = rng.choice([k for k in (1, 2, 3) if k != ranks])
            what2, rc2, log2 = trial(build, cfg, out, ranks2, "random", "job", rng)
            tap.ok(rc2 != "hung", f"trial {t}: then SIGKILL {what2} of the resumed run", log2)
            ranks = ranks2
        resume = rng.choice([k for k in (1, 2, 3) if k != ranks])
        r = kpsweep(build, ["run", cfg, "-o", out, "--resume", "--quiet"], ranks=resume)
        tap.ok(r.returncode == 0, f"trial {t}: resume on {resume} rank(s) completes", r.stdout + r.stderr)
        diffs = [g for g in GROUPS if not h5diff(ref, out, g)[0]]
        tap.ok(not diffs, f"trial {t}: every dataset identical to the uninterrupted run",
               "differ: " + " ".join(diffs))
        leftover = [f for f in os.listdir(tmp) if f.startswith(f"trial{t}.h5.")]
        tap.ok(not leftover, f"trial {t}: no part or lock file left after the resume", leftover)
        os.unlink(out)
    print(f"# {n_trials} kill trials (seed {seed}): "
          + ", ".join(f"{v} x {k}" for k, v in sorted(counts.items()))
          + f"; {hits} hit the moment aimed at", flush=True)
    tap.done()


if __name__ == "__main__":
    main()
