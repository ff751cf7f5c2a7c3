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

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, env, kpsweep, write  # noqa: E402

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
    """Runs kpsweep; output that is not UTF-8 (pointer bytes) is decoded with replacements."""
    cmd = [os.path.join(build, "src", "kpsweep")] + case.args
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, env=env())
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, None, "", f"timed out after {TIMEOUT} s")
    return subprocess.CompletedProcess(cmd, r.returncode, r.stdout.decode("utf-8", "replace"),
                                       r.stderr.decode("utf-8", "replace"))


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


def spoil(tmp, base, name, edit):
    """A copy of the genuine file, changed by edit(h5py.File)."""
    path = os.path.join(tmp, name + ".h5")
    shutil.copy(base, path)
    with h5py.File(path, "a") as f:
        edit(f)
    return path


def replace_attr(name, value):
    def edit(f):
        del f.attrs[name]
        f.attrs[name] = value
    return edit


def replace_dataset(name, **kw):
    def edit(f):
        del f[name]
        f.create_dataset(name, **kw)
    return edit


def exotic_datasets(f):
    """Every kind of HDF5 datatype and link that a results file never has."""
    g = f["points"]
    g.create_dataset("zz_rank32", shape=(1,) * 32)
    g.create_dataset("zz_compound", data=np.zeros(3, dtype=[("a", "i4"), ("b", "f8", (2,))]))
    g.create_dataset("zz_vlen", shape=(2,), dtype=h5py.vlen_dtype("i4"))
    g.create_dataset("zz_enum", data=np.zeros(2, "i1"), dtype=h5py.enum_dtype({"no": 0, "yes": 1}, "i1"))
    g.create_dataset("zz_opaque", data=np.void(b"\x00\x01\x02"))
    g.create_dataset("zz_fixed_string", data=np.array([b"abc", b"de"], dtype="S7"))
    g.create_dataset("zz_vlen_string", data=["one", "two"], dtype=h5py.string_dtype())
    g.create_dataset("zz_reference", data=[f["points/O"].ref], dtype=h5py.ref_dtype)
    g.create_dataset("zz_region_ref", data=[f["points/O"].regionref[0:1, 0, 0:2]],
                     dtype=h5py.regionref_dtype)
    g.create_dataset("zz_scalar", data=1.5)
    g.create_dataset("zz_null", data=h5py.Empty("f8"))
    g.create_dataset("zz_empty", shape=(0, 3))
    g.create_dataset("zz_huge", shape=(2**40, 2**20), dtype="i1", chunks=(1, 1))
    g.create_group("zz_group")
    g["zz_named_type"] = np.dtype("f8")
    g["zz_soft_dangling"] = h5py.SoftLink("/nowhere/at/all")
    g["zz_soft_loop"] = h5py.SoftLink("/points/zz_soft_loop")
    g["zz_external"] = h5py.ExternalLink("/dev/zero", "/x")
    g.create_dataset("zz_\x1b[31mred\x1b[0m", data=1)


def string_attrs(f):
    """Variable-length, fixed-length, UTF-8 and very long string attributes."""
    for name, value in (("model", "ideal-vlen"), ("job_name", "ünïcode-vlen"), ("config", "model: vlen\n")):
        del f.attrs[name]
        f.attrs[name] = value                    # h5py: variable-length UTF-8
    del f.attrs["config_source"]
    f.attrs.create("config_source", np.array(b"fixed.yaml", dtype="S40"))  # NUL-padded
    del f.attrs["created"]
    f.attrs.create("created", "x" * 100000, dtype=h5py.string_dtype("ascii", 100000))
    f.attrs["start_time"] = np.array(["vlen-in-1d"], dtype=h5py.string_dtype())


def partial_with_hostile_rates(f):
    """Partial progress, statuses outside the table, absurd run times."""
    done = f["progress/line_done"]
    done[0] = 0
    done[1] = 255
    st = f["points/status"]
    st[1, 0, 0] = 100
    st[1, 0, 1] = -100
    f.attrs["start_epoch"] = -1e300
    f.attrs["end_epoch"] = 1e300
    f.attrs["lines_computed"] = 1.0
    f.attrs["n_ranks"] = np.nan
    f.attrs["hdf5_seconds"] = np.inf


