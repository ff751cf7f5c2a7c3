"""Shared helpers of the Python test scripts: TAP output, running kpsweep
(plain or under mpirun), and comparing results files with h5diff."""
import os
import subprocess
import sys

MPI_ENV = {
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
}


class Tap:
    """Prints TAP lines; done() prints the plan and exits non-zero on failure."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, what, detail=""):
        self.n += 1
        print(f"{'' if cond else 'not '}ok {self.n} - {what}", flush=True)
        if not cond:
            self.failed += 1
            for line in str(detail).splitlines()[-30:]:
                print(f"#   {line}", flush=True)
        return cond

    def done(self):
        print(f"1..{self.n}", flush=True)
        sys.exit(1 if self.failed else 0)


def quick():
    """True under KPS_QUICK (the sanitize lane sets it): the slow suites shrink
    their workloads (fewer cases, smaller jobs) but keep every kind of check."""
    return os.environ.get("KPS_QUICK", "") not in ("", "0")


def env():
    e = dict(os.environ)
    e.update(MPI_ENV)
    return e


def signal_session(sid, sig):
    """Sends sig to every process of session sid (a job started with
    start_new_session=True): mpirun puts each rank in a process group of its
    own, so killpg on mpirun's group reaches mpirun alone."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[3]) != sid:
                    continue
            os.kill(int(pid), sig)
        except (OSError, ValueError, IndexError):
            continue


def kpsweep(build, args, ranks=None, timeout=300, **kw):
    """Runs kpsweep (under mpirun -n ranks when ranks is given)."""
    exe = os.path.join(build, "src", "kpsweep")
    cmd = ([exe] if ranks is None else ["mpirun", "-n", str(ranks), exe]) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env(), **kw)


def h5diff(a, b, obj):
    """True when object obj (a group or dataset) is identical in both files."""
    r = subprocess.run(["h5diff", a, b, obj, obj], capture_output=True, text=True)
    return r.returncode == 0, r.stdout + r.stderr


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path
