"""Hostile input, none of which may crash kpsweep or make it hang: bogus
command lines for solve and inspect, hostile results files for inspect
(any rank, any datatype, attributes of the wrong type or shape, missing
groups, progress maps of the wrong shape or size, files that are not HDF5),
job files whose counts would mean unbounded work, and points whose numbers
overflow. Every case checks the exit status and a message; a signal, an
abort, a sanitizer report or HDF5's own error-stack dump is a failure.

Usage: test_hostile.py BUILD_DIR [SOURCE_DIR]. Runs against any build,
including a sanitizer build (e.g. clang -fsanitize=address,undefined,
float-cast-overflow)."""
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, kpsweep, write  # noqa: E402

# Sanitizer builds: MPI's own allocations are not ours to report.
os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=0")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")

# Every kpsweep start pays for MPI's start-up (~0.4 s): run cases in parallel.
WORKERS = 8
TIMEOUT = 60


class Case:
    """One command line with its expected exit status and message fragments."""

    def __init__(self, what, args, code, needles=(), stream="stderr", absent=()):
        self.what, self.args, self.code = what, list(args), code
        self.needles, self.stream, self.absent = list(needles), stream, list(absent)


def run_case(build, case):
    try:
        return kpsweep(build, case.args, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(case.args, None, e.stdout or "", f"timed out after {TIMEOUT} s")


def crashed(r):
    return (r.returncode is None or r.returncode < 0 or r.returncode in (134, 139)
            or "runtime error:" in r.stderr or "Sanitizer" in r.stderr)


def check_all(tap, build, cases):
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda c: run_case(build, c), cases))
    for case, r in zip(cases, results):
        text = r.stdout if case.stream == "stdout" else r.stderr
        detail = f"$ kpsweep {' '.join(repr(a) if not a or ' ' in a else a for a in case.args)}\n" \
                 f"exit {r.returncode}\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"
        ok = (not crashed(r) and r.returncode == case.code
              and all(n in text for n in case.needles)
              and not any(a in r.stdout + r.stderr for a in case.absent)
              and "HDF5-DIAG" not in r.stderr)
        tap.ok(ok, f"{case.what}: exit {case.code}" + (f", says {case.needles}" if case.needles else ""),
               detail)
    return results


SMALL_JOB = """model: ideal
axes:
  N: {values: [3, 4]}
antagonist:
  tau: {linear: [0.1, 2.9, 5]}
  L: [1000, 6000]
"""


def base_file(tap, build, tmp):
    """A genuine results file: 2 x 2 lines of 5 points."""
    job = write(os.path.join(tmp, "small.yaml"), SMALL_JOB)
    out = os.path.join(tmp, "base.h5")
    r = kpsweep(build, ["run", job, "-o", out, "--quiet"])
    tap.ok(r.returncode == 0, "a genuine results file to spoil", r.stdout + r.stderr)
    return out


