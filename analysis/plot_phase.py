#!/usr/bin/python3
"""Regime phase diagram of a kpsweep results file.

    plot_phase.py FILE [-o OUT.png] [--x AXIS --y AXIS] [--L2-index K]
                  [--label regime|edge_class]

A heatmap of tau*/tau_c, the strongest antagonist's binding time relative to
the threshold, over two parameter axes (default: the first two; N and m for
`ideal`). Cells without an interior tau* (the "edge" regime: the weakest
ligands antagonise most) are hatched, invalid parameter combinations are
grey. With one parameter axis it draws tau*/tau_c against it. The
antagonist dose L2 can be an axis too (--x L2 or --y L2; by default when the
file sweeps no parameter but several doses). A file with no parameter axis
and one dose has nothing to draw a phase diagram over: exit status 2 with a
message (plot_antagonism.py draws its curve). Other parameter axes are held
at their first value.
`--label edge_class` draws the other reading of the regimes instead: the
shape at the weak-ligand edge (steep, or flat where the gradient fades
toward the weakest ligands), annotated with the edge exponent p.
tau*, FC(tau*) and the regime come from /lines/tau_star, /lines/tau_star_rel,
/lines/FC_star and /lines/regime when the file has them, else from the FC
curves. Prints the path of the PNG it wrote.
"""

import argparse
import math
import os
import sys
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

import plot_antagonism  # noqa: E402
from kpsweep import (Results, ResultsError, axis_label, run_plot,  # noqa: E402
                             fc_minimum)

DPI = 200

# Regimes of a phase-table cell.
CRITICAL = "critical"   # interior tau* on the tau2 axis
BEYOND = "beyond"       # FC still falls at the top of the axis: tau* >= its last value
EDGE = "edge"           # no interior tau*: minimum at the lowest tau2
INVALID = "invalid"     # every point has status invalid_params
MISSING = "missing"     # nothing computed (or every point failed)
NONE = "none"           # no meaningful antagonism (min FC >= 1 - fc_tol)
UNKNOWN = "unknown"     # the file could not decide (a failed point, grid and gradient disagree)

# edge_class of a cell.
STEEP = "steep"
FLAT = "flat"


class PhaseTable(NamedTuple):
    """tau* over up to two parameter axes, at one L2 index.

    x, y: the axis names (None when absent); x_values, y_values: their
    values; fixed: {axis: value} of the other parameter axes (held at index
    0); L2: the antagonist dose; tau_c: the threshold binding time (s).
    The cell arrays have shape (len(x_values), len(y_values)) (a missing
    axis counts as length 1): tau_star (s, NaN without one), tau_star_rel
    (tau*/tau_c), fc_star (FC at tau*), o_rel_star (O_rel at tau*, the T of
    the closed form for `ideal`), regime (one of the constants above) and
    from_file (True where the file's line statistics were used).
    """

    x: str
    y: str
    x_values: np.ndarray
    y_values: np.ndarray
    fixed: dict
    L2: float
    tau_c: float
    tau_star: np.ndarray
    tau_star_rel: np.ndarray
    fc_star: np.ndarray
    o_rel_star: np.ndarray
    regime: np.ndarray
    from_file: np.ndarray
    edge_class: np.ndarray = None  # STEEP / FLAT / UNKNOWN from the file (None: not stored)
    p_edge: np.ndarray = None      # edge exponent from the file
    units: dict = None             # axis name -> units, from the file


def choose_axes(results, x=None, y=None):
    """The (x, y) axes to plot: given names (a parameter axis or the antagonist
    dose L2), else the first two parameter axes, else L2 when it has several
    values. A ResultsError when there is nothing to draw a phase diagram over."""
    params = results.param_axes
    usable = params + ["L2"]
    for name in (x, y):
        if name is not None and name not in usable:
            raise ResultsError(f"{results.path}: no parameter axis {name!r} "
                               f"(axes: {', '.join(usable)})")
    if x is not None and x == y:
        raise ResultsError("--x and --y must differ")
    if x is None:
        x = next((p for p in params if p != y), None)
    if y is None:
        y = next((p for p in params if p != x), None)
    if x is None:
        x, y = y, None
    if x is None and len(results.L2) > 1:
        x = "L2"
    if x is None:
        raise ResultsError(
            f"{results.path}: no parameter axis to draw a phase diagram over (the job sweeps "
            f"only tau2 and {len(results.L2)} L2 value(s)); sweep a parameter under axes:, "
            "give the antagonist dose several values (then --x L2), or draw the curve with "
            "plot_antagonism.py")
    return x, y


