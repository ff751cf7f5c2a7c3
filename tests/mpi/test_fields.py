"""run.fields, run.compression and run.fill: a job that selects fields writes
only those datasets (status always, with the axes, the progress map and the
history), on 1 rank and on 3 (2 workers), with the values of the full run; a
resume with another selection is refused and leaves the file as it was;
validate's size and memory estimates shrink. Deflate files hold the values of
the uncompressed ones with the filter on every field, and a resume rewrites
their compressed chunks correctly. run.fill: status files hold the values of
run.fill: all ones; interrupted, their status is -1 exactly on the lines not
done, the readers (the Python module, export) mask those lines, and a resume
(on other writers) completes them."""
import csv
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, env, kpsweep, quick, write  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "analysis"))
from kpsweep.results import Results  # noqa: E402

# Slow enough (cold ODE solves, ~20 ms a line) to be interrupted.
SLOW = """name: fill
model: adaptive_sorting
params: {{N: 5, m: 2}}
axes:
  phi: {{log: [0.01, 0.3, {n_phi}]}}
agonist: {{tau: 4.0, L: 4000}}
antagonist:
  tau: {{linear: [0.1, 2.9, 200]}}
  L: {{values: [1000, 6000]}}
threshold: {{tau_c: 3.0}}
solver: {{warm_start: false}}
run:
  checkpoint_every: 0.3
  progress_every: 0.1
{run}"""

JOB = """name: fields
model: ideal
axes:
  N: {{values: [2, 3, 4]}}
  m: {{values: [0, 1]}}
antagonist:
  tau: {{linear: [0.05, 2.9, 24]}}
  L: {{values: [3000, 6000]}}
attacks: {{enabled: true, pgd_steps: 5}}
run:
{run}"""

SUBSET = ["O", "status", "tau_star"]
SCALES = {"L2", "N", "m", "tau2", "bin", "ligand", "land_u", "land_v"}


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fields_of(path):
    """{group/name: dataset} of the field datasets (not the linked scales)."""
    with h5py.File(path, "r") as f:
        return {f"{g}/{n}" for g in ("points", "lines") for n in f[g] if n not in SCALES}


def compare(path, ref, names):
    """The datasets `names` of path equal those of ref, NaN for NaN."""
    bad = []
    with h5py.File(path, "r") as a, h5py.File(ref, "r") as b:
        for n in sorted(names):
            if not np.array_equal(a[n][...], b[n][...], equal_nan=True):
                bad.append(n)
    return bad


def run_like(tap, build, cfg, out, ranks, label, full, names):
    """Runs cfg into out; its datasets `names` must equal the full run's."""
    r = kpsweep(build, ["run", cfg, "-o", out, "--quiet"], ranks=ranks)
    if not tap.ok(r.returncode == 0, label, r.stderr):
        return False
    bad = compare(out, full, names)
    return tap.ok(not bad, f"{label}: the values of the full, uncompressed run", bad)


def estimate(build, cfg):
    """validate's file size (MB) and worker memory (MB) of a job file."""
    r = kpsweep(build, ["validate", cfg])
    size = re.search(r"about ([0-9.e+-]+) MB", r.stdout)
    mem = re.search(r"worker.s ranges up to ([0-9.e+-]+) MB", r.stdout)
    return (float(size.group(1)) if size else None, float(mem.group(1)) if mem else None,
            r.stdout + r.stderr)


