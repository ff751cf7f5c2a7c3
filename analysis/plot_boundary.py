#!/usr/bin/python3
"""Decision boundary in antagonist dose of a kpsweep results file.

    plot_boundary.py FILE [-o OUT.png] [--L2-index K] [--max-lines K]

When the file has /points/L2_star (the smallest antagonist dose that
switches the response off, written by the job's `stats` section), draws
L2*(tau2) for each parameter point on a log axis; +inf (no dose switches the
response off) is drawn as a triangle at the top edge. Otherwise, when the
antagonist dose axis L2 has at least two values, draws the contour
O_rel = 1 in the (tau2, L2) plane for each parameter point. Exits with
status 2 when neither is possible. Prints the path of the PNG it wrote.
"""

import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from kpsweep import (Results, ResultsError, run_plot, param_points,  # noqa: E402
                             point_label, subsample)

DPI = 200


def _colors(n):
    return plt.cm.viridis(np.linspace(0.0, 0.85, max(n, 1)))


def _shown(notes, total, computed, drawn, what):
    """Notes what of `total` parameter points is not drawn, and why."""
    if computed < total:
        notes.append(f"{total - computed} of {total} parameter points have no computed {what} "
                     "(not drawn)")
    if drawn < computed:
        notes.append(f"{drawn} of {computed} parameter points drawn, evenly spaced "
                     "(--max-lines to change)")


def _draw_l2_star(ax, results, l2_index, max_lines, notes):
    """L2*(tau2) per parameter point; returns the legend handles and adds to
    `notes` what is not drawn."""
    tau2 = results.tau2
    order = np.argsort(tau2, kind="stable")
    l2_star = results.field("L2_star")
    every = list(param_points(results))
    computed = [p for p in every if not np.all(np.isnan(l2_star[p + (l2_index,)]))]
    points = subsample(computed, max_lines)
    _shown(notes, len(every), len(computed), len(points), "L2*")
    curves = [(point_label(results, results.param_axes, p), l2_star[p + (l2_index,)][order])
              for p in points]
    finite = np.concatenate([c[np.isfinite(c) & (c > 0)] for _, c in curves])
    if finite.size == 0 and not any(np.any(np.isposinf(c)) for _, c in curves):
        raise ResultsError(f"{results.path}: /points/L2_star holds no computed value")
    top = finite.max() * 3.0 if finite.size else 1.0
    bottom = finite.min() / 3.0 if finite.size else 0.1
    handles = []
    n_zero = n_nan = 0
    for (label, values), color in zip(curves, _colors(len(curves))):
        shown = np.where(np.isfinite(values) & (values > 0), values, np.nan)
        ax.plot(tau2[order], shown, "-", color=color, lw=1.6)
        inf = np.isposinf(values)
        if inf.any():
            ax.plot(tau2[order][inf], np.full(inf.sum(), top), "^", color=color, ms=6,
                    clip_on=False)
        # L2* = 0 (off without antagonist) has no place on a log axis: a
        # marker at the bottom edge.
        zero = values == 0
        if zero.any():
            ax.plot(tau2[order][zero], np.full(zero.sum(), bottom), "v", color=color, ms=6,
                    clip_on=False)
        n_zero += int(zero.sum())
        n_nan += int(np.isnan(values).sum())
        handles.append(Line2D([], [], color=color, lw=1.6, label=label or "L2*"))
    ax.set_yscale("log")
    ax.set_ylim(bottom, top)
    ax.set_ylabel(r"boundary dose $L_2^*$ (molecules)", fontsize=12)
    handles.append(Line2D([], [], ls="", marker="^", color="0.3",
                          label=r"$L_2^* = +\infty$ (no dose switches off)"))
    if n_zero:
        handles.append(Line2D([], [], ls="", marker="v", color="0.3",
                              label=r"$L_2^* = 0$ (off without antagonist)"))
        notes.append(f"{n_zero} points with L2* = 0 (off without antagonist) marked at the "
                     "bottom edge")
    if n_nan:
        notes.append(f"{n_nan} points of the drawn curves have no L2* (failed or not computed): "
                     "gaps")
    return handles


