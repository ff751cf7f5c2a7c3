"""The command line as a user meets it: --help on every verb, --version,
documented exit codes, config errors that name file:line:column and key,
`validate` plans and limits, and `solve --json` keys."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, kpsweep, write  # noqa: E402

GOOD = """model: adaptive_sorting
params: {N: 5, m: 2}
antagonist:
  tau: {linear: [0.1, 2.9, 20]}
"""

# (description, yaml text, line, key fragment)
BAD = [
    ("unknown key", "model: ideal\nantagonist:\n  tau: [1, 2]\nsolver:\n  rtoll: 1e-6\n", 5, "solver.rtoll"),
    ("wrong type", "model: ideal\nantagonist:\n  tau: [1, 2]\nagonist: {tau: fast}\n", 4, "agonist.tau"),
    ("out of range", "model: ideal\nantagonist:\n  tau: [1, 2]\nsolver: {rtol: -1}\n", 4, "solver.rtol"),
    ("empty axis", "model: ideal\nantagonist:\n  tau: {values: []}\n", 3, "antagonist.tau"),
    ("m >= N", "model: adaptive_sorting\nparams:\n  N: 3\n  m: 3\nantagonist:\n  tau: [1, 2]\n", 4, "params.m"),
    ("non-positive binding time", "model: ideal\nantagonist:\n  tau: [1, -2]\n", 3, "antagonist.tau"),
    ("unknown model", "model: nope\nantagonist:\n  tau: [1]\n", 1, "model"),
    ("syntax error", "model: ideal\nantagonist: [\n", 3, "yaml"),
]


def main():
    build = sys.argv[1]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="kps-cli-")
    for verb in ("run", "validate", "solve", "inspect", "export", "defence"):
        r = kpsweep(build, [verb, "--help"])
        tap.ok(r.returncode == 0 and "usage: kpsweep " + verb in r.stdout,
               f"kpsweep {verb} --help teaches its usage", r.stdout + r.stderr)
    r = kpsweep(build, ["--help"])
    tap.ok(r.returncode == 0 and "exit status" in r.stdout and "validate" in r.stdout,
           "kpsweep --help lists verbs and exit codes", r.stdout)
    r = kpsweep(build, ["--version"])
    tap.ok(r.returncode == 0 and r.stdout.startswith("kpsweep "), "kpsweep --version", r.stdout)
    r = kpsweep(build, [])
    tap.ok(r.returncode == 2, "no verb: exit 2", r.stderr)
    r = kpsweep(build, ["frobnicate"])
    tap.ok(r.returncode == 2 and "unknown verb" in r.stderr, "unknown verb: exit 2", r.stderr)
    r = kpsweep(build, ["run", "/nonexistent/job.yaml"])
    tap.ok(r.returncode == 2 and "/nonexistent/job.yaml" in r.stderr,
           "missing config file: exit 2 naming the file", r.stderr)
    r = kpsweep(build, ["run", "a.yaml", "--bogus"])
    tap.ok(r.returncode == 2 and "--bogus" in r.stderr, "unknown option: exit 2", r.stderr)

    for desc, text, line, key in BAD:
        path = write(os.path.join(tmp, "bad.yaml"), text)
        for verb in ("validate", "run"):
            r = kpsweep(build, [verb, path])
            prefix = f"{path}:{line}:"
            tap.ok(r.returncode == 2 and prefix in r.stderr and key in r.stderr,
                   f"{verb}: {desc} -> exit 2 with '{prefix}' and key '{key}'", r.stderr)
        out = os.path.join(tmp, "bad.h5")
        tap.ok(not os.path.exists(out), f"{desc}: no results file was created")

    good = write(os.path.join(tmp, "good.yaml"), GOOD)
    r = kpsweep(build, ["validate", good])
    tap.ok(r.returncode == 0 and "points      20" in r.stdout and "tasks       1 line of 20 points (1 parameter point x 1 dose)" in r.stdout
           and "memory" in r.stdout, "validate prints points, tasks and a memory estimate", r.stdout)
    big = write(os.path.join(tmp, "big.yaml"),
                GOOD + "axes:\n  phi: {log: [0.001, 1, 1000000]}\nrun: {memory_limit_mb: 0.5}\n")
    r = kpsweep(build, ["validate", big])
    tap.ok(r.returncode == 2 and "memory_limit_mb" in r.stderr,
           "a plan over run.memory_limit_mb is refused before starting", r.stdout + r.stderr)
    r = kpsweep(build, ["run", big, "-o", os.path.join(tmp, "big.h5")])
    tap.ok(r.returncode == 2 and not os.path.exists(os.path.join(tmp, "big.h5")),
           "run refuses the same plan without creating a file", r.stderr)

    r = kpsweep(build, ["solve", "--model", "shp1", "--ligand", "10:1000", "--ligand", "1:10000", "--json"])
    ok = r.returncode == 0
    doc = json.loads(r.stdout) if ok else {}
    keys = ["model", "params", "ligands", "state", "output", "threshold", "decision", "grad_tau",
            "grad_L", "grad_params", "status", "solver"]
    tap.ok(ok and all(k in doc for k in keys), "solve --json has every documented key", r.stdout + r.stderr)
    if ok:
        tap.ok(doc["status"] == "ok" and len(doc["grad_tau"]) == 2 and len(doc["ligands"]) == 2,
               "solve --json: status ok, one gradient per ligand", r.stdout)
        tap.ok(all(k in doc["solver"] for k in ("steps", "rhs_evals", "jac_evals", "time_us")),
               "solve --json: solver statistics", r.stdout)
        tap.ok(abs(sum(doc["state"][5::6][:2]) - doc["output"]) <= 1e-12 * doc["output"],
               "solve --json: output equals the sum of C_N in the state", r.stdout)
    r = kpsweep(build, ["solve", "--model", "ideal", "--set", "N=4", "--set", "m=1", "--ligand", "2:100",
                        "--tau-c", "2.5", "--json"])
    doc = json.loads(r.stdout) if r.returncode == 0 else {}
    tap.ok(doc and abs(doc["output"] / doc["threshold"]["value"] - (2 / 2.5) ** 3) < 1e-14,
           "solve ideal: O/O_th = (tau/tau_c)^(N-m) for one ligand", r.stdout + r.stderr)
    r = kpsweep(build, ["solve", "--model", "kpr", "--set", "nope=1"])
    tap.ok(r.returncode == 2 and "nope" in r.stderr, "solve: unknown parameter is a usage error", r.stderr)
    r = kpsweep(build, ["solve", "--model", "adaptive_sorting", "--set", "m=5"])
    tap.ok(r.returncode == 2 and "m" in r.stderr, "solve: m >= N is a usage error", r.stderr)
    # A failed solve is data: the sweep goes on and stores the status.
    failing = write(os.path.join(tmp, "fail.yaml"),
                    GOOD + "solver: {t_max: 0.01, max_steps: 3}\n")
    out = os.path.join(tmp, "fail.h5")
    r = kpsweep(build, ["run", failing, "-o", out])
    tap.ok(r.returncode == 0 and "20 failed points" in r.stdout,
           "failing points do not stop the sweep (exit 0, 20 failed points)", r.stdout + r.stderr)
    ins = kpsweep(build, ["inspect", out])
    tap.ok("failed 20" in ins.stdout and "(complete)" in ins.stdout
           and ("too_much_work    20 points" in ins.stdout or "no_steady_state  20 points" in ins.stdout),
           "inspect reports the failures by status", ins.stdout)
    r = kpsweep(build, ["solve", "--config", failing, "--json"])
    doc = json.loads(r.stdout) if r.stdout.strip().startswith("{") else {}
    tap.ok(r.returncode == 1 and doc.get("status") in ("too_much_work", "no_steady_state")
           and doc["solver"]["steps"] > 0,
           "solve of a failing point: exit 1, status and solver statistics in the JSON", r.stdout + r.stderr)
    r = kpsweep(build, ["inspect", good])
    tap.ok(r.returncode == 2, "inspect of a non-HDF5 file: exit 2", r.stderr)
    solve_at_point(tap, build, tmp)
    calibrate(tap, build, tmp)
    one_file_per_verb(tap, sys.argv[2])
    tap.done()


def calibrate(tap, build, tmp):
    """validate --calibrate times points spread over the plan, writes nothing,
    and extrapolates: core time = mean x points, wall = mean x ceil(points /
    workers), --time = that (high) x 1.25 + 300 s rounded up to minutes."""
    import math
    import re
    out = os.path.join(tmp, "calib.h5")
    job = write(os.path.join(tmp, "calib.yaml"),
                "model: adaptive_sorting\nparams: {N: 5, m: 2}\naxes:\n  phi: {log: [0.01, 0.1, 5]}\n"
                "antagonist:\n  tau: {linear: [0.1, 2.9, 20]}\n  L: [1000, 6000]\n"
                f"run: {{output: {out}}}\n")
    r = kpsweep(build, ["validate", job, "--calibrate=60", "--ranks", "3"])
    m = re.search(r"calibration (\d+) of (\d+) parameter points in (\S+) s: (\S+) s per point", r.stdout)
    tap.ok(r.returncode == 0 and m and m.group(1) == m.group(2) == "5",
           "validate --calibrate: all 5 parameter points of a small plan timed", r.stdout + r.stderr)
    tap.ok(not os.path.exists(out), "validate --calibrate writes no results file")
    if m:
        mean = float(m.group(4))
        core = re.search(r"estimate +(\S+) core-hours", r.stdout)
        tap.ok(core and math.isclose(float(core.group(1)) * 3600, 5 * mean, rel_tol=1.5e-2),
               "core time = mean per point x points", r.stdout)
        row = re.search(r"3 ranks \(2 workers\): wall (\S+) s \(up to (\S+) s\)  ->  "
                        r"sbatch --ntasks=3 --time=(\S+)", r.stdout)
        tap.ok(row and math.isclose(float(row.group(1)), 3 * mean, rel_tol=1.5e-2)
               and row.group(1) == row.group(2),
               "3 ranks: wall = mean x ceil(5 / 2); every point timed, so high = estimate", r.stdout)
        want = math.ceil((float(row.group(2)) * 1.25 + 300) / 60) if row else None
        tap.ok(row and row.group(3) == f"{want // 60:02d}:{want % 60:02d}:00",
               "suggested --time = high x 1.25 + 300 s, rounded up to minutes", r.stdout)
    many = write(os.path.join(tmp, "calib-many.yaml"),
                 "model: ideal\naxes:\n  m: {linear: [0, 4, 1000]}\nantagonist: {tau: [1, 2]}\n")
    r = kpsweep(build, ["validate", many, "--calibrate=0"])
    tap.ok(r.returncode == 0 and "calibration 1 of 1000 parameter points" in r.stdout
           and r.stdout.count(" ranks (") == 5,
           "a zero budget times one point; without --ranks a table of rank counts", r.stdout + r.stderr)
    os.environ["SLURM_NTASKS"] = "17"
    try:
        r = kpsweep(build, ["validate", many, "--calibrate=0"])
    finally:
        del os.environ["SLURM_NTASKS"]
    tap.ok(r.returncode == 0 and r.stdout.count(" ranks (") == 1 and "17 ranks (16 workers)" in r.stdout,
           "inside a SLURM allocation the estimate is for $SLURM_NTASKS ranks", r.stdout + r.stderr)
    for args, what in ((["--calibrate=-1"], "a negative budget"), (["--calibrate=x"], "a non-number"),
                       (["--calibrate", "--ranks", "0"], "zero ranks"), (["--ranks"], "--ranks without N"),
                       (["--ranks", "2.5"], "a fractional rank count")):
        r = kpsweep(build, ["validate", many] + args)
        tap.ok(r.returncode == 2 and "validate" in r.stderr and "calibration" not in r.stdout,
               f"validate {' '.join(args)}: {what} is a usage error (exit 2)", r.stderr)


def one_file_per_verb(tap, src):
    """Every verb has its own src/cmd_VERB.c defining kps_cmd_VERB; the
    dispatcher src/cli.c defines none."""
    import re
    cli = open(os.path.join(src, "src", "cli.c")).read()
    verbs = re.findall(r'if \(!strcmp\(verb, "(\w+)"\)\) return kps_cmd_(\w+)\(', cli)
    tap.ok(sorted(v for v, _ in verbs) == ["defence", "export", "inspect", "run", "solve", "validate"]
           and all(v == f for v, f in verbs), "the dispatcher calls one kps_cmd_VERB per verb", verbs)
    for verb, _ in verbs:
        path = os.path.join(src, "src", f"cmd_{verb}.c")
        text = open(path).read() if os.path.exists(path) else ""
        tap.ok(re.search(rf"^int kps_cmd_{verb}\(", text, re.M) is not None,
               f"src/cmd_{verb}.c defines kps_cmd_{verb}")
    tap.ok(re.search(r"^(static )?int (kps_)?cmd_\w+\(", cli, re.M) is None,
           "src/cli.c defines no verb")


AT_JOB = """name: at
model: adaptive_sorting
axes:
  phi: {values: [0.05, 0.09]}
  delta: {values: [1, 2, 3]}
