"""Hostile disks, files and neighbours (issue "hostile files"): a full file
system during creation and during a flush, on 1 and 2 ranks (and a write
of 2 writer ranks), ends with exit 1, a clear message, no hang and nothing
lost; a second writer is refused by the output lock, naming the running
job, and a lock left by a hard kill does not block a resume; an
interrupted creation leaves no stub, and an old stub holding no line is
recreated; --resume checks every dataset's shape and
touches nothing it refuses; the run record at the end, on a full disk
without fallocate() and while another program holds the file open, is
written whole or not at all. The file systems are small tmpfs mounts made by
this test (it needs root, as CI has)."""
import ctypes
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, env, h5diff, kpsweep, quick, signal_session, write  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402

JOB = """name: reliability
model: adaptive_sorting
params: {{N: 5, m: 2}}
axes:
  phi: {{log: [0.01, 0.3, 12]}}
  delta: {{values: [0.5, 1, 2, 4, 8]}}
antagonist:
  tau: {{linear: [0.1, 2.9, {n_tau}]}}
  L: {{values: [1000, 6000]}}
solver: {{warm_start: false}}
run: {{checkpoint_every: {every}, progress_every: 0.1}}
"""
GROUPS = ("/points", "/lines", "/progress", "/axes")
HANG = 120  # seconds after which a run counts as hung


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class Tmpfs:
    """A tmpfs of `size` bytes mounted for the test, unmounted at exit."""

    def __init__(self, root, name, size):
        self.path = os.path.join(root, name)
        os.makedirs(self.path)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", self.path],
                       check=True)

    def clear(self):
        for f in os.listdir(self.path):
            os.unlink(os.path.join(self.path, f))

    def fill(self):
        """Writes a filler file until the file system is full."""
        try:
            with open(os.path.join(self.path, "filler"), "ab") as f:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
        except OSError:
            pass

    def unfill(self):
        p = os.path.join(self.path, "filler")
        if os.path.exists(p):
            os.unlink(p)

    def umount(self):
        subprocess.run(["umount", self.path])


def punch_holes(path, dataset):
    """Makes the raw chunks of one dataset sparse, as a copy-on-write file
    system sees an overwrite: writing them needs new space again. Also
    marks every line undone so the next run rewrites them all."""
    with h5py.File(path, "r+") as f:
        f["progress/line_done"][...] = 0
        d = f[dataset]
        spans = [(d.id.get_chunk_info(i).byte_offset, d.id.get_chunk_info(i).size)
                 for i in range(d.id.get_num_chunks())]
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(path, os.O_RDWR)
    try:
        for off, size in spans:  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
            if libc.fallocate(fd, 3, ctypes.c_long(off), ctypes.c_long(size)) != 0:
                raise OSError(ctypes.get_errno(), "fallocate")
    finally:
        os.close(fd)


def start(build, cfg, out, ranks, extra=(), env_add=None):
    exe = os.path.join(build, "src", "kpsweep")
    cmd = ([exe] if ranks == 1 else ["mpirun", "-n", str(ranks), exe]) + ["run", cfg, "-o", out]
    e = env()
    e.update(env_add or {})
    return subprocess.Popen(cmd + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=e, start_new_session=True)


def computing(p):
    """Reads p's standard error up to its first progress line: the run has
    created its file and computes."""
    for line in p.stderr:
        if "points (" in line:
            break