def resized_plan(f, n_lines, n_tau):
    """A consistent file claiming a plan of n_lines x n_tau points (nothing stored)."""
    del f["points/status"]
    del f["progress/line_done"]
    f.create_dataset("points/status", shape=(n_lines, n_tau), dtype="i1", chunks=(1, min(n_tau, 1024)),
                     fillvalue=-1)
    f.create_dataset("progress/line_done", shape=(n_lines,), dtype="u1", chunks=(min(n_lines, 4096),))
    f.attrs["n_points"] = float(n_lines * n_tau)


def multi_slab_plan(f):
    """A plan of 2 axes, 7 doses and 400 tau2 points (105000 lines): inspect
    reads it in several slabs; four done lines straddle slab boundaries."""
    shape = (3, 5000, 7, 400)
    del f["points/status"]
    del f["progress/line_done"]
    st = f.create_dataset("points/status", shape=shape, dtype="i1", chunks=(1, 100, 7, 400), fillvalue=-1)
    done = f.create_dataset("progress/line_done", shape=(3 * 5000 * 7,), dtype="u1", chunks=(4096,))
    f.attrs["n_points"] = float(np.prod(shape))
    # Slabs hold 4 Mi points = 10485 lines, i.e. 1497 indices of the second axis.
    rows = {0: [0] * 400, 1497 * 7 - 1: [2] * 400, 1497 * 7: [0] * 399 + [9], 3 * 5000 * 7 - 1: [1] * 400}
    for line, values in rows.items():
        st[np.unravel_index(line, shape[:3])] = values
        done[line] = 1


