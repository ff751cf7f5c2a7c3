"""run.fields and run.compression: a job that selects fields writes only those
datasets (status always, with the axes, the progress map and the history), on
1 rank and on 3 (2 workers), with the values of the full run; a resume with
another selection is refused and leaves the file as it was; validate's size
and memory estimates shrink. Deflate files hold the values of the
uncompressed ones with the filter on every field, and a resume rewrites
their compressed chunks correctly."""
import hashlib
import os
import re
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, kpsweep, write  # noqa: E402

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


def estimate(build, cfg):
    """validate's file size (MB) and worker memory (MB) of a job file."""
    r = kpsweep(build, ["validate", cfg])
    size = re.search(r"about ([0-9.e+-]+) MB", r.stdout)
    mem = re.search(r"worker up to ([0-9.e+-]+) MB", r.stdout)
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
            r = kpsweep(build, ["run", defl_cfg, "-o", out, "--quiet"], ranks=ranks)
            if not tap.ok(r.returncode == 0, f"deflate on {label}", r.stderr):
                continue
            bad = compare(out, full, all_fields)
            tap.ok(not bad, f"deflate on {label}: values equal the uncompressed file's", bad)
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
    tap.done()


if __name__ == "__main__":
    main()