def finish(p):
    """Waits for p; a run still going after HANG seconds is killed and reported as hung."""
    try:
        out, err = p.communicate(timeout=HANG)
        return p.returncode, out + err
    except subprocess.TimeoutExpired:
        signal_session(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return "hung", out + err


def same_as(tap, ref, out, label):
    for g in GROUPS:
        same, diff = h5diff(ref, out, g)
        tap.ok(same, f"{label}: {g} identical to the reference run", diff)


def leftovers(d, name):
    return sorted(f for f in os.listdir(d) if f.startswith(name) and f != name)


def record(tap, build, cfg, ref, slow, slow_ref, mid, shim):
    """The run record is the one write at the end that adds to the file. On
    a full disk it must not be half written: that damaged the root group's
    attributes for good (inspect and every later record failed) and HDF5
    then crashed at exit. Where fallocate() works the space is claimed;
    without it (NFS; emulated by the shim) it is written ahead. (The slow
    job's file leaves less room in its last page than its record needs.)"""
    out = os.path.join(mid.path, "r.h5")
    for ranks in (1, 2):
        mid.clear()
        p = start(build, slow, out, ranks, [], env_add={"LD_PRELOAD": shim})
        computing(p)
        mid.fill()
        rc, log = finish(p)
        tap.ok(rc == 1 and "no room for the run record" in log and "--resume" in log,
               f"{ranks} rank(s), no fallocate, disk full at the run record: exit 1 naming it "
               f"(got {rc})", log)
        r = kpsweep(build, ["inspect", out])
        tap.ok(r.returncode == 0 and "120/120 lines (complete)" in r.stdout
               and "last run" not in r.stdout,
               f"{ranks} rank(s): the file is intact, every line in it", r.stdout + r.stderr)
        mid.unfill()
        rc, log = finish(start(build, slow, out, 3 - ranks, ["--resume", "--quiet"],
                               env_add={"LD_PRELOAD": shim}))
        i = kpsweep(build, ["inspect", out])
        tap.ok(rc == 0 and "last run" in i.stdout,
               f"{ranks} rank(s): once space is free, --resume writes the record",
               log + i.stdout + i.stderr)
        same_as(tap, slow_ref, out, f"{ranks} rank(s), after a full disk at the record")
        tap.ok(leftovers(mid.path, "r.h5") == [], f"{ranks} rank(s): no part or lock file left",
               os.listdir(mid.path))

    # With fallocate(), the record's space stays claimed after each record
    # (the close trims the file, which frees it): resumed runs on a full
    # disk, on other rank counts (new record shapes), still write theirs.
    mid.clear()
    p = start(build, slow, out, 1, [])
    computing(p)
    p.send_signal(signal.SIGUSR1)
    rc, log = finish(p)
    st = os.stat(out)
    tap.ok(rc == 3 and st.st_blocks * 512 >= st.st_size + (1 << 20),
           "after a run record the space for the next one is still claimed "
           f"({st.st_blocks * 512} bytes on disk for {st.st_size})", log)
    mid.fill()
    for ranks in (2, 3):
        p = start(build, slow, out, ranks, ["--resume"])
        computing(p)
        if ranks == 2:
            p.send_signal(signal.SIGUSR1)
        rc, log = finish(p)
        i = kpsweep(build, ["inspect", out])
        tap.ok(rc == (3 if ranks == 2 else 0) and f"on {ranks} ranks" in i.stdout,
               f"disk full: a resumed run on {ranks} ranks writes its record (exit {rc})",
               log + i.stdout + i.stderr)
    mid.unfill()
    same_as(tap, slow_ref, out, "resumed twice on a full disk")

    # Another program holding the file open (HDF5's file lock) at the end:
    # a short hold is waited out, one for as long as the run lasts is
    # reported as such.
    for hold, code in ((4, 0), (HANG, 1)):
        mid.clear()
        p = start(build, cfg, out, 1, [])
        computing(p)
        with h5py.File(out, "r"):
            try:
                p.wait(timeout=hold)
            except subprocess.TimeoutExpired:
                pass
        rc, log = finish(p)
        i = kpsweep(build, ["inspect", out])
        tap.ok(rc == code and ("last run" in i.stdout) == (code == 0)
               and (code == 0 or "another program has" in log),
               f"a reader holding the file {'4 s' if code == 0 else 'for good'} at the end of "
               f"the run: exit {code} "
               f"(got {rc})", log + i.stdout + i.stderr)
    r = kpsweep(build, ["run", cfg, "-o", out, "--resume", "--quiet"])
    tap.ok(r.returncode == 0, "the reader gone, --resume writes the record", r.stderr)
    same_as(tap, ref, out, "after a reader held the file")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def record_lock(tap, build, tmp, n_tau, noflock):
    """A lone writer writes the record through its open handle, under
    HDF5's file lock taken on a descriptor of its own: the rows must be in
    the file before it waits for a reader (a compressed write's chunk index
    was still in memory only: a kill in the wait lost it, and the progress
    map said every line was done); where flock() does not exist or HDF5's
    locks are off the record is written without the lock, as HDF5 would."""
    dcfg = write(os.path.join(tmp, "deflate.yaml"), JOB.format(n_tau=n_tau, every=60).replace(
        "progress_every: 0.1}", "progress_every: 0.1, compression: deflate}"))
    dref = os.path.join(tmp, "deflate-ref.h5")
    r = kpsweep(build, ["run", dcfg, "-o", dref, "--quiet"], ranks=2)
    tap.ok(r.returncode == 0, "reference run of the compressed job", r.stderr)
    out = os.path.join(tmp, "held.h5")
    p = start(build, dcfg, out, 1, [])
    computing(p)
    killed = False
    with h5py.File(out, "r"):
        # Computing, the run uses its core; waiting for the reader, none.
        last, still = cpu_ticks(p.pid), 0
        t0 = time.time()
        while p.poll() is None and still < 3 and time.time() - t0 < HANG:
            time.sleep(0.3)
            now = cpu_ticks(p.pid)
            still = still + 1 if now - last <= 1 else 0
            last = now
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            killed = True
    p.communicate()
    tap.ok(killed, "a compressed run waiting for a reader at its end is killed there")
    same, diff = h5diff(dref, out, "/points")
    tap.ok(same, "killed in that wait: every row is in the file, as its progress map says", diff)
    r = kpsweep(build, ["run", dcfg, "-o", out, "--resume", "--quiet"])
    i = kpsweep(build, ["inspect", out])
    tap.ok(r.returncode == 0 and "last run" in i.stdout, "and --resume writes the record",
           r.stderr + i.stdout)
    same_as(tap, dref, out, "killed while waiting for a reader, resumed")

    cfg = write(os.path.join(tmp, "lockless.yaml"), JOB.format(n_tau=n_tau, every=60))
    for ranks in (1, 2):
        out = os.path.join(tmp, f"noflock-{ranks}.h5")
        rc, log = finish(start(build, cfg, out, ranks, ["--quiet"],
                               env_add={"LD_PRELOAD": noflock}))
        i = kpsweep(build, ["inspect", out])
        tap.ok(rc == 0 and "last run" in i.stdout,
               f"{ranks} rank(s), no flock() on the file system: the record is written (exit {rc})",
               log + i.stdout + i.stderr)
    out = os.path.join(tmp, "nolocking.h5")
    p = start(build, cfg, out, 1, [], env_add={"HDF5_USE_FILE_LOCKING": "FALSE"})
    computing(p)
    with h5py.File(out, "r"):
        rc, log = finish(p)
    i = kpsweep(build, ["inspect", out])
    tap.ok(rc == 0 and "last run" in i.stdout,
           "HDF5_USE_FILE_LOCKING=FALSE: a reader holding the file does not keep the record out "
           f"(exit {rc})", log + i.stdout + i.stderr)


def main():
    build = sys.argv[1]
    shim, noflock = sys.argv[3], sys.argv[4]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="kps-reliability-")
    # Under KPS_QUICK (the sanitize lane) smaller jobs, the same checks.
    n_tau, n_slow = (20, 60) if quick() else (60, 150)
    cfg = write(os.path.join(tmp, "job.yaml"), JOB.format(n_tau=n_tau, every=0.2))
    slow = write(os.path.join(tmp, "slow.yaml"), JOB.format(n_tau=n_slow, every=0.2))
    ref = os.path.join(tmp, "ref.h5")
    r = kpsweep(build, ["run", cfg, "-o", ref, "--quiet"], ranks=2)
    tap.ok(r.returncode == 0, "reference run", r.stderr)
    slow_ref = os.path.join(tmp, "slow-ref.h5")
    r = kpsweep(build, ["run", slow, "-o", slow_ref, "--quiet"], ranks=2)
    tap.ok(r.returncode == 0, "reference run of the slower job", r.stderr)
    if os.geteuid() != 0:
        tap.ok(False, "this test mounts tmpfs file systems and must run as root")
        tap.done()
    small = Tmpfs(tmp, "small", 1 << 20)
    mid = Tmpfs(tmp, "mid", 16 << 20)
    try:
        full_disk(tap, build, cfg, ref, small, mid)
        full_disk_writers(tap, build, cfg, ref, mid)
        locks(tap, build, slow, slow_ref, tmp)
        creation(tap, build, cfg, ref, tmp)
        resume_checks(tap, build, cfg, ref, tmp, n_tau)
        record(tap, build, cfg, ref, slow, slow_ref, mid, shim)
        record_lock(tap, build, tmp, n_tau, noflock)
    finally:
        small.umount()
        mid.umount()
    tap.done()