def inspect_file_cases(tmp, base):
    """inspect of results files made hostile with h5py; text files; no files."""
    P = lambda name, edit: spoil(tmp, base, name, edit)  # noqa: E731
    cases = []
    path = P("exotic", exotic_datasets)
    cases.append(Case("inspect lists datasets of any rank and datatype, links unfollowed",
                      ["inspect", path], 0,
                      ["/points/zz_rank32", "(" + ", ".join(["1"] * 32) + ")", "/points/zz_compound",
                       "/points/zz_region_ref", f"{'/points/zz_scalar':<28} scalar", "null",
                       "/points/zz_huge", "(1099511627776, 1048576)", "(group)", "(named datatype)",
                       "zz_soft_dangling", "(soft link, not followed)", "(external link, not followed)",
                       "zz_?[31mred?[0m", "(complete)"], stream="stdout", absent=["\x1b"]))
    path = P("strings", string_attrs)
    cases.append(Case("inspect reads variable- and fixed-length string attributes",
                      ["inspect", path, "--config"], 0,
                      ["model       ideal-vlen", "job         ünïcode-vlen (config fixed.yaml)",
                       "created     xxxxxxxx", "last run    vlen-in-1d", "config\nmodel: vlen\n"],
                      stream="stdout"))
    path = P("partial", partial_with_hostile_rates)
    cases.append(Case("inspect of a partial file with hostile run attributes and status codes",
                      ["inspect", path], 0,
                      ["15/20 points", "3/4 lines (partial", "ETA over 100 years",
                       "unknown          2 points"], stream="stdout"))
    path = P("multi-slab", multi_slab_plan)
    cases.append(Case("inspect counts a plan read in slabs across dimensions",
                      ["inspect", path], 0,
                      ["1600/42000000 points (0.0%)", "failed 401; 4/105000 lines (partial",
                       "ok               799 points", "fallback         400 points",
                       "too_much_work    400 points", "grad_inaccurate  1 points"], stream="stdout"))
    path = P("big-plan", lambda f: resized_plan(f, 10**7, 1001))
    cases.append(Case("inspect refuses a plan beyond the job limits (nothing allocated)",
                      ["inspect", path], 2, [path, "n_points = 1.001e+10", "not the size of a plan"]))
    # (name, edit, args after the file, message fragments): exit 2, file named.
    bad = [
        ("config_hash a string", replace_attr("config_hash", "0xdeadbeef"), [],
         ["attribute 'config_hash' is a string, expected an integer"]),
        ("n_points an array", replace_attr("n_points", np.array([20.0, 20.0])), [],
         ["attribute 'n_points' has shape (2), expected a single value"]),
        ("n_points missing", lambda f: f.attrs.__delitem__("n_points"), [], ["no attribute 'n_points'"]),
        ("n_points not an integer", replace_attr("n_points", 20.5), [], ["n_points = 20.5"]),
        ("n_points NaN", replace_attr("n_points", np.nan), [], ["n_points = nan"]),
        ("config an int", replace_attr("config", 7), ["--config"],
         ["attribute 'config' is an integer, expected a string"]),
        ("model a float array", replace_attr("model", np.arange(3.0)), [],
         ["attribute 'model' is a floating-point number, expected a string"]),
        ("kpsweep_version an int", replace_attr("kpsweep_version", 1), [],
         ["attribute 'kpsweep_version' is an integer"]),
        ("no kpsweep_version", lambda f: f.attrs.__delitem__("kpsweep_version"), [],
         ["not a kpsweep results file"]),
        ("start_epoch a string", replace_attr("start_epoch", "yesterday"), [],
         ["attribute 'start_epoch' is a string, expected a number"]),
        ("created a compound", replace_attr("created", np.zeros(1, dtype=[("a", "i4")])[0]), [],
         ["attribute 'created' is a compound, expected a string"]),
        ("n_ranks null", replace_attr("n_ranks", h5py.Empty("f8")), [],
         ["attribute 'n_ranks' has shape null"]),
        ("/lines missing", lambda f: f.__delitem__("lines"), [], ["no group /lines"]),
        ("/points a dataset", lambda f: (f.__delitem__("points"), f.create_dataset("points", data=1)), [],
         ["/points is a dataset, expected a group"]),
        ("/progress a soft link", lambda f: (f.move("progress", "prog2"), f.__setitem__("progress", h5py.SoftLink("/prog2"))),
         [], ["/progress is a soft link"]),
        ("/axes an external link", lambda f: (f.__delitem__("axes"), f.__setitem__("axes", h5py.ExternalLink("/dev/zero", "/"))),
         [], ["/axes is a external link"]),
        ("line_done missing", lambda f: f.__delitem__("progress/line_done"), [], ["no dataset /progress/line_done"]),
        ("line_done too short", replace_dataset("progress/line_done", data=np.ones(3, "u1")), [],
         ["/progress/line_done has 3 entries, expected one per line of the plan: 4"]),
        ("line_done too long", replace_dataset("progress/line_done", shape=(2**40,), dtype="u1", chunks=(1024,)), [],
         ["/progress/line_done has 1099511627776 entries"]),
        ("line_done 2-D", replace_dataset("progress/line_done", data=np.ones((2, 2), "u1")), [],
         ["/progress/line_done has shape (2, 2), expected one dimension"]),
        ("line_done floats", replace_dataset("progress/line_done", data=np.ones(4)), [],
         ["/progress/line_done is a floating-point number dataset, expected integers"]),
        ("line_done compound", replace_dataset("progress/line_done", data=np.zeros(4, dtype=[("a", "u1")])), [],
         ["/progress/line_done is a compound dataset"]),
        ("line_done scalar", replace_dataset("progress/line_done", data=1), [],
         ["/progress/line_done has shape scalar"]),
        ("status 1-D", replace_dataset("points/status", data=np.zeros(20, "i1")), [],
         ["/points/status has shape (20), expected (axes..., L2, tau2)"]),
        ("status of another size", replace_dataset("points/status", data=np.zeros((2, 2, 6), "i1")), [],
         ["/points/status holds 24 points, but n_points says 20"]),
        ("status rank 32", replace_dataset("points/status", shape=(1,) * 31 + (20,), dtype="i1"), [],
         ["/points/status has shape (1, 1, ", "at most 8 axes"]),
        ("status strings", replace_dataset("points/status", data=np.array([[[b"ok"] * 5] * 2] * 2)), [],
         ["/points/status is a string dataset"]),
        ("status enum", replace_dataset("points/status", data=np.zeros((2, 2, 5), "i1"),
                                        dtype=h5py.enum_dtype({"ok": 0}, "i1")), [],
         ["/points/status is an enum dataset"]),
        ("status vlen", replace_dataset("points/status", shape=(2, 2, 5), dtype=h5py.vlen_dtype("i1")), [],
         ["/points/status is a variable-length sequence dataset"]),
    ]
    for k, (what, edit, extra, needles) in enumerate(bad):
        path = P(f"bad{k}", edit)
        cases.append(Case(f"inspect refuses a file with {what}", ["inspect", path] + extra, 2,
                          [f"kpsweep inspect: {path}: "] + needles))
    empty = write(os.path.join(tmp, "empty.h5"), "")
    text = write(os.path.join(tmp, "text.h5"), "model: ideal\n")
    cases += [
        Case("inspect of an empty file", ["inspect", empty], 2, [empty, "empty (0 bytes)"]),
        Case("inspect of a text file", ["inspect", text], 2, [text, "is not an HDF5 file"]),
        Case("inspect of a missing file", ["inspect", os.path.join(tmp, "nope.h5")], 2,
             ["nope.h5: cannot be read: No such file or directory"]),
        Case("inspect of /dev/null", ["inspect", "/dev/null"], 2, ["/dev/null: is not a regular file"]),
    ]
    return cases


