#!/usr/bin/python3
"""Figure e (top): the response landscape O/O_th over (tau2, log L2).

    fig_e_sweep.py e_landscape_sweep.h5 -o fig_e_sweep.png

One panel per m of the file (steep (5, 0) and flat (5, 3) ideal
classifiers): O/O_th on a diverging colour scale centred on the threshold,
the contour O/O_th = 1 and the engine's boundary L2*(tau2) on top. The
table checks L2* against -L1 w(tau1) / w(tau2).
"""

import math
import sys

import common
from common import np, plt
from matplotlib.colors import TwoSlopeNorm
from matplotlib.lines import Line2D

JOBS = ["e_landscape_sweep"]


def make(paths, out):
    """Draws figure e (sweep); returns the caption and the tables."""
    with common.Results(paths[0]) as r:
        if r.model != "ideal":
            raise common.ResultsError(f"{r.path}: model {r.model}, figure e needs ideal")
        common.need_axes(r, "m")
        common.need(r, "O_rel", "L2_star")
        if len(r.L2) < 3:
            raise common.ResultsError(f"{r.path}: needs an L2 axis (has {len(r.L2)} value(s))")
        tau2, L2, tau_c, ms = r.tau2, r.L2, r.tau_c, r.axes["m"]
        N = float(r.attrs["param_N"])
        L1, t1 = float(r.attrs["agonist_L"]), float(r.attrs["agonist_tau"])
        o_rel, l2s = r.field("O_rel"), r.field("L2_star")
    fig, axs = plt.subplots(1, len(ms), figsize=(6.4 * len(ms), 4.8), squeeze=False)
    rows = []
    for j, (m, ax) in enumerate(zip(ms, axs[0])):
        z = np.log10(o_rel[j])
        lim = max(abs(np.nanmin(z)), abs(np.nanmax(z)), 1e-3)
        image = ax.pcolormesh(tau2, L2, z, cmap="RdBu_r", shading="nearest",
                              norm=TwoSlopeNorm(0.0, -lim, lim))
        ax.contour(tau2, L2, z, levels=[0.0], colors="k", linewidths=1.6)
        star = l2s[j, 0]
        shown = np.where(np.isfinite(star) & (star > 0), star, np.nan)
        ax.plot(tau2, shown, color="gold", lw=1.4, ls="--")
        ax.set_yscale("log")
        ax.set_ylim(L2[0], L2[-1])
        ax.set_xlabel(r"antagonist binding time $\tau_2$ (s)")
        ax.set_ylabel(r"antagonist dose $L_2$ (molecules)")
        kind = "steep" if m <= 1 else "flat"
        ax.set_title(f"ideal (N, m) = ({N:g}, {m:g}): {kind} edge")
        bar = fig.colorbar(image, ax=ax, pad=0.02)
        bar.set_label(r"$\log_{10}(O/O_{th})$")
        with np.errstate(divide="ignore"):
            expected = -L1 * common.w(t1, N, m, tau_c) / common.w(tau2, N, m, tau_c)
        expected = np.where(tau2 < tau_c, expected, np.inf)
        err = [common.rel_error(e, c) for e, c in zip(expected, star)]
        k = int(np.nanargmax(err))
        rows.append(common.row(f"m={m:g}: worst of {len(tau2)} tau2 (tau2={tau2[k]:.4g} s)",
                               expected[k], star[k], 1e-6))
        mid = len(tau2) // 2
        rows.append(common.row(f"m={m:g}: tau2={tau2[mid]:.4g} s", expected[mid], star[mid], 1e-6))
    fig.legend(handles=[Line2D([], [], color="k", lw=1.6, label=r"$O/O_{th} = 1$ on the grid"),
                        Line2D([], [], color="gold", ls="--", lw=1.4,
                               label=r"$L_2^*(\tau_2)$ from the engine's boundary search")],
               loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.06))
    fig.suptitle(rf"Response landscape over the antagonist: {L1:g} agonists at {t1:g} s, "
                 rf"$\tau_c$ = {tau_c:g} s (red: respond, blue: not)", y=1.02)
    fig.tight_layout()
    common.save(fig, out)
    caption = (
        f"O/O_th of the ideal classifier over the antagonist's binding time tau2 "
        f"({len(tau2)} values, {tau2[0]:g}..{tau2[-1]:g} s) and dose L2 ({len(L2)} log values, "
        f"{L2[0]:g}..{L2[-1]:g}), {L1:g} agonists at {t1:g} s, tau_c = {tau_c:g} s, for a steep "
        f"(N, m) = ({N:g}, {ms[0]:g}) and a flat ({N:g}, {ms[-1]:g}) network. Black: the "
        "threshold O/O_th = 1 on the grid; dashed gold: the engine's L2*(tau2). Claim tested: "
        "for m = 0 a finite dose of even the weakest ligands switches the response off "
        "(L2* levels off as tau2 -> 0), for m > 1 the boundary rises steeply there (the "
        "weakest ligands cannot antagonise: the dose needed diverges like tau2^-m). Table: L2* against the "
        "closed form -L1 w(tau1)/w(tau2) (the worst tau2 of each line and one mid-axis value).")
    table = common.table("e_L2_star", "Decision boundary L2*(tau2) (figure e)",
                         "L2* = -L1 w(tau1)/w(tau2), w(tau) = tau^m (tau^(N-m) - tau_c^(N-m))",
                         1e-6, rows)
    return {"caption": caption, "tables": [table]}


if __name__ == "__main__":
    sys.exit(common.cli(__doc__, JOBS, make))