def full_disk(tap, build, cfg, ref, small, mid):
    for ranks in (1, 2):
        # Too small from the start: refused before anything is written.
        small.clear()
        out = os.path.join(small.path, "r.h5")
        rc, log = finish(start(build, cfg, out, ranks, ["--quiet"]))
        tap.ok(rc == 1 and "free" in log and "nothing was written" in log,
               f"{ranks} rank(s), 1 MB file system: exit 1 with a message on the free space", log)
        tap.ok(os.listdir(small.path) == [], f"{ranks} rank(s): no stub, part or lock file left",
               os.listdir(small.path))

        # Filled by another program while the file is created.
        mid.clear()
        out = os.path.join(mid.path, "r.h5")
        p = start(build, cfg, out, ranks, ["--quiet"])
        t0 = time.time()
        while not os.path.exists(out + ".part") and p.poll() is None and time.time() - t0 < 60:
            time.sleep(0.0005)
        mid.fill()
        rc, log = finish(p)
        tap.ok(rc in (0, 1) and (rc == 0 or "kpsweep: error" in log),
               f"{ranks} rank(s), disk filled during creation: exit {rc} with a message, no hang",
               log)
        tap.ok(leftovers(mid.path, "r.h5") == [] and (rc == 0) == os.path.exists(out),
               f"{ranks} rank(s): no stub or part file after a failed creation",
               os.listdir(mid.path))
        mid.unfill()
        r = kpsweep(build, ["run", cfg, "-o", out, "--resume", "--quiet"], ranks=3 - ranks)
        tap.ok(r.returncode == 0, f"{ranks} rank(s): the run then completes with --resume",
               r.stdout + r.stderr)
        same_as(tap, ref, out, f"{ranks} rank(s), after a full disk at creation")

        # Filled after creation: the space of the whole file was claimed up
        # front, so the checkpoints never need more and the run completes.
        mid.clear()
        p = start(build, cfg, out, ranks, [])
        computing(p)
        mid.fill()
        rc, log = finish(p)
        tap.ok(rc == 0, f"{ranks} rank(s), disk filled after creation: the run completes", log)
        same_as(tap, ref, out, f"{ranks} rank(s), disk full during the checkpoints")
        mid.unfill()

        # A flush that needs new space (as on a copy-on-write file system)
        # on a full disk: exit 1, a message, the saved lines kept.
        punch_holes(out, "points/O")
        mid.fill()
        rc, log = finish(start(build, cfg, out, ranks, ["--resume", "--quiet"]))
        tap.ok(rc == 1 and "file system is full" in log and "--resume" in log,
               f"{ranks} rank(s), full disk during a flush: exit 1 naming the full file system",
               log)
        mid.unfill()
        r = kpsweep(build, ["run", cfg, "-o", out, "--resume", "--quiet"], ranks=3 - ranks)
        tap.ok(r.returncode == 0, f"{ranks} rank(s): resumed on {3 - ranks} rank(s) once space is free",
               r.stdout + r.stderr)
        same_as(tap, ref, out, f"{ranks} rank(s), after a failed flush")

    # validate compares the plan with the free space where the file goes.
    r = kpsweep(build, ["validate", cfg, "-o", os.path.join(small.path, "v.h5")])
    tap.ok(r.returncode == 2 and "free" in r.stderr,
           "validate refuses a plan larger than the output's free space (exit 2)", r.stdout + r.stderr)
    r = kpsweep(build, ["validate", cfg, "-o", os.path.join(mid.path, "v.h5")])
    tap.ok(r.returncode == 0 and "MB free there" in r.stdout,
           "validate accepts it where it fits and prints the size and free space", r.stdout + r.stderr)