def inspect_cli_cases(base):
    return [
        Case("inspect --bogus", ["inspect", base, "--bogus"], 2, ["unknown option '--bogus'"]),
        Case("inspect -x before the file", ["inspect", "-x", base], 2, ["unknown option '-x'"]),
        Case("inspect with two files", ["inspect", base, base], 2, ["more than one FILE given"]),
        Case("inspect of an empty argument", ["inspect", ""], 2, ["empty FILE argument"]),
        Case("inspect without a file", ["inspect"], 2, ["missing FILE"]),
        Case("inspect of the genuine file", ["inspect", base], 0, ["(complete)", "config hash "],
             stream="stdout"),
    ]


def solve_cli_cases(tmp):
    """solve's command line: every option checked for form, numbers as in job files."""
    S = lambda *a: ["solve", "--model", "ideal"] + list(a)  # noqa: E731
    cases = [
        Case("solve --model twice", ["solve", "--model", "shp1", "--model", "kpr"], 2,
             ["--model given more than once"]),
        Case("solve --config twice", ["solve", "--config", "a.yaml", "--config", "b.yaml"], 2,
             ["--config given more than once"]),
        Case("solve --rtol twice", S("--rtol", "1e-6", "--rtol", "1e-8"), 2, ["--rtol given more than once"]),
        Case("solve --set of one parameter twice", S("--set", "N=4", "--set", "N=5"), 2,
             ["parameter N given more than once"]),
        Case("solve --L-ref with --threshold-value", S("--L-ref", "5", "--threshold-value", "3"), 2,
             ["exclude each other"]),
        Case("solve --bogus", ["solve", "--bogus"], 2, ["unknown option '--bogus'"]),
        Case("solve --bogus VALUE", ["solve", "--bogus", "3", "--json"], 2, ["unknown option '--bogus'"]),
        Case("solve -o FILE", ["solve", "-o", "x.h5"], 2, ["unknown option '-o'"]),
        Case("solve -o ''", ["solve", "-o", ""], 2, ["unknown option '-o'"]),
        Case("solve with a positional argument", ["solve", "job.yaml"], 2, ["unexpected argument 'job.yaml'"]),
        Case("solve --model without a value", ["solve", "--model"], 2, ["--model needs a value"]),
        Case("solve --config of a directory", ["solve", "--config", tmp], 2, [tmp, "Is a directory"],
             absent=["out of memory"]),
        Case("solve --config of a missing file", ["solve", "--config", os.path.join(tmp, "nope.yaml")], 2,
             ["nope.yaml: cannot read the config file: No such file or directory"]),
        Case("solve --config of an invalid job", ["solve", "--config", write(os.path.join(tmp, "bad.yaml"),
             JOB + "solver: {rtol: 2}\n")], 2, ["bad.yaml:4:16: solver.rtol: must be > 0 and < 1"]),
        Case("solve --attack descent with 1e12 ligands", S("--ligand", "1:1e12", "--attack", "descent"), 2,
             ["1000000000000 individual ligands", "limit"]),
        Case("solve with 513 --ligand", S(*sum([["--ligand", "1:1"] for _ in range(513)], [])), 2,
             ["more than 512 --ligand options"]),
        Case("solve --set without NAME", S("--set", "=3"), 2, ["--set wants NAME=VALUE"]),
        Case("solve --set of an unknown parameter", S("--set", "nope=1"), 2, ["no such parameter in model ideal"]),
    ]
    for opt in ("--config", "--model", "--set", "--ligand", "--tau-c", "--L-ref", "--threshold-value", "--rtol",
                "--attack", "--descent-method", "--direction", "--movable"):
        cases.append(Case(f"solve {opt} ''", ["solve", opt, ""], 2, [f"{opt}: empty value"]))
    # Numbers the job-file parser refuses; the message quotes the job-file reason.
    for opt, key, value, why in (
            ("--rtol", "solver.rtol", "2", "must be > 0 and < 1, got 2"),
            ("--rtol", "solver.rtol", "0", "must be > 0 and < 1, got 0"),
            ("--rtol", "solver.rtol", "0x10", 'expected a number, got "0x10"'),
            ("--rtol", "solver.rtol", "inf", 'expected a number, got "inf"'),
            ("--rtol", "solver.rtol", "nan", 'expected a number, got "nan"'),
            ("--rtol", "solver.rtol", "1e-6x", 'expected a number, got "1e-6x"'),
            ("--rtol", "solver.rtol", " 1e-6", 'expected a number, got " 1e-6"'),
            ("--rtol", "solver.rtol", "1e999", "number 1e999 is out of range"),
            ("--tau-c", "threshold.tau_c", "-1", "must be > 0, got -1"),
            ("--tau-c", "threshold.tau_c", "0X1p3", 'expected a number'),
            ("--L-ref", "threshold.L_ref", "0", "must be > 0, got 0"),
            ("--L-ref", "threshold.L_ref", "infinity", 'expected a number'),
            ("--threshold-value", "threshold.value", "-5", "must be > 0, got -5"),
            ("--threshold-value", "threshold.value", "1,5", 'expected a number, got "1,5"')):
        cases.append(Case(f"solve {opt} {value!r}", S(opt, value), 2, [f"{opt} {value}: {why}", key]))
    for value, why in (("0x10:5", 'TAU: expected a number, got "0x10"'), ("1:inf", 'L: expected a number'),
                       ("1:5x", 'L: expected a number, got "5x"'), (":5", "TAU: expected a number, got no value"),
                       ("1:", "L: expected a number, got no value"), ("-1:5", "TAU: must be > 0"),
                       ("1:-5", "L: must be >= 0"), ("1", "--ligand wants TAU:L"), ("1:2:3", "L: expected")):
        cases.append(Case(f"solve --ligand {value!r}", S("--ligand", value), 2, [why]))
    for value, why in (("N=0x5", 'expected a number, got "0x5"'), ("N=inf", "expected a number"),
                       ("N=5.5", "must be an integer, got 5.5"), ("N=100", "must be >= 1 and <= 64, got 100"),
                       ("kappa=nan", "expected a number")):
        cases.append(Case(f"solve --set {value!r}", ["solve", "--model", "kpr", "--set", value], 2,
                          [f"--set {value}: {why}"]))
    # What job files accept, solve accepts.
    cases.append(Case("solve accepts job-file numbers", S("--rtol", "1.0e-8", "--tau-c", ".5e1", "--L-ref", "+100",
                                                          "--ligand", "4:4000", "--ligand", "1E0:6e3",
                                                          "--set", "N=4", "--set", "m=1.5", "--json"),
                      0, ['"model": "ideal"', '"tau_c": 5'], stream="stdout"))
    return cases


