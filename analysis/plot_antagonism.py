#!/usr/bin/python3
"""Antagonism curves FC(tau2) of a kpsweep results file.

    plot_antagonism.py FILE [-o OUT.png] [--max-panels K] [--max-lines K]

Small multiples: one panel per parameter point (per combination of every
parameter axis but the last when the antagonist dose L2 has one value), one
line per L2 value (or per value of the last parameter axis). Each curve
marks the strongest antagonist tau* (from /lines/tau_star when the file has
it, else the refined minimum of the curve), the inflection tau_infl when
/lines/tau_infl exists, and the decision threshold crossing O_rel = 1; a
dashed line marks FC = 1. Prints the path of the PNG it wrote.
"""

import argparse
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from kpsweep import (Results, ResultsError, run_plot,  # noqa: E402
                             crossings, fc_minimum, param_points, point_label,
                             subsample)

DPI = 200


def line_value(results, name, index):
    """The finite value of line field `name` at `index`, else None."""
    if not results.has(name) or results.is_point_field(name):
        return None
    value = float(results.field(name)[index])
    return value if math.isfinite(value) else None


def curve_marks(results, index, fc, o_rel):
    """Marks of one curve: tau*, FC(tau*), tau_infl, threshold crossings.

    index: the line index (parameter indices..., L2 index); fc, o_rel: the
    curve's values along tau2. tau* and FC(tau*) come from the file's
    tau_star / FC_star datasets when present and finite, else from the
    refined minimum of the curve (None in the edge regime).
    """
    tau2 = results.tau2
    tau_star = line_value(results, "tau_star", index)
    fc_star = line_value(results, "FC_star", index)
    if tau_star is None:
        minimum = fc_minimum(tau2, fc)
        if minimum is not None and minimum.position != "lower_edge":
            tau_star, fc_star = minimum.tau, minimum.fc
    if tau_star is not None and fc_star is None:
        fc_star = float(np.interp(tau_star, *sorted_finite(tau2, fc)))
    tau_infl = line_value(results, "tau_infl", index)
    return {
        "tau_star": tau_star,
        "fc_star": fc_star,
        "tau_infl": tau_infl,
        "crossings": [x for x, _ in crossings(tau2, o_rel, 1.0)],
    }


def sorted_finite(x, y):
    """(x, y) restricted to finite y and sorted by x, for np.interp."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    order = np.argsort(x[keep], kind="stable")
    return x[keep][order], y[keep][order]


def draw_curves(ax, results, curves, fc_all, o_rel_all):
    """Draws curves [(line index, label), ...] on ax; returns how many had data."""
    tau2 = results.tau2
    colors = plt.cm.viridis(np.linspace(0.0, 0.85, max(len(curves), 1)))
    drawn = 0
    for (index, label), color in zip(curves, colors):
        fc, o_rel = fc_all[index], o_rel_all[index]
        if not np.any(np.isfinite(fc)):
            continue
        drawn += 1
        ax.plot(*sorted_finite(tau2, fc), color=color, lw=1.6, label=label)
        marks = curve_marks(results, index, fc, o_rel)
        if marks["tau_star"] is not None:
            ax.plot(marks["tau_star"], marks["fc_star"], "o", ms=6, mfc=color, mec="black",
                    mew=0.8, zorder=5)
        if marks["tau_infl"] is not None:
            y = np.interp(marks["tau_infl"], *sorted_finite(tau2, fc))
            ax.plot(marks["tau_infl"], y, "D", ms=5, mfc="white", mec=color, mew=1.2, zorder=5)
        for x in marks["crossings"]:
            y = np.interp(x, *sorted_finite(tau2, fc))
            ax.plot(x, y, "X", ms=8, color="crimson", mec="black", mew=0.5, zorder=6)
    ax.axhline(1.0, color="0.3", ls="--", lw=1.0)
    if tau2.min() <= results.tau_c <= tau2.max():
        ax.axvline(results.tau_c, color="0.5", ls=":", lw=1.0)
    ax.grid(alpha=0.25)
    return drawn


def legend_handles():
    """Proxy artists explaining the markers."""
    from matplotlib.lines import Line2D
    return [
        Line2D([], [], ls="--", color="0.3", label="FC = 1"),
        Line2D([], [], ls=":", color="0.5", label=r"$\tau_c$"),
        Line2D([], [], ls="", marker="o", mfc="0.7", mec="black", label=r"$\tau^*$ (strongest)"),
        Line2D([], [], ls="", marker="D", mfc="white", mec="0.3", label=r"$\tau_{infl}$"),
        Line2D([], [], ls="", marker="X", color="crimson", mec="black",
               label=r"$O_{rel} = 1$ (decision flips)"),
    ]


def layout(results, max_panels, max_lines):
    """Panels [(title, [(line index, label), ...]), ...] for the file's axes."""
    params = results.param_axes
    n_l2 = len(results.L2)
    if n_l2 > 1 or not params:
        panel_axes, line_axis = params, None
    else:
        panel_axes, line_axis = params[:-1], params[-1]
    panels = []
    for p in param_points(results, panel_axes, max_panels):
        curves = []
        if line_axis is None:
            for k in subsample(range(n_l2), max_lines):
                curves.append((p + (k,), f"L2 = {results.L2[k]:g}"))
        else:
            for k in subsample(range(len(results.axes[line_axis])), max_lines):
                curves.append((p + (k, 0), point_label(results, [line_axis], (k,))))
        panels.append((point_label(results, panel_axes, p), curves))
    return panels