def full_disk_writers(tap, build, cfg, ref, mid):
    """A write that fails for want of space with 2 writer ranks (ranks 1, 2
    of 5): agreed by the writers, told to the master, exit 1 naming the
    full file system, then resumed on 4 ranks (2 writers) to the same data."""
    cfg2 = write(cfg[:-5] + "-w2.yaml", open(cfg).read().replace("run: {", "run: {writers: 2, "))
    mid.clear()
    out = os.path.join(mid.path, "w.h5")
    r = kpsweep(build, ["run", cfg2, "-o", out, "--quiet"], ranks=5)
    tap.ok(r.returncode == 0, "2 writers: a run on 5 ranks completes", r.stdout + r.stderr)
    punch_holes(out, "points/O")
    mid.fill()
    rc, log = finish(start(build, cfg2, out, 5, ["--resume", "--quiet"]))
    tap.ok(rc == 1 and "file system is full" in log and "--resume" in log,
           f"2 writers, full disk during a write: exit 1 naming the full file system (got {rc})",
           log)
    mid.unfill()
    r = kpsweep(build, ["run", cfg2, "-o", out, "--resume", "--quiet"], ranks=4)
    tap.ok(r.returncode == 0, "2 writers: resumed on 4 ranks once space is free",
           r.stdout + r.stderr)
    same_as(tap, ref, out, "2 writers, after a failed write")