antagonist:
  tau: {linear: [0.5, 2.5, 5]}
  L: {values: [1000, 6000]}
solver: {warm_start: false}
"""


def solve_at_point(tap, build, tmp):
    """solve --config JOB --at NAME=VALUE solves the sweep point the run stored there."""
    import h5py
    job = write(os.path.join(tmp, "at.yaml"), AT_JOB)
    out = os.path.join(tmp, "at.h5")
    r = kpsweep(build, ["run", job, "-o", out, "--quiet"])
    tap.ok(r.returncode == 0, "a small sweep for solve --at", r.stderr)
    r = kpsweep(build, ["solve", "--config", job, "--at", "delta=3", "--at", "phi=0.09",
                        "--at", "L2=6000", "--at", "tau2=2", "--json"])
    got = json.loads(r.stdout) if r.returncode == 0 else {}
    with h5py.File(out, "r") as f:
        want = float(f["points/O"][1, 2, 1, 3])
    tap.ok(got.get("point_index") == {"phi": 1, "delta": 2, "L2": 1, "tau2": 3}
           and got.get("point", {}).get("tau2") == 2.0,
           "solve --at reports the point it solved (values and indices)", r.stdout[:400] + r.stderr)
    tap.ok(abs(got.get("output", 0) - want) <= 1e-12 * abs(want),
           f"and its O equals the run's value at that point ({got.get('output')} vs {want})")
    r = kpsweep(build, ["solve", "--config", job])
    tap.ok(r.returncode == 0 and "phi=0.05 [1 of 2]" in r.stdout and "pick with --at" in r.stdout,
           "without --at it says which point (the first of each axis) it solved", r.stdout)
    for args, what in ((["--at", "phi=0.07"], "a value off the axis"),
                       (["--at", "kappa=1"], "an axis the job does not sweep"),
                       (["--at", "phi=0.05", "--at", "phi=0.09"], "an axis twice"),
                       (["--at", "tau2=1", "--ligand", "1:100"], "tau2 with --ligand")):
        r = kpsweep(build, ["solve", "--config", job] + args)
        tap.ok(r.returncode == 2 and "--at" in r.stderr, f"--at with {what}: exit 2", r.stderr)
    r = kpsweep(build, ["solve", "--at", "phi=0.05"])
    tap.ok(r.returncode == 2 and "needs --config" in r.stderr, "--at without --config: exit 2", r.stderr)


if __name__ == "__main__":
    main()