NON_FINITE_JOB = """model: kpr
antagonist:
  tau: [1.0e-300, 1, 2]
attacks:
  enabled: true
  histogram:
    bins: [{tau: 1.0e-300, L: 100}, {tau: 4, L: 4000}]
"""


def non_finite_run(tap, build, tmp):
    """run: a point whose gradient overflows (tau2 = 1e-300) is a failure, not ok with NaN."""
    job = write(os.path.join(tmp, "non-finite.yaml"), NON_FINITE_JOB)
    out = os.path.join(tmp, "non-finite.h5")
    r = run_case(build, Case("", ["run", job, "-o", out, "--quiet"], 0))
    tap.ok(r.returncode == 0 and not crashed(r) and "1 failed points" in r.stdout,
           "run: the tau2 = 1e-300 point counts as failed", r.stdout + r.stderr)
    st = grad = None
    if os.path.exists(out):
        with h5py.File(out, "r") as f:
            st, grad = f["points/status"][...].ravel(), f["points/dO_dtau2"][...].ravel()
            meanings = str(f["points/status"].attrs["flag_meanings"]).split()
            codes = str(f.attrs["status_codes"])
        tap.ok(list(st) == [10, 0, 0] and np.isnan(grad[0]) and np.all(np.isfinite(grad[1:])),
               "run: status non_finite (10) where the gradient is NaN, ok elsewhere", f"{st} {grad}")
        tap.ok("non_finite" in meanings and "10 non_finite: " in codes,
               "the file's status table and flag_meanings list non_finite", f"{meanings}\n{codes}")
    return [Case("inspect counts the non_finite point", ["inspect", out], 0,
                 ["failed 1", "non_finite       1 points"], stream="stdout")]