def _file_stats(results, index):
    """(regime, tau*, tau*/tau_c, FC*) of a line from the file, or None."""
    if not results.has("regime") or results.is_point_field("regime"):
        return None
    meanings = results.flags("regime")
    if not meanings:
        return None
    kind = meanings.get(int(results.field("regime")[index]), UNKNOWN)
    if kind == UNKNOWN:
        return None
    if kind in (EDGE, NONE):
        return kind, math.nan, math.nan, math.nan

    def value(name):
        if not results.has(name) or results.is_point_field(name):
            return math.nan
        return float(results.field(name)[index])

    tau = value("tau_star")
    rel = value("tau_star_rel")
    if not math.isfinite(rel):
        rel = tau / results.tau_c
    if not math.isfinite(tau):
        tau = rel * results.tau_c
    if kind == BEYOND:
        return None
    return CRITICAL, tau, rel, value("FC_star")


def phase_table(path, x=None, y=None, l2_index=0):
    """Computes the PhaseTable of a results file (see the module docstring)."""
    with Results(path) as results:
        return _phase_table(results, x, y, l2_index)


def _phase_table(results, x, y, l2_index):
    x, y = choose_axes(results, x, y)
    if not 0 <= l2_index < len(results.L2):
        raise ResultsError(f"--L2-index {l2_index} out of range: the file has "
                           f"{len(results.L2)} L2 value(s)")
    params = results.param_axes
    fixed = {p: float(results.axes[p][0]) for p in params if p not in (x, y)}

    def line_index(pos):
        """The line (parameter indices..., L2 index) of a cell; L2 may be a plot axis."""
        return tuple(pos.get(p, 0) for p in params) + (pos.get("L2", l2_index),)
    xv = results.axes[x] if x else np.array([math.nan])
    yv = results.axes[y] if y else np.array([math.nan])
    tau2 = results.tau2
    fc_all, o_rel_all = results.field("FC"), results.field("O_rel")
    status_all = results.field("status")
    invalid = results.status_code("invalid_params")
    shape = (len(xv), len(yv))
    cells = {name: np.full(shape, math.nan) for name in ("tau", "rel", "fc", "orel")}
    regime = np.full(shape, MISSING, dtype=object)
    from_file = np.zeros(shape, dtype=bool)
    for i, j in np.ndindex(*shape):
        index = line_index({x: i, y: j})
        fc, o_rel, status = fc_all[index], o_rel_all[index], status_all[index]
        stats = _file_stats(results, index)
        if stats is not None:
            regime[i, j], tau, rel, fc_star = stats
            from_file[i, j] = True
        elif np.all(status == invalid):
            regime[i, j] = INVALID
            continue
        else:
            minimum = fc_minimum(tau2, fc)
            if minimum is None:
                continue
            regime[i, j] = {"interior": CRITICAL, "upper_edge": BEYOND,
                            "lower_edge": EDGE}[minimum.position]
            if regime[i, j] == EDGE:
                continue
            tau, fc_star = minimum.tau, minimum.fc
            rel = tau / results.tau_c
        cells["tau"][i, j], cells["rel"][i, j], cells["fc"][i, j] = tau, rel, fc_star
        if math.isfinite(tau):
            curve_x, curve_y = plot_antagonism.sorted_finite(tau2, o_rel)
            if curve_x.size:
                cells["orel"][i, j] = np.interp(tau, curve_x, curve_y)
    edge_class, p_edge = None, None
    meanings = results.flags("edge_class")
    if meanings:
        codes, pe = results.field("edge_class"), results.field("p_edge")
        edge_class = np.full(shape, UNKNOWN, dtype=object)
        p_edge = np.full(shape, math.nan)
        for i, j in np.ndindex(*shape):
            index = line_index({x: i, y: j})
            if regime[i, j] != INVALID:
                edge_class[i, j] = meanings.get(int(codes[index]), UNKNOWN)
                p_edge[i, j] = float(pe[index])
            else:
                edge_class[i, j] = INVALID
    l2 = math.nan if "L2" in (x, y) else float(results.L2[l2_index])
    return PhaseTable(x, y, xv, yv, fixed, l2, results.tau_c,
                      cells["tau"], cells["rel"], cells["fc"], cells["orel"], regime,
                      from_file, edge_class, p_edge, dict(results.axis_units))