def locks(tap, build, slow, slow_ref, tmp):
    out = os.path.join(tmp, "locked.h5")
    p = start(build, slow, out, 2, [], env_add={"SLURM_JOB_ID": "4242"})
    computing(p)
    before = sha(out)
    # Held still while the others try (a slow machine, or the sanitizers'
    # start-up, could otherwise let it finish first and free the lock):
    # every process of its session, the ranks as well as mpirun.
    signal_session(p.pid, signal.SIGSTOP)
    try:
        # The holder's text is an extended attribute where the file system
        # has them: a lock file without content is released without freeing
        # a block (0.3-0.5 ms at the end of every run).
        lock = out + ".lock"
        probe = os.path.join(tmp, "xattr-probe")
        open(probe, "w").close()
        try:
            os.setxattr(probe, "user.probe", b"1")
            has_xattr = True
        except OSError:
            has_xattr = False
        if has_xattr:
            text = os.getxattr(lock, "user.kpsweep.holder").decode()
            tap.ok("SLURM job 4242" in text and os.stat(lock).st_size == 0,
                   "the holder's text is the lock file's extended attribute, not its content",
                   f"{text!r}, {os.stat(lock).st_size} bytes")
        else:
            with open(lock) as f:
                text = f.read()
            tap.ok("SLURM job 4242" in text,
                   "without extended attributes the holder's text is the lock file's content",
                   text)
        for mode in ("--resume", "--force"):
            r = kpsweep(build, ["run", slow, "-o", out, mode])
            tap.ok(r.returncode == 2 and "being written by another kpsweep run" in r.stderr
                   and "SLURM job 4242" in r.stderr and "pid" in r.stderr,
                   f"a second writer ({mode}) is refused with a message naming the running job",
                   r.stderr)
    finally:
        signal_session(p.pid, signal.SIGCONT)
    rc, log = finish(p)
    tap.ok(rc == 0, "the first run is not disturbed and completes", log)
    tap.ok(before != sha(out), "(the first run went on writing after the refusals)")
    same_as(tap, slow_ref, out, "the locked run")
    tap.ok(not os.path.exists(out + ".lock"), "the lock file is removed at the end")

    # A hard kill leaves the lock file behind, but not the lock.
    os.unlink(out)
    p = start(build, slow, out, 1, [])
    for line in p.stderr:
        if "points (" in line and float(line.split("(")[1].split("%")[0]) > 10:
            break
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate()
    tap.ok(os.path.exists(out + ".lock"), "after SIGKILL the lock file is still there")
    r = kpsweep(build, ["run", slow, "-o", out, "--resume", "--quiet"], ranks=2)
    tap.ok(r.returncode == 0, "and does not block a resume", r.stdout + r.stderr)
    same_as(tap, slow_ref, out, "resumed after a hard kill")