def main():
    build = sys.argv[1]
    tap = Tap()
    with tempfile.TemporaryDirectory() as tmp:
        full_cfg = write(os.path.join(tmp, "full.yaml"), JOB.format(run="  fields: all\n"))
        sub_cfg = write(os.path.join(tmp, "sub.yaml"),
                        JOB.format(run=f"  fields: [{', '.join(SUBSET)}]\n"))
        full = os.path.join(tmp, "full.h5")
        r = kpsweep(build, ["run", full_cfg, "-o", full, "--quiet"])
        tap.ok(r.returncode == 0, "the full-field run", r.stderr)
        want = {"points/O", "points/status", "lines/tau_star"}
        for ranks in (None, 3):
            label = "1 rank" if ranks is None else "3 ranks"
            out = os.path.join(tmp, f"sub_{ranks}.h5")
            r = kpsweep(build, ["run", sub_cfg, "-o", out, "--quiet"], ranks=ranks)
            if not tap.ok(r.returncode == 0, f"fields [O, status, tau_star] on {label}", r.stderr):
                continue
            have = fields_of(out)
            tap.ok(have == want, f"{label}: only the selected fields exist", sorted(have))
            with h5py.File(out, "r") as f:
                groups = set(f)
                tap.ok({"axes", "points", "lines", "progress", "history"} <= groups and
                       "line_done" in f["progress"] and f["progress/line_done"][...].all(),
                       f"{label}: axes, progress map (all done) and history are there",
                       sorted(groups))
            bad = compare(out, full, want)
            tap.ok(not bad, f"{label}: the values equal the full run's", bad)

        # A resume with another selection is refused, the file untouched.
        sub = os.path.join(tmp, "sub_3.h5")
        before = sha(sub)
        other = write(os.path.join(tmp, "other.yaml"), JOB.format(run="  fields: [O, FC]\n"))
        r = kpsweep(build, ["run", other, "-o", sub, "--resume"])
        tap.ok(r.returncode != 0 and "run.fields" in r.stderr and "O, status, tau_star" in r.stderr
               and "O, FC, status" in r.stderr,
               "a resume with another selection is refused, naming both", r.stderr)
        r = kpsweep(build, ["run", full_cfg, "-o", sub, "--resume"])
        tap.ok(r.returncode != 0 and "selects [all]" in r.stderr,
               "a resume with every field of a subset file is refused", r.stderr)
        r = kpsweep(build, ["run", sub_cfg, "-o", full, "--resume"])
        tap.ok(r.returncode != 0 and "holds the fields [all]" in r.stderr,
               "a resume with a subset of a full file is refused", r.stderr)
        tap.ok(sha(sub) == before, "the refused file is unchanged")
        r = kpsweep(build, ["run", sub_cfg, "-o", sub, "--resume", "--quiet"], ranks=3)
        tap.ok(r.returncode == 0, "a resume with the same selection runs", r.stderr)

        # Config errors: FILE:LINE:COL, the known names listed.
        bogus = write(os.path.join(tmp, "bogus.yaml"), JOB.format(run="  fields: [O, Orel]\n"))
        r = kpsweep(build, ["validate", bogus])
        tap.ok(r.returncode != 0 and re.search(r"bogus\.yaml:\d+:\d+: run\.fields: unknown field "
                                               r"\"Orel\" \(known fields: O, O_rel, FC,", r.stderr),
               "an unknown field name: FILE:LINE:COL and the known names", r.stderr)
        lvl = write(os.path.join(tmp, "lvl.yaml"), JOB.format(run="  compression_level: 3\n"))
        r = kpsweep(build, ["validate", lvl])
        tap.ok(r.returncode != 0 and "run.compression_level" in r.stderr,
               "compression_level without deflate is refused", r.stderr)

        # validate: the smaller selection gives a smaller file and batch.
        s_full, m_full, t_full = estimate(build, full_cfg)
        s_sub, m_sub, t_sub = estimate(build, sub_cfg)
        tap.ok(None not in (s_full, s_sub) and s_sub < s_full,
               f"validate's file size shrinks ({s_full} -> {s_sub} MB)", t_full + t_sub)
        tap.ok(None not in (m_full, m_sub) and m_sub < 0.25 * m_full,
               f"validate's worker memory shrinks ({m_full} -> {m_sub} MB)", t_full + t_sub)
        with h5py.File(full, "r") as f:
            all_fields = {f"{g}/{n}" for g in ("points", "lines") for n in f[g]
                          if n not in SCALES}
        tap.ok(len(all_fields) == 40, f"fields: all writes every field ({len(all_fields)})")

        # Deflate: the values of the plain file, the filter on every field.
        defl_cfg = write(os.path.join(tmp, "defl.yaml"),
                         JOB.format(run="  compression: deflate\n  compression_level: 6\n"))
        for ranks in (None, 3):
            label = "1 rank" if ranks is None else "3 ranks"
            out = os.path.join(tmp, f"defl_{ranks}.h5")
            if not run_like(tap, build, defl_cfg, out, ranks, f"deflate on {label}", full,
                            all_fields):
                continue
            with h5py.File(out, "r") as f:
                plain = [n for n in all_fields if f[n].compression != "gzip" or not f[n].shuffle
                         or f[n].compression_opts != 6]
            tap.ok(not plain, f"deflate on {label}: gzip level 6 and shuffle on every field",
                   plain)
        # Resume: half the lines marked undone and their values spoiled are
        # recomputed into the compressed chunks.
        out = os.path.join(tmp, "defl_3.h5")
        with h5py.File(out, "r+") as f:
            done = f["progress/line_done"]
            spoilt = np.arange(done.shape[0]) % 2 == 1
            d = done[...]
            d[spoilt] = 0
            done[...] = d
            O = f["points/O"][...]
            O.reshape(-1, O.shape[-1])[spoilt] = 12345.0
            f["points/O"][...] = O
        r = kpsweep(build, ["run", defl_cfg, "-o", out, "--resume", "--quiet"], ranks=3)
        tap.ok(r.returncode == 0 and not compare(out, full, all_fields),
               "a resumed deflate file (3 ranks) equals the uncompressed one",
               r.stderr + str(compare(out, full, all_fields)))
        with h5py.File(out, "r") as f:
            tap.ok(f["progress/line_done"][...].all(), "every line is done after the resume")
        fill_checks(tap, build, tmp, full, all_fields)
    tap.done()