def _draw_contours(ax, results, max_lines, notes):
    """The O_rel = 1 contour in the (tau2, L2) plane per parameter point."""
    tau2, l2 = results.tau2, results.L2
    xo, yo = np.argsort(tau2, kind="stable"), np.argsort(l2, kind="stable")
    o_rel = results.field("O_rel")
    handles = []
    every = list(param_points(results))
    computed = [p for p in every if np.any(np.isfinite(o_rel[p]))]
    points = subsample(computed, max_lines)
    _shown(notes, len(every), len(computed), len(points), "O_rel")
    for p, color in zip(points, _colors(len(points))):
        grid = o_rel[p][np.ix_(yo, xo)]
        label = point_label(results, results.param_axes, p) or "O_rel = 1"
        finite = grid[np.isfinite(grid)]
        if finite.size and finite.min() < 1.0 < finite.max():
            ax.contour(tau2[xo], l2[yo], np.ma.masked_invalid(grid), levels=[1.0],
                       colors=[color], linewidths=1.8)
        else:
            label += " (no crossing)"
        handles.append(Line2D([], [], color=color, lw=1.8, label=label))
    if np.all(l2 > 0) and l2.max() > 10 * l2.min():
        ax.set_yscale("log")
    ax.set_ylabel(r"antagonist dose $L_2$ (molecules)", fontsize=12)
    ax.text(0.02, 0.03, r"below a contour: respond ($O_{rel} > 1$)", transform=ax.transAxes,
            fontsize=9, color="0.3")
    return handles


def plot(results, out, l2_index=0, max_lines=10):
    """Writes the decision-boundary figure of an open Results to `out`."""
    fig, ax = plt.subplots(figsize=(10.0, 5.8))
    notes = []
    try:
        if results.has("L2_star") and results.is_point_field("L2_star"):
            if not 0 <= l2_index < len(results.L2):
                raise ResultsError(f"--L2-index {l2_index} out of range: the file has "
                                   f"{len(results.L2)} L2 value(s)")
            handles = _draw_l2_star(ax, results, l2_index, max_lines, notes)
            method = r"$L_2^*(\tau_2)$ from /points/L2_star"
        elif len(results.L2) >= 2:
            handles = _draw_contours(ax, results, max_lines, notes)
            method = r"contour $O_{rel} = 1$ over the L2 axis"
        else:
            raise ResultsError(
                f"{results.path}: cannot draw a decision boundary: the file has no "
                "/points/L2_star (enable stats.boundary in the job) and its antagonist "
                f"dose axis L2 has {len(results.L2)} value(s) (need at least 2)")
        if results.tau2.min() <= results.tau_c <= results.tau2.max():
            ax.axvline(results.tau_c, color="0.5", ls=":", lw=1.0)
            handles.append(Line2D([], [], ls=":", color="0.5", label=r"$\tau_c$"))
        ax.set_xlabel(r"antagonist binding time $\tau_2$ (s)", fontsize=12)
        ax.grid(alpha=0.3, which="both")
        ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  frameon=False)
        fig.suptitle(f"Decision boundary: model {results.model}", fontsize=14)
        ax.set_title(f"{os.path.basename(results.path)},  {method}", fontsize=10)
        for note in notes:
            print(f"plot_boundary.py: note: {note}", file=sys.stderr)
        if notes:
            fig.text(0.01, 0.01, "Not drawn: " + "; ".join(notes), fontsize=7, color="0.35",
                     ha="left", va="bottom", wrap=True)
        fig.tight_layout(rect=(0, 0.04 if notes else 0, 1, 1))
        fig.savefig(out, dpi=DPI)
    finally:
        plt.close(fig)


def main(argv=None):
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="kpsweep results file (.h5)")
    parser.add_argument("-o", "--output", help="PNG to write (default: FILE_boundary.png)")
    parser.add_argument("--L2-index", type=int, default=0, dest="l2_index",
                        help="L2 index of /points/L2_star to draw (default 0)")
    parser.add_argument("--max-lines", type=int, default=10,
                        help="most parameter points to draw (default 10)")
    args = parser.parse_args(argv)

    def draw(out):
        with Results(args.file) as results:
            plot(results, out, args.l2_index, max(1, args.max_lines))

    return run_plot(args.file, args.output, "_boundary.png", draw)


if __name__ == "__main__":
    sys.exit(main())