def creation(tap, build, cfg, ref, tmp):
    # Kill while the layout is written: nothing at OUT, and a plain run
    # (no --force) and a resume both start afresh.
    big = write(os.path.join(tmp, "big.yaml"), JOB.format(n_tau=60, every=0.2).replace(
        "phi: {log: [0.01, 0.3, 12]}", "phi: {log: [0.01, 0.3, 1200]}"))
    out = os.path.join(tmp, "killed.h5")
    p = start(build, big, out, 1, ["--quiet"])
    while not os.path.exists(out + ".part") and p.poll() is None:
        time.sleep(0.0005)
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate()
    tap.ok(not os.path.exists(out), "a kill during creation leaves no file at the output path",
           os.listdir(tmp))
    p = start(build, big, out, 1, ["--quiet"])
    for _ in range(2000):
        if os.path.exists(out):
            break
        time.sleep(0.01)
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate()
    r = kpsweep(build, ["inspect", out])
    tap.ok(r.returncode == 0, "a file renamed into place is always a complete layout",
           r.stdout + r.stderr)

    # A stub from an interrupted creation of an older version: no
    # provenance, no line. Replaced by run and by run --resume.
    for mode in ([], ["--resume"]):
        stub = os.path.join(tmp, "stub.h5")
        with h5py.File(stub, "w") as f:
            f.create_group("axes")
            f.create_group("progress")
        r = kpsweep(build, ["run", cfg, "-o", stub, "--quiet"] + mode)
        tap.ok(r.returncode == 0, f"run {' '.join(mode)} recreates an empty stub", r.stdout + r.stderr)
        same_as(tap, ref, stub, f"recreated stub ({' '.join(mode) or 'new'})")
        os.unlink(stub)

    # A foreign HDF5 file and an empty file are not stubs: refused, untouched.
    foreign = os.path.join(tmp, "foreign.h5")
    with h5py.File(foreign, "w") as f:
        f["data"] = np.arange(10)
    empty = write(os.path.join(tmp, "empty.h5"), "")
    for path, what in ((foreign, "another program's HDF5 file"), (empty, "an empty file")):
        before = sha(path)
        for mode in ([], ["--resume"]):
            r = kpsweep(build, ["run", cfg, "-o", path, "--quiet"] + mode)
            tap.ok(r.returncode == 2 and "nothing was changed" in r.stderr and sha(path) == before
                   and r.stderr.count("kpsweep: error") == 1,
                   f"run {' '.join(mode)} onto {what}: exit 2, one message, file untouched", r.stderr)
    tap.ok(os.path.getsize(empty) == 0, "the empty file is still empty")


def resume_checks(tap, build, cfg, ref, tmp, n_tau):
    cases = {
        "a progress map of 2^40 lines": lambda f: (
            f["progress"].__delitem__("line_done"),
            f["progress"].create_dataset("line_done", shape=(1 << 40,), dtype="u1",
                                         chunks=(1 << 20,))),
        "a 2-D progress map": lambda f: (
            f["progress"].__delitem__("line_done"),
            f["progress"].create_dataset("line_done", shape=(120, 2), dtype="u1")),
        "/points/O of another shape": lambda f: (
            f["points"].__delitem__("O"),
            f["points"].create_dataset("O", shape=(12, 5, 2, n_tau + 1), dtype="f8")),
        "/points/status as float": lambda f: (
            f["points"].__delitem__("status"),
            f["points"].create_dataset("status", shape=(12, 5, 2, n_tau), dtype="f8")),
        "/lines/O_th missing": lambda f: f["lines"].__delitem__("O_th"),
        "config_hash as a string": lambda f: f.attrs.__setitem__("config_hash", "abc"),
    }
    for what, damage in cases.items():
        path = os.path.join(tmp, "damaged.h5")
        subprocess.run(["cp", ref, path], check=True)
        with h5py.File(path, "r+") as f:
            damage(f)
        before, size = sha(path), os.path.getsize(path)
        r = kpsweep(build, ["run", cfg, "-o", path, "--resume", "--quiet"], ranks=2)
        tap.ok(r.returncode == 2 and "nothing was changed" in r.stderr,
               f"--resume refuses {what} with exit 2 and a message", r.stdout + r.stderr)
        tap.ok(sha(path) == before and os.path.getsize(path) == size,
               f"--resume left the file with {what} untouched")
        os.unlink(path)


if __name__ == "__main__":
    main()
