"""`kpsweep export`: the tidy table holds exactly the file's values (every
axis coordinate and field, point by point and line by line, compared with
h5py), --fields picks and orders columns, TSV by --format or by the .tsv
name, bad arguments exit 2, and memory does not grow with the file (peak
RSS on a file of 10^6 points against one of 10^4)."""
import csv
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, kpsweep, write  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402

JOB = """name: export
model: ideal
axes:
  N: {values: [2, 3, 4]}
  m: {values: [0, 1]}
antagonist:
  tau: {linear: [0.1, 2.9, 7]}
  L: {values: [1000, 6000]}
"""


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def check_table(tap, path, rows, group, label):
    with h5py.File(path, "r") as f:
        g = f[group]
        names = rows[0]
        body = rows[1:]
        shape = g["O" if group == "points" else "O_th"].shape
        axes = names[:len(shape)]
        fields = names[len(shape):]
        tap.ok(len(body) == int(np.prod(shape)), f"{label}: one row per entry ({len(body)})")
        coords = [f["axes"][a][...] for a in axes]
        ok = True
        for k, idx in enumerate(np.ndindex(*shape)):
            row = body[k]
            for d, a in enumerate(axes):
                ok &= same(float(row[d]), float(coords[d][idx[d]]))
            for j, name in enumerate(fields):
                ok &= same(float(row[len(axes) + j]), float(g[name][idx]))
            if not ok:
                break
        tap.ok(ok, f"{label}: every coordinate and value equals the file's (h5py)",
               f"first mismatch at row {k}: {row}")


def read(text, sep=","):
    return list(csv.reader(text.splitlines(), delimiter=sep))


def rss_kb(build, path):
    exe = os.path.join(build, "src", "kpsweep")
    r = subprocess.run(["/usr/bin/time", "-f", "%M", exe, "export", path, "--fields", "O,FC",
                        "-o", "/dev/null"], capture_output=True, text=True)
    return r.returncode, int(r.stderr.strip().splitlines()[-1])


def crafted(path, n_tau):
    """A file with the export's structure (axes as dimension scales), of any size."""
    with h5py.File(path, "w") as f:
        ax = f.create_group("axes")
        pts = f.create_group("points")
        n_l2 = 10
        ax["L2"] = np.linspace(1, 10, n_l2)
        ax["tau2"] = np.linspace(0, 3, n_tau)
        for name in ("L2", "tau2"):
            ax[name].make_scale(name)
        for name in ("O", "FC"):
            d = pts.create_dataset(name, shape=(n_l2, n_tau), dtype="f8", chunks=(1, min(n_tau, 32768)),
                                   fillvalue=0.5)
            d.dims[0].attach_scale(ax["L2"])
            d.dims[1].attach_scale(ax["tau2"])


def main():
    build = sys.argv[1]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="kps-export-")
    cfg = write(os.path.join(tmp, "job.yaml"), JOB)
    out = os.path.join(tmp, "r.h5")
    r = kpsweep(build, ["run", cfg, "-o", out, "--quiet"])
    tap.ok(r.returncode == 0, "a job with two parameter axes", r.stderr)

    r = kpsweep(build, ["export", out])
    tap.ok(r.returncode == 0, "export to standard output", r.stderr)
    rows = read(r.stdout)
    tap.ok(rows[0][:4] == ["N", "m", "L2", "tau2"] and "O" in rows[0] and "status" in rows[0],
           "points: axis columns in job order, then the point fields", rows[0])
    check_table(tap, out, rows, "points", "points")

    r = kpsweep(build, ["export", out, "--lines", "-o", os.path.join(tmp, "l.csv")])
    rows = read(open(os.path.join(tmp, "l.csv")).read())
    tap.ok(r.returncode == 0 and rows[0][:3] == ["N", "m", "L2"] and "tau_star" in rows[0]
           and "descent_hist" not in rows[0], "lines: axes, then the line fields", rows[0])
    check_table(tap, out, rows, "lines", "lines")

    r = kpsweep(build, ["export", out, "--fields", "FC,O", "-o", os.path.join(tmp, "p.tsv")])
    rows = read(open(os.path.join(tmp, "p.tsv")).read(), "\t")
    tap.ok(r.returncode == 0 and rows[0] == ["N", "m", "L2", "tau2", "FC", "O"],
           "--fields picks and orders the columns; .tsv gives TSV", rows[0])
    check_table(tap, out, rows, "points", "--fields FC,O")
    r = kpsweep(build, ["export", out, "--lines", "--fields", "regime", "--format", "tsv"])
    tap.ok(r.returncode == 0 and r.stdout.splitlines()[0] == "N\tm\tL2\tregime"
           and all(x.split("\t")[-1].lstrip("-").isdigit() for x in r.stdout.splitlines()[1:]),
           "--format tsv; categorical fields as integer codes", r.stdout[:200])

    for args, what in ((["--fields", "nope"], "an unknown field"),
                       (["--fields", "tau_star"], "a line field in a point table"),
                       (["--lines", "--fields", "descent_hist"], "a histogram field"),
                       (["--bogus"], "an unknown option"),
                       (["--format", "xls"], "an unknown format"),
                       (["--lines", "--points"], "--lines with --points"),
                       (["-o", ""], "an empty -o")):
        r = kpsweep(build, ["export", out] + args)
        tap.ok(r.returncode == 2 and "kpsweep export" in r.stderr and "Traceback" not in r.stderr,
               f"{what}: exit 2 with a message", r.stderr)
    bad = write(os.path.join(tmp, "bad.h5"), "not hdf5")
    for path, what in ((bad, "a non-HDF5 file"), (tmp, "a directory"),
                       (os.path.join(tmp, "missing.h5"), "a missing file")):
        r = kpsweep(build, ["export", path])
        tap.ok(r.returncode == 2 and "kpsweep export" in r.stderr, f"{what}: exit 2", r.stderr)
    r = kpsweep(build, ["export"])
    tap.ok(r.returncode == 2, "no FILE: exit 2", r.stderr)

    small, large = os.path.join(tmp, "small.h5"), os.path.join(tmp, "large.h5")
    crafted(small, 1000)
    crafted(large, 100000)
    rc_s, kb_s = rss_kb(build, small)
    rc_l, kb_l = rss_kb(build, large)
    print(f"# peak RSS: {kb_s} kB for 1e4 points, {kb_l} kB for 1e6 points", flush=True)
    tap.ok(rc_s == 0 and rc_l == 0 and kb_l < kb_s + 4096,
           f"streamed: peak memory on 10^6 points ({kb_l} kB) within 4 MB of 10^4 points ({kb_s} kB);"
           " whole columns would take 16 MB more")
    tap.done()


if __name__ == "__main__":
    main()
