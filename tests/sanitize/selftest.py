"""The sanitize lane checks itself (suite sanitize; sanitizer builds only):
LeakSanitizer reports a leak of the project's own code, alone and in every
rank under mpirun (so the sanitizer options reach the ranks and lsan.supp
hides no leak of ours), UndefinedBehaviorSanitizer's float-cast-overflow is
fatal, and a program that only starts MPI, does MPI-IO and finalizes reports
nothing (lsan.supp covers Open MPI's own leaks).

usage: selftest.py SELFTEST_EXE
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, env  # noqa: E402


def run(cmd, tmp, label):
    """Runs cmd with every sanitizer report in tmp/label.*; returns the exit
    status and the reports (file name -> text)."""
    e = env()
    for var, prefix in (("ASAN_OPTIONS", "asan"), ("UBSAN_OPTIONS", "ubsan")):
        log = os.path.join(tmp, f"{label}-{prefix}")
        e[var] = (e.get(var, "") + ":" if e.get(var) else "") + f"log_path={log}"
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=e)
    reports = {}
    for f in glob.glob(os.path.join(tmp, f"{label}-*")):
        with open(f, errors="replace") as fh:
            reports[f] = fh.read()
    return r, reports


def errors(reports):
    return {f: t for f, t in reports.items()
            if "ERROR: LeakSanitizer" in t or "ERROR: AddressSanitizer" in t or "runtime error" in t}


def main():
    exe = sys.argv[1]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="kps-sanitize-selftest-")
    data = os.path.join(tmp, "mpiio.bin")

    r, rep = run([exe, "leak"], tmp, "leak1")
    own = [f for f, t in errors(rep).items() if "kps_selftest_own_leak" in t]
    tap.ok(r.returncode != 0 and len(own) == 1,
           "a leak of our own code is reported (one process)",
           f"exit {r.returncode}\n" + "\n".join(rep.values()) + r.stderr)

    r, rep = run(["mpirun", "-n", "2", exe, "leak"], tmp, "leak2")
    own = [f for f, t in errors(rep).items() if "kps_selftest_own_leak" in t]
    tap.ok(r.returncode != 0 and len(own) == 2,
           "a leak of our own code is reported by each of 2 ranks under mpirun",
           f"exit {r.returncode}, {len(own)} reports\n" + "\n".join(rep.values()) + r.stderr)

    r, rep = run([exe, "ubsan"], tmp, "ubsan")
    hit = [f for f, t in errors(rep).items() if "outside the range of representable values" in t]
    tap.ok(r.returncode != 0 and len(hit) == 1, "float-cast-overflow is fatal",
           f"exit {r.returncode}\n" + "\n".join(rep.values()) + r.stderr)

    r, rep = run([exe, "clean", data], tmp, "clean1")
    tap.ok(r.returncode == 0 and not errors(rep),
           "MPI_Init + MPI-IO + MPI_Finalize: Open MPI's leaks are all suppressed (one process)",
           f"exit {r.returncode}\n" + "\n".join(errors(rep).values()) + r.stderr)

    r, rep = run(["mpirun", "-n", "2", exe, "clean", data], tmp, "clean2")
    tap.ok(r.returncode == 0 and not errors(rep),
           "MPI_Init + MPI-IO + MPI_Finalize: Open MPI's leaks are all suppressed (2 ranks)",
           f"exit {r.returncode}\n" + "\n".join(errors(rep).values()) + r.stderr)
    if not tap.failed:
        shutil.rmtree(tmp)
    tap.done()


if __name__ == "__main__":
    main()
