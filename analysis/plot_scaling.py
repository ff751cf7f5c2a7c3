#!/usr/bin/python3
"""Speed-up and parallel efficiency from the scaling study's tables.

    plot_scaling.py TABLE.csv [TABLE.csv ...] [-o OUT.png] [--title TEXT]

TABLE.csv are the CSV tables of jobs/scaling/scaling.xml (`jube result`;
scripts/scaling.sh copies them to NNNNNN/tables/strong.csv and weak.csv):
one row per configuration with at least the columns mode (strong or weak),
nodes, ranks, workers, wall_min, wall_med, wall_max, speedup and efficiency
(and wall_stat, the wall time they were computed from: min or med).
Strong-scaling rows give two panels, the speed-up (with the ideal W/W_ref
and error bars from the fastest and slowest repeat) and the efficiency;
weak-scaling rows give one, the efficiency. The x axis is the number of
workers (ranks - 1; one rank computes in-process, drawn as an open
marker); each node count is its own series. Rows whose status is not ok
are left out (named on stderr). Exits 1 with a message naming the file, and
the line or column, when a table cannot be read, lacks a column, holds
something that is not a number where one belongs, or has no usable row.
Prints the path of the PNG it wrote.
"""

import argparse
import csv
import math
import os
import sys

REQUIRED = ("mode", "nodes", "ranks", "workers", "wall_min", "wall_med", "wall_max",
            "speedup", "efficiency")
INTS = ("nodes", "ranks", "workers")
FLOATS = ("wall_min", "wall_med", "wall_max", "speedup", "efficiency")
DPI = 150


class TableError(Exception):
    pass


def read_table(path):
    """The usable rows of one table, as dicts with typed values."""
    try:
        with open(path, newline="") as f:
            text = f.read()
    except OSError as e:
        raise TableError(f"{path}: cannot be read: {e.strerror}")
    if "\0" in text:
        raise TableError(f"{path}: not a text table (binary data)")
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames
    if not header:
        raise TableError(f"{path}: empty file, expected a CSV table with the columns {', '.join(REQUIRED)}")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise TableError(f"{path}: missing column(s) {', '.join(missing)} "
                         f"(has {', '.join(h for h in header if h)}); is it a table of jobs/scaling?")
    rows = []
    for lineno, raw in enumerate(reader, start=2):
        where = f"{path}:{lineno}"
        status = (raw.get("status") or "ok").strip()
        if status != "ok":
            print(f"plot_scaling.py: {where}: left out ({status})", file=sys.stderr)
            continue
        row = {"mode": (raw["mode"] or "").strip(), "line": lineno,
               "stat": (raw.get("wall_stat") or "med").strip()}
        if row["stat"] not in ("min", "med"):
            raise TableError(f"{where}: wall_stat is '{row['stat']}', expected min or med")
        if row["mode"] not in ("strong", "weak"):
            raise TableError(f"{where}: mode is '{raw['mode']}', expected strong or weak")
        for c in INTS + FLOATS:
            v = (raw.get(c) or "").strip()
            try:
                x = float(v)
            except ValueError:
                raise TableError(f"{where}: column {c} is '{v}', not a number")
            if not math.isfinite(x):
                raise TableError(f"{where}: column {c} is {v}")
            if c in INTS:
                if x != int(x) or x < 1:
                    raise TableError(f"{where}: column {c} is {v}, expected a whole number >= 1")
                x = int(x)
            elif x <= 0:
                raise TableError(f"{where}: column {c} is {v}, expected a positive number")
            row[c] = x
        if not row["wall_min"] <= row["wall_med"] <= row["wall_max"]:
            raise TableError(f"{where}: wall_min <= wall_med <= wall_max does not hold "
                             f"({row['wall_min']}, {row['wall_med']}, {row['wall_max']})")
        rows.append(row)
    return rows