def fill_checks(tap, build, tmp, full, all_fields):
    """run.fill: status against run.fill: all."""
    cfg = write(os.path.join(tmp, "fs.yaml"), JOB.format(run="  fill: status\n"))
    for ranks, extra in ((None, ""), (3, ""), (5, "  writers: 2\n")):
        label = "1 rank" if ranks is None else f"{ranks} ranks" + (", 2 writers" if extra else "")
        c = write(os.path.join(tmp, f"fs_{ranks}.yaml"), JOB.format(run="  fill: status\n" + extra))
        run_like(tap, build, c, os.path.join(tmp, f"fs_{ranks}.h5"), ranks,
                 f"fill: status on {label}", full, all_fields)
    with h5py.File(os.path.join(tmp, "fs_3.h5"), "r") as f, h5py.File(full, "r") as g:
        with_fill = sorted(n for n in all_fields if "_FillValue" in f[n].attrs)
        comments = [n for n in all_fields if n != "points/status" and
                    "line_done" not in str(f[n].attrs.get("comment", ""))]
        tap.ok(f.attrs["fill"] == "status" and g.attrs["fill"] == "all"
               and with_fill == ["points/status"] and f["points/status"].attrs["_FillValue"] == -1
               and not comments,
               "fill: status says so (root attribute fill; _FillValue on status alone, a comment "
               "on the others)", f"{f.attrs.get('fill')} {with_fill} {comments[:3]}")
    r = kpsweep(build, ["validate", write(os.path.join(tmp, "fsd.yaml"), JOB.format(
        run="  fill: status\n  compression: deflate\n"))])
    tap.ok(r.returncode == 2 and re.search(r"fsd\.yaml:\d+:\d+: run\.fill: status cannot go with "
                                           r"run\.compression: deflate", r.stderr),
           "fill: status with deflate is refused with FILE:LINE:COL", r.stderr)
    # auto: status above 4 GiB of file (validate only: nothing is created).
    big = write(os.path.join(tmp, "big.yaml"), JOB.format(run="  checkpoint_every: 60\n").replace(
        "linear: [0.05, 2.9, 24]", "linear: [0.05, 2.9, 4000]").replace(
        "{values: [3000, 6000]}", "{log: [100, 10000, 2000]}"))
    r = kpsweep(build, ["validate", big])
    small = kpsweep(build, ["validate", cfg.replace("fs.yaml", "fs_None.yaml")])
    tap.ok("fill        status" in r.stdout and "fill        status" in small.stdout
           and "fill        all" in kpsweep(build, ["validate", full.replace(".h5", ".yaml")]).stdout,
           "validate: auto is status for a file over 4 GiB, all below; fill: status is said",
           r.stdout + r.stderr)

    # An interrupted file: status -1 exactly where no line is done.
    n_phi = 24 if quick() else 48
    ref_cfg = write(os.path.join(tmp, "slow_all.yaml"), SLOW.format(n_phi=n_phi, run="  fill: all"))
    slow = write(os.path.join(tmp, "slow.yaml"), SLOW.format(n_phi=n_phi, run="  fill: status\n"
                                                                         "  writers: 2"))
    ref, out = os.path.join(tmp, "slow_ref.h5"), os.path.join(tmp, "slow.h5")
    r = kpsweep(build, ["run", ref_cfg, "-o", ref, "--quiet"], ranks=3)
    tap.ok(r.returncode == 0, "the slow job's reference (fill: all)", r.stderr)
    exe = os.path.join(build, "src", "kpsweep")
    p = subprocess.Popen(["mpirun", "-n", "5", exe, "run", slow, "-o", out], env=env(),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if "points (" in line and not line.startswith("[kpsweep] 0/"):
            break
    p.send_signal(signal.SIGUSR1)
    log = p.stderr.read()
    rc = p.wait(timeout=300)
    with h5py.File(out, "r") as f:
        done = f["progress/line_done"][...].astype(bool)
        st = f["points/status"][...]
        O = f["points/O"][...]
    shape = st.shape[:-1]
    done = done.reshape(shape)
    tap.ok(rc == 3 and 0 < done.sum() < done.size,
           f"fill: status, interrupted on 5 ranks: exit 3, {done.sum()} of {done.size} lines done",
           log)
    tap.ok((st[~done] == -1).all() and (st[done] >= 0).all(),
           "interrupted: status -1 exactly at the points of the lines not done")
    tap.ok((O[~done] == 0).all(), "interrupted: the other fields hold 0 there (undefined, "
           "not written)")
    with Results(out) as res:
        Om, stm = res.field("O"), res.field("status")
    with h5py.File(ref, "r") as g:
        O_ref = g["points/O"][...]
    tap.ok(np.isnan(Om[~done]).all() and np.array_equal(Om[done], O_ref[done], equal_nan=True)
           and (stm[~done] == -1).all(),
           "the Python reader gives NaN (and -1) at the lines not done, the values elsewhere")
    csv_path = os.path.join(tmp, "slow.csv")
    r = kpsweep(build, ["export", out, "--fields", "O,n_solves,status", "-o", csv_path])
    rows = list(csv.DictReader(open(csv_path))) if r.returncode == 0 else []
    flat = done.reshape(-1)
    n_tau = st.shape[-1]
    wrong = [i for i, row in enumerate(rows) if not flat[i // n_tau] and
             (row["O"], row["n_solves"], row["status"]) != ("nan", "-1", "-1")]
    tap.ok(r.returncode == 0 and len(rows) == st.size and not wrong,
           "export writes nan and -1 at the lines not done", r.stderr + str(wrong[:3]))
    r = kpsweep(build, ["run", slow, "-o", out, "--resume", "--quiet"], ranks=3)
    bad = compare(out, ref, all_fields)
    tap.ok(r.returncode == 0 and not bad,
           "resumed on 1 writer, the fill: status file equals the fill: all one", r.stderr + str(bad))


if __name__ == "__main__":
    main()
