#!/usr/bin/env python3
"""Helper of the kpsweep scaling study (jobs/scaling/scaling.xml), run by JUBE
in the work directory of each configuration:

  make-job TEMPLATE OUT --lines N --points P --exe KPSWEEP
      fills #POINTS# and #SCALE# into the job template, #SCALE# chosen so that
      the job has about N lines (whole values of the scaled axis, at least
      one), checks the result with `kpsweep validate` and writes its line
      count to OUT.lines;
  summarise RUN_DIR --repeats R --mode M --nodes N --ranks R -o SUMMARY.json
      reads /history of RUN_DIR/rep1.h5 .. repR.h5 (never the logs): per
      repeat the wall seconds (summed over the pieces of a resumed run), the
      compute seconds of the workers (/history/ranks busy_seconds) and the
      slowest rank's HDF5 seconds; min, median and max over the repeats;
  table SUMMARY.json SHARED_DIR [--wall min|med] -o scaling.txt
      speed-up and efficiency of this configuration against the reference of
      its mode among the summaries in SHARED_DIR (of the configurations with
      the fewest workers, the one with the highest throughput in lines per
      second), written as "key = value" lines for JUBE's analyser.

Definitions (docs/scaling.md): W = max(1, ranks - 1) workers. Strong:
speed-up S = T_ref / T, efficiency E = S * W_ref / W. Weak: E = (lines / (W
T)) / (lines_ref / (W_ref T_ref)), the throughput per worker against the
reference's (= T_ref / T when the lines are exactly proportional to W). T is
the wall time of the fastest repeat (table --wall min, the default: the run
least disturbed by anything else on the machine) or the median over the
repeats (--wall med). busy_share = sum of the workers' busy
seconds / (W T): the share of the workers' time spent computing lines.
"""
import argparse
import glob
import json
import math
import os
import re
import statistics
import subprocess
import sys


def die(msg, code=1):
    print(f"kps_scaling: {msg}", file=sys.stderr)
    sys.exit(code)


def count_lines(exe, text, path):
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([exe, "validate", path], capture_output=True, text=True)
    m = re.search(r"^tasks\s+(\d+) lines?", p.stdout, re.M)
    if p.returncode != 0 or not m:
        die(f"kpsweep validate {path} failed (exit {p.returncode}):\n{p.stdout}{p.stderr}", 2)
    return int(m.group(1))


def make_job(a):
    if not a.exe or not os.access(a.exe, os.X_OK):
        die(f"kpsweep not found ('{a.exe}'): set KPS_EXE or put kpsweep on PATH", 2)
    with open(a.template) as f:
        tmpl = f.read()
    if "#SCALE#" not in tmpl:
        die(f"{a.template} has no #SCALE# to scale the number of lines with", 2)
    tmpl = tmpl.replace("#POINTS#", str(a.points))
    # lines(scale) = per_value * scale: measured at scale 1 and 2
    one = count_lines(a.exe, tmpl.replace("#SCALE#", "1"), a.out)
    two = count_lines(a.exe, tmpl.replace("#SCALE#", "2"), a.out)
    per_value = two - one
    if per_value <= 0 or one != per_value:
        die(f"{a.template}: the lines do not grow in proportion to #SCALE# ({one} at 1, {two} at 2)", 2)
    scale = max(1, int(round(a.lines / per_value)))
    lines = count_lines(a.exe, tmpl.replace("#SCALE#", str(scale)), a.out)
    with open(a.out + ".lines", "w") as f:
        f.write(f"{lines}\n")
    print(f"{a.out}: #SCALE# = {scale}, {lines} lines of {a.points} points (asked for {a.lines})")


def read_history(path):
    import h5py  # only here: make-job and table run without it
    import numpy as np

    with h5py.File(path, "r") as f:
        if "history/runs" not in f or "history/ranks" not in f:
            raise ValueError("no /history/runs and /history/ranks (made by an older kpsweep?)")
        runs = f["history/runs"][...]
        ranks = f["history/ranks"][...]
        n_lines = int(f["progress/line_done"].shape[0])
    if len(runs) == 0:
        raise ValueError("/history/runs is empty")
    if not int(runs["complete"][-1]):
        raise ValueError(f"not complete ({int(runs['lines_done'][-1])}/{n_lines} lines)")
    wall = float(np.sum(runs["wall_seconds"]))
    n_ranks = int(runs["n_ranks"][-1])
    hosts = set()
    busy = 0.0
    hdf5 = 0.0
    for i in range(len(runs)):
        rows = ranks[ranks["run"] == i]
        nr = int(runs["n_ranks"][i])
        # rank 0 is the master when there are several ranks
        work = rows[rows["rank"] >= (1 if nr > 1 else 0)]
        busy += float(np.sum(work["busy_seconds"]))
        # the slowest rank's HDF5 seconds of each piece (kpsweep's "% in HDF5")
        hdf5 += float(max(np.max(rows["hdf5_seconds"]) if len(rows) else 0.0,
                          float(runs["hdf5_seconds"][i])))
        hosts.update(h.decode() if isinstance(h, bytes) else str(h) for h in rows["host"])
    return {"wall": wall, "busy": busy, "hdf5": hdf5, "pieces": len(runs), "n_ranks": n_ranks,
            "lines": n_lines, "hosts": sorted(hosts)}