def non_finite_solve_cases():
    cases = []
    for model in ("kpr", "adaptive_sorting", "shp1"):
        cases.append(Case(f"solve {model} at tau2 = 1e-300: status non_finite, exit 1",
                          ["solve", "--model", model, "--ligand", "4:4000", "--ligand", "1e-300:6000", "--json"],
                          1, ['"status": "non_finite"', '"status_code": 10'], stream="stdout"))
    cases.append(Case("solve ideal at tau2 = 1e-300 stays finite and ok",
                      ["solve", "--model", "ideal", "--ligand", "4:4000", "--ligand", "1e-300:6000", "--json"],
                      0, ['"status": "ok"'], stream="stdout"))
    cases.append(Case("solve with every attack at tau2 = 1e-300",
                      ["solve", "--model", "kpr", "--ligand", "4:4000", "--ligand", "1e-300:6000", "--attack", "all"],
                      1, ["status     non_finite"], stream="stdout"))
    return cases


def hdf5_quiet_cases(tmp, base):
    """HDF5's error stack is never dumped; our message carries its innermost error."""
    trunc = os.path.join(tmp, "truncated.h5")
    with open(base, "rb") as f:
        data = f.read()
    with open(trunc, "wb") as f:
        f.write(data[: len(data) // 3])
    return [
        Case("inspect of a directory", ["inspect", tmp], 2, [tmp, "is a directory"]),
        Case("inspect of a truncated HDF5 file", ["inspect", trunc], 2, [trunc, "HDF5: ", "truncated"]),
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
    cases = (hdf5_quiet_cases(tmp, base) + inspect_file_cases(tmp, base) + inspect_cli_cases(base)
             + limit_cases(tmp) + solve_cli_cases(tmp) + non_finite_run(tap, build, tmp)
             + non_finite_solve_cases())
    check_all(tap, build, cases)
    if tap.failed:
        print(f"# files kept in {tmp}", flush=True)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    tap.done()


if __name__ == "__main__":
    main()