def _subtitle(table, path):
    parts = [os.path.basename(path)] + ([f"L2 = {table.L2:g}"] if math.isfinite(table.L2) else [])
    parts += [rf"$\tau_c$ = {table.tau_c:g} s"]
    parts += [f"{k} = {v:g}" for k, v in table.fixed.items()]
    return ",  ".join(parts)


def _ticks(ax, table):
    """Cell labels on both axes; on a long axis (L2, say) every k-th, at most 12."""
    for values, set_ticks in ((table.x_values, ax.set_xticks), (table.y_values, ax.set_yticks)):
        step = max(1, math.ceil(len(values) / 12))
        keep = range(0, len(values), step)
        set_ticks(list(keep), [f"{values[k]:.4g}" for k in keep])


def _heatmap(ax, fig, table):
    """Draws the two-axis phase diagram."""
    nx, ny = len(table.x_values), len(table.y_values)
    rel = np.where(np.isin(table.regime, (CRITICAL, BEYOND)), table.tau_star_rel, np.nan)
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("white")
    image = ax.imshow(np.ma.masked_invalid(rel.T), origin="lower", cmap=cmap, vmin=0.0,
                      vmax=1.0, aspect="auto", extent=(-0.5, nx - 0.5, -0.5, ny - 0.5))
    bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.03)
    bar.set_label(r"strongest antagonist $\tau^*/\tau_c$", fontsize=12)
    size = 11 if max(nx, ny) <= 8 else 8 if max(nx, ny) <= 14 else 0
    for i, j in np.ndindex(nx, ny):
        kind = table.regime[i, j]
        text, color = "", "black"
        if kind in (CRITICAL, BEYOND):
            value = table.tau_star_rel[i, j]
            text = f"{value:.2f}" if kind == CRITICAL else f"\u2265{value:.2f}"
            color = "white" if value < 0.6 else "black"
        elif kind == EDGE:
            ax.add_patch(Rectangle((i - 0.5, j - 0.5), 1, 1, facecolor="#f4e3c1",
                                   edgecolor="#b07d2b", hatch="///", lw=0.0))
            text = "edge:\nnone"
        elif kind == INVALID:
            ax.add_patch(Rectangle((i - 0.5, j - 0.5), 1, 1, facecolor="0.8", lw=0.0))
            text, color = "invalid", "0.45"
        elif kind == NONE:
            text, color = "none", "0.45"
        else:
            text, color = "n/a", "0.45"
        if size:
            ax.text(i, j, text, ha="center", va="center", fontsize=size, color=color)
    _ticks(ax, table)
    ax.set_xticks(np.arange(-0.5, nx), minor=True)
    ax.set_yticks(np.arange(-0.5, ny), minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel(axis_label(table.x, table.units), fontsize=12)
    ax.set_ylabel(axis_label(table.y, table.units), fontsize=12)
    ax.legend(handles=[
        Patch(facecolor="#f4e3c1", edgecolor="#b07d2b", hatch="///",
              label=r"edge regime: no interior $\tau^*$"),
        Patch(facecolor="0.8", label="invalid parameters"),
        Patch(facecolor="none", edgecolor="none",
              label=r"$\geq$ x: FC still falls at the end of the $\tau_2$ axis"),
    ], loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=9, frameon=False)


EDGE_COLOURS = {STEEP: "#9ecae1", FLAT: "#fdae6b", UNKNOWN: "white", INVALID: "0.8"}


def _edge_heatmap(ax, table):
    """Draws the edge_class reading: steep / flat cells with p annotated."""
    if table.edge_class is None:
        raise ResultsError("the file has no /lines/edge_class (written by kpsweep "
                           "0.3 and later); draw --label regime instead")
    nx, ny = len(table.x_values), len(table.y_values)
    size = 11 if max(nx, ny) <= 8 else 8 if max(nx, ny) <= 14 else 0
    for i, j in np.ndindex(nx, ny):
        kind = table.edge_class[i, j]
        ax.add_patch(Rectangle((i - 0.5, j - 0.5), 1, 1, lw=0.0,
                               facecolor=EDGE_COLOURS.get(kind, "white")))
        if kind in (STEEP, FLAT):
            p = table.p_edge[i, j]
            text = kind + (f"\np = {p:.2f}" if math.isfinite(p) else "")
            if table.regime[i, j] in (BEYOND, EDGE, NONE):
                text += f"\n({table.regime[i, j]})"
        else:
            text = "invalid" if kind == INVALID else "n/a"
        if size:
            ax.text(i, j, text, ha="center", va="center", fontsize=size,
                    color="black" if kind in (STEEP, FLAT) else "0.45")
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(-0.5, ny - 0.5)
    _ticks(ax, table)
    ax.set_xlabel(axis_label(table.x, table.units), fontsize=12)
    ax.set_ylabel(axis_label(table.y, table.units), fontsize=12)
    ax.legend(handles=[
        Patch(facecolor=EDGE_COLOURS[STEEP], label="steep: the weakest ligands feel a gradient"),
        Patch(facecolor=EDGE_COLOURS[FLAT], label=r"flat: gradient fades below $\tau_{infl}$"),
        Patch(facecolor="0.8", label="invalid parameters"),
    ], loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=9, frameon=False)


def _line_plot(ax, table):
    """Draws tau*/tau_c against the single parameter axis."""
    xv, rel, regime = table.x_values, table.tau_star_rel[:, 0], table.regime[:, 0]
    crit = np.isin(regime, (CRITICAL, BEYOND))
    ax.plot(xv[crit], rel[crit], "-o", color="tab:blue", lw=1.6, ms=5,
            label=r"$\tau^*/\tau_c$ (critical regime)")
    beyond = regime == BEYOND
    if beyond.any():
        ax.plot(xv[beyond], rel[beyond], "^", color="tab:orange", ms=8,
                label=r"$\tau^* \geq$ end of the $\tau_2$ axis")
    edge = regime == EDGE
    if edge.any():
        ax.plot(xv[edge], np.zeros(edge.sum()), "x", color="#b07d2b", ms=9, mew=2,
                label=r"edge regime: no interior $\tau^*$")
    if np.all(xv > 0) and xv.max() > 20 * xv.min():
        ax.set_xscale("log")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel(axis_label(table.x, table.units), fontsize=12)
    ax.set_ylabel(r"strongest antagonist $\tau^*/\tau_c$", fontsize=12)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)