def stats(values):
    return {"min": min(values), "med": statistics.median(values), "max": max(values)}


def summarise(a):
    reps, problems = [], []
    for k in range(1, a.repeats + 1):
        path = os.path.join(a.run_dir, f"rep{k}.h5")
        if not os.path.exists(path):
            problems.append(f"rep{k}.h5 missing")
            continue
        try:
            h = read_history(path)
        except Exception as e:  # a damaged or partial file is reported, not fatal
            problems.append(f"rep{k}.h5: {e}")
            continue
        if h["n_ranks"] != a.ranks:
            problems.append(f"rep{k}.h5 ran on {h['n_ranks']} ranks, not {a.ranks}")
        reps.append(h)
    status_file = os.path.join(a.run_dir, "status.txt")
    if os.path.exists(status_file):
        with open(status_file) as f:
            st = f.read().strip()
        if st != "ok":
            problems.insert(0, f"job: {st}")
    workers = max(1, a.ranks - 1)
    out = {"mode": a.mode, "nodes": a.nodes, "ranks": a.ranks, "workers": workers,
           "repeats": len(reps),
           # one CSV field: no commas
           "status": "; ".join(problems).replace(",", ";") if problems else "ok"}
    if reps:
        out["lines"] = reps[0]["lines"]
        out["pieces"] = max(r["pieces"] for r in reps)
        out["hosts"] = len(set().union(*(r["hosts"] for r in reps)))
        for key in ("wall", "busy", "hdf5"):
            out[key] = stats([r[key] for r in reps])
        out["busy_share"] = statistics.median(
            [r["busy"] / (workers * r["wall"]) if r["wall"] > 0 else math.nan for r in reps])
    with open(a.output, "w") as f:
        json.dump(out, f, indent=1)
    print(f"{a.output}: {out['status']}")


def table(a):
    with open(a.summary) as f:
        me = json.load(f)
    peers = []
    for path in glob.glob(os.path.join(a.shared, "*.json")):
        with open(path) as f:
            s = json.load(f)
        if s["mode"] == me["mode"] and "wall" in s:
            peers.append(s)
    kv = {k: me.get(k) for k in ("mode", "nodes", "ranks", "workers", "lines", "repeats", "pieces", "hosts")}
    for key in ("wall", "busy", "hdf5"):
        for q in ("min", "med", "max"):
            kv[f"{key}_{q}"] = me[key][q] if key in me else math.nan
    kv["busy_share"] = me.get("busy_share", math.nan)
    speedup = eff = math.nan
    if "wall" in me and peers:
        # the reference: of the configurations with the fewest workers, the
        # one with the highest throughput (1 rank in-process or 1 worker
        # and a master, whichever ran faster)
        w_ref = min(s["workers"] for s in peers)
        ref = max((s for s in peers if s["workers"] == w_ref),
                  key=lambda s: (s["lines"] / s["wall"][a.wall], -s["ranks"], -s["nodes"]))
        t, t_ref = me["wall"][a.wall], ref["wall"][a.wall]
        kv["ref_ranks"], kv["ref_nodes"] = ref["ranks"], ref["nodes"]
        if t > 0 and t_ref > 0:
            if me["mode"] == "strong":
                speedup = t_ref / t
                eff = speedup * ref["workers"] / me["workers"]
            else:
                eff = (me["lines"] / (me["workers"] * t)) / (ref["lines"] / (ref["workers"] * t_ref))
                speedup = eff * me["workers"] / ref["workers"]
    kv["speedup"], kv["efficiency"] = speedup, eff
    kv["wall_stat"] = a.wall
    kv["status"] = me["status"]
    with open(a.output, "w") as f:
        for k, v in kv.items():
            if isinstance(v, float):
                v = "nan" if math.isnan(v) else f"{v:.6g}"
            f.write(f"{k} = {v}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("make-job")
    p.add_argument("template")
    p.add_argument("out")
    p.add_argument("--lines", type=int, required=True)
    p.add_argument("--points", type=int, required=True)
    p.add_argument("--exe", required=True)
    p = sub.add_parser("summarise")
    p.add_argument("run_dir")
    p.add_argument("--repeats", type=int, required=True)
    p.add_argument("--mode", choices=("strong", "weak"), required=True)
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--ranks", type=int, required=True)
    p.add_argument("-o", "--output", required=True)
    p = sub.add_parser("table")
    p.add_argument("summary")
    p.add_argument("shared")
    p.add_argument("--wall", choices=("min", "med"), default="min",
                   help="the wall time of a configuration: its fastest repeat (min) or the median")
    p.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    {"make-job": make_job, "summarise": summarise, "table": table}[a.cmd](a)


if __name__ == "__main__":
    main()