def plot(results, out, max_panels=12, max_lines=8):
    """Writes the antagonism figure of an open Results to `out`."""
    fc_all, o_rel_all = results.field("FC"), results.field("O_rel")
    panels = layout(results, max_panels, max_lines)
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axs = plt.subplots(nrows, ncols, figsize=(4.6 * ncols + 0.4, 3.6 * nrows + 1.0),
                            squeeze=False, sharex=True)
    # Panels that share their curves' labels get one legend for all of them,
    # in a free grid cell when there is one: none sits on a panel's curves.
    shared = len(panels) > 1 and all([c[1] for c in curves] == [c[1] for c in panels[0][1]]
                                     for _, curves in panels)
    spare = list(axs.flat[len(panels):])
    drawn = 0
    for ax, (title, curves) in zip(axs.flat, panels):
        drawn += draw_curves(ax, results, curves, fc_all, o_rel_all)
        ax.set_title(title or "", fontsize=11)
        if not shared:
            ax.legend(fontsize=8, loc="best", framealpha=0.85)
    for ax in spare:
        ax.set_visible(False)
    markers = legend_handles()
    if shared:
        handles, labels = axs.flat[0].get_legend_handles_labels()
        if spare:
            spare[0].set_visible(True)
            spare[0].axis("off")
            spare[0].legend(handles, labels, loc="center", fontsize=10, frameon=False)
        else:
            markers = handles + markers
    for ax in axs[:, 0]:
        ax.set_ylabel("fold change FC", fontsize=11)
    for col in range(ncols):
        bottom = axs[(len(panels) - 1 - col) // ncols, col]
        bottom.tick_params(labelbottom=True)
        bottom.set_xlabel(r"antagonist binding time $\tau_2$ (s)", fontsize=11)
    if drawn == 0:
        plt.close(fig)
        raise ResultsError(f"{results.path}: no computed antagonism curve")
    fig.legend(handles=markers, loc="lower center", ncol=min(len(markers), 5), fontsize=9,
               frameon=False)
    fig.suptitle(f"Antagonism curves: model {results.model}, {os.path.basename(results.path)}"
                 f"  (agonist fixed, " + r"$\tau_c$" + f" = {results.tau_c:g} s)", fontsize=13)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(out, dpi=DPI)
    plt.close(fig)


def main(argv=None):
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="kpsweep results file (.h5)")
    parser.add_argument("-o", "--output", help="PNG to write (default: FILE_antagonism.png)")
    parser.add_argument("--max-panels", type=int, default=12, help="most panels (default 12)")
    parser.add_argument("--max-lines", type=int, default=8,
                        help="most curves per panel (default 8)")
    args = parser.parse_args(argv)

    def draw(out):
        with Results(args.file) as results:
            plot(results, out, max(1, args.max_panels), max(1, args.max_lines))

    return run_plot(args.file, args.output, "_antagonism.png", draw)


if __name__ == "__main__":
    sys.exit(main())