def hdf5_quiet_cases(tmp, base):
    """HDF5's error stack is never dumped; our message carries its innermost error."""
    trunc = os.path.join(tmp, "truncated.h5")
    with open(base, "rb") as f:
        data = f.read()
    with open(trunc, "wb") as f:
        f.write(data[: len(data) // 3])
    return [
        Case("inspect of a directory", ["inspect", tmp], 2, [tmp]),
        Case("inspect of a truncated HDF5 file", ["inspect", trunc], 1, ["HDF5: ", "truncated"]),
    ]


JOB = "model: ideal\nantagonist:\n  tau: [1, 2]\n"

# (what, text added to JOB, line:column of the error, key): every count a
# job can set has an upper limit, refused by validate like any config error.
LIMITS = [
    ("draw count", "attacks:\n  histogram:\n    draw:\n"
     "      - {dist: normal, mean: 1, sd: 0.1, count: 1e10}\n", "7:49", "attacks.histogram.draw[0].count"),
    ("draw count above int64", "attacks:\n  histogram:\n    draw:\n"
     "      - {dist: normal, mean: 1, sd: 0.1, count: 1e19}\n", "7:49", "attacks.histogram.draw[0].count"),
    ("draw total", "attacks:\n  histogram:\n    draw:\n"
     "      - {dist: normal, mean: 1, sd: 0.1, count: 6e6}\n"
     "      - {dist: half_normal, mean: 0, sd: 0.3, count: 6e6}\n", "7:7", "attacks.histogram.draw"),
    ("bin ligand count", "attacks:\n  histogram:\n    bins:\n      - {tau: 1, L: 1e8}\n",
     "7:21", "attacks.histogram.bins[0].L"),
    ("bin ligand total", "attacks:\n  histogram:\n    bins:\n" + "      - {tau: 1, L: 6e6}\n" * 2,
     "7:7", "attacks.histogram.bins"),
    ("memory_limit_mb", "run: {memory_limit_mb: 1e300}\n", "4:24", "run.memory_limit_mb"),
    ("solver.max_steps", "solver: {max_steps: 1e8}\n", "4:21", "solver.max_steps"),
    ("pgd_steps", "attacks: {pgd_steps: 1e6}\n", "4:22", "attacks.pgd_steps"),
    ("descent_max_steps", "attacks: {descent_max_steps: 1e7}\n", "4:30", "attacks.descent_max_steps"),
    ("run.chunk", "run: {chunk: 1e10}\n", "4:14", "run.chunk"),
    ("axis length", "axes:\n  N: {linear: [1, 5, 1e8]}\n", "5:22", "axes.N.linear"),
    ("lines of the plan", "axes:\n  N: {linear: [1, 2, 10000]}\n  m: {linear: [0, 0.5, 10000]}\n"
     "  tau_c: {linear: [1, 3, 100]}\n", "5:3", "axes"),
    ("points of the plan", "axes:\n  N: {linear: [1, 2, 1000]}\n  m: {linear: [0, 0.5, 1000]}\n"
     "  tau_c: {linear: [1, 3, 1000]}\n", "5:3", "axes"),
]


def limit_cases(tmp):
    cases = []
    for k, (what, extra, pos, key) in enumerate(LIMITS):
        text = JOB + extra
        if what == "points of the plan":
            text = text.replace("tau: [1, 2]", "tau: {linear: [1, 2, 100]}")
        path = write(os.path.join(tmp, f"limit{k}.yaml"), text)
        cases.append(Case(f"validate refuses an unbounded {what}", ["validate", path], 2,
                          [f"{path}:{pos}: {key}: ", "limit" if "plan" in what or "total" in what
                           else "<= "]))
    # At the limits, and the published paper's sizes, jobs stay valid.
    ok = write(os.path.join(tmp, "at-limits.yaml"), JOB + "solver: {max_steps: 1e7}\n"
               "run: {memory_limit_mb: 1e9, chunk: 1e9}\n"
               "attacks:\n  pgd_steps: 100000\n  descent_max_steps: 1000000\n  histogram:\n    draw:\n"
               "      - {dist: normal, mean: 1, sd: 0.1, count: 4e6}\n"
               "      - {dist: half_normal, mean: 0, sd: 0.3, count: 6e6}\n")
    cases.append(Case("validate accepts every count at its limit", ["validate", ok], 0, ["valid"],
                      stream="stdout"))
    # run refuses before creating anything (a float-cast overflow in the sweep before).
    out = os.path.join(tmp, "never.h5")
    path = write(os.path.join(tmp, "memory.yaml"), JOB + "run: {memory_limit_mb: 1e300}\n")
    cases.append(Case("run refuses memory_limit_mb = 1e300", ["run", path, "-o", out], 2,
                      [f"{path}:4:24: run.memory_limit_mb"]))
    return cases


def main():
    build = sys.argv[1]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="kps-hostile-")
    base = base_file(tap, build, tmp)
    cases = hdf5_quiet_cases(tmp, base) + limit_cases(tmp)
    check_all(tap, build, cases)
    shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