def plot(path, out, x=None, y=None, l2_index=0, label="regime"):
    """Writes the phase diagram of results file `path` to `out` (label:
    "regime" or "edge_class", the reading of the regimes to draw)."""
    with Results(path) as results:
        table = _phase_table(results, x, y, l2_index)
        if label == "edge_class" and table.y is None:
            raise ResultsError("--label edge_class needs two parameter axes")
        if table.y is None:
            fig, ax = plt.subplots(figsize=(7.5, 5.5))
            _line_plot(ax, table)
        else:
            nx, ny = len(table.x_values), len(table.y_values)
            fig, ax = plt.subplots(figsize=(min(4.0 + 0.9 * nx, 16), min(3.2 + 0.75 * ny, 14)))
            if label == "edge_class":
                _edge_heatmap(ax, table)
            else:
                _heatmap(ax, fig, table)
        what = "edge class (weak-ligand edge)" if label == "edge_class" else "regime phase diagram"
        fig.suptitle(f"{what[0].upper() + what[1:]}: model {results.model}", fontsize=14)
        ax.set_title(_subtitle(table, path), fontsize=10)
        fig.tight_layout()
        fig.savefig(out, dpi=DPI)
        plt.close(fig)


def main(argv=None):
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", help="kpsweep results file (.h5)")
    parser.add_argument("-o", "--output", help="PNG to write (default: FILE_phase.png)")
    parser.add_argument("--x", help="parameter axis along x (default: the first)")
    parser.add_argument("--y", help="parameter axis along y (default: the next)")
    parser.add_argument("--L2-index", type=int, default=0, dest="l2_index",
                        help="index into the antagonist dose axis L2 (default 0)")
    parser.add_argument("--label", choices=("regime", "edge_class"), default="regime",
                        help="which reading of the regimes to draw: regime (where the "
                             "strongest antagonist sits, tau*/tau_c; default) or edge_class "
                             "(steep or flat at the weakest ligands)")
    args = parser.parse_args(argv)
    suffix = "_edge.png" if args.label == "edge_class" else "_phase.png"
    return run_plot(args.file, args.output, suffix,
                    lambda out: plot(args.file, out, args.x, args.y, args.l2_index, args.label))


if __name__ == "__main__":
    sys.exit(main())