def series(rows):
    """{nodes: rows sorted by workers, then ranks}"""
    out = {}
    for r in rows:
        out.setdefault(r["nodes"], []).append(r)
    return {k: sorted(v, key=lambda r: (r["workers"], r["ranks"])) for k, v in sorted(out.items())}


def draw(ax, rows, key, ideal, ylabel, err=False):
    import numpy as np
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    markers = "osD^v<>ph"
    for i, (nodes, rs) in enumerate(series(rows).items()):
        m = markers[i % len(markers)]
        label = f"{nodes} node" + ("s" if nodes > 1 else "")
        color = None
        # ranks > 1 (master + workers) as one line, 1 rank (in-process) apart
        for solo in (False, True):
            part = [r for r in rs if (r["ranks"] == 1) == solo]
            if not part:
                continue
            x = np.array([r["workers"] for r in part])
            y = np.array([r[key] for r in part])
            yerr = None
            if err:
                # speed-up of the slowest and of the fastest repeat, from the
                # wall time the table's speed-up was computed with
                base = np.array([r["wall_" + r["stat"]] for r in part])
                lo = y * base / np.array([r["wall_max"] for r in part])
                hi = y * base / np.array([r["wall_min"] for r in part])
                # (rounding in the table may put lo a hair above y)
                yerr = np.maximum(0.0, np.vstack([y - lo, hi - y]))
            style = dict(marker=m, capsize=3, color=color)
            if solo:
                style.update(ls="none", mfc="white", ms=8)
            else:
                style.update(ls="-")
            line = ax.errorbar(x, y, yerr=yerr,
                               label=f"{label}, 1 rank (in-process)" if solo else label, **style)
            color = line[0].get_color()
    ws = sorted({r["workers"] for r in rows})
    if ideal is not None:
        xs = np.array([ws[0], ws[-1]], dtype=float)
        ax.plot(xs, ideal(xs), "k--", lw=1, label="ideal")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ws)
    ax.set_xticklabels([str(w) for w in ws])
    ax.xaxis.set_minor_formatter(NullFormatter())
    if ax.get_yscale() == "log":
        ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel("workers (ranks - 1)")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("tables", nargs="+", metavar="TABLE.csv")
    ap.add_argument("-o", "--output", help="PNG to write (default: scaling.png next to the first table)")
    ap.add_argument("--title", default="kpsweep scaling")
    a = ap.parse_args(argv)
    rows = []
    try:
        for t in a.tables:
            got = read_table(t)
            if not got:
                raise TableError(f"{t}: no row to plot (no configuration with status ok)")
            rows += got
    except TableError as e:
        print(f"plot_scaling.py: {e}", file=sys.stderr)
        return 1
    strong = [r for r in rows if r["mode"] == "strong"]
    weak = [r for r in rows if r["mode"] == "weak"]
    out = a.output or os.path.join(os.path.dirname(os.path.abspath(a.tables[0])), "scaling.png")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (2 if strong else 0) + (1 if weak else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4), squeeze=False)
    axes = list(axes[0])
    if strong:
        ref = min(strong, key=lambda r: (r["workers"], r["ranks"], r["nodes"]))
        axes[0].set_yscale("log", base=2)
        draw(axes[0], strong, "speedup", lambda w: w / ref["workers"], "speed-up (strong)", err=True)
        axes[0].set_title("strong scaling: speed-up", fontsize=10)
        draw(axes[1], strong, "efficiency", lambda w: 1 + 0 * w, "parallel efficiency (strong)")
        axes[1].set_title("strong scaling: efficiency", fontsize=10)
        axes[1].set_ylim(bottom=0)
    if weak:
        ax = axes[-1]
        draw(ax, weak, "efficiency", lambda w: 1 + 0 * w, "parallel efficiency (weak)")
        ax.set_title("weak scaling: efficiency", fontsize=10)
        ax.set_ylim(bottom=0)
    fig.suptitle(a.title, fontsize=11)
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=DPI)
    except OSError as e:
        print(f"plot_scaling.py: cannot write {out}: {e.strerror}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
