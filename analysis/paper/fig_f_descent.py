#!/usr/bin/python3
"""Figure f (descent): the published histogram descent's outcome over (N, m).

    fig_f_descent.py b_descent.h5 -o fig_f_descent.png

Heatmaps over (N, m): the steps the descent needed to flip the decision
(or that it ran without flipping), the mean binding time the moved ligands
reached relative to tau_c, and the share of them that ended in the first
bin [0, w).
"""

import math
import sys

import common
from common import np, plt
from matplotlib.colors import LogNorm

import fig_b_descent

JOBS = ["b_descent"]


def make(paths, out):
    """Draws figure f (descent); returns the caption and the tables."""
    with common.Results(paths[0]) as r:
        common.need_axes(r, "N", "m")
        common.need(r, "descent_flipped", "descent_steps", "descent_tau_mean",
                    "descent_frac_near0")
        Ns, ms, tau_c = r.axes["N"], r.axes["m"], r.tau_c
        flipped, steps = r.field("descent_flipped")[..., 0], r.field("descent_steps")[..., 0]
        tmean = r.field("descent_tau_mean")[..., 0] / tau_c
        near0 = r.field("descent_frac_near0")[..., 0]
        max_steps = fig_b_descent._max_steps(r)
        if np.all(flipped < 0):
            raise common.ResultsError(f"{r.path}: no descent ran (attacks.histogram)")
    fig, axs = plt.subplots(1, 3, figsize=(16, 4.8))
    panels = (
        (np.where(flipped >= 0, steps, np.nan).astype(float), "descent steps",
         LogNorm(1, max(max_steps, 2)), "cividis"),
        (np.where(flipped >= 0, tmean, np.nan), r"mean $\tau/\tau_c$ of the moved ligands",
         None, "viridis"),
        (np.where(flipped >= 0, near0, np.nan), "share ending in the first bin", None, "magma"),
    )
    for k, (ax, (z, label, norm, cmap)) in enumerate(zip(axs, panels)):
        kw = {"norm": norm} if norm is not None else {"vmin": 0, "vmax": 1}
        image = ax.imshow(np.ma.masked_invalid(z).T, origin="lower", cmap=cmap, aspect="auto", **kw)
        fig.colorbar(image, ax=ax, pad=0.02).set_label(label)
        for i, N in enumerate(Ns):
            for j, m in enumerate(ms):
                if m >= N:
                    text, col = "m >= N", "0.5"
                elif flipped[i, j] < 0:
                    text, col = "starts\noff", "0.5"
                elif k == 0:
                    n = int(steps[i, j])
                    count = f"{n:.0e}".replace("e+0", "e") if n >= 100000 else str(n)
                    text = f"flip\n{count}" if flipped[i, j] == 1 else f"no flip\n{count}"
                    col = "k" if steps[i, j] > 30 else "white"
                else:
                    v = z[i, j]
                    text, col = f"{v:.2f}", ("white" if v < 0.5 else "k")
                ax.text(i, j, text, ha="center", va="center", fontsize=8, color=col)
        ax.set_xticks(range(len(Ns)), [f"{v:g}" for v in Ns])
        ax.set_yticks(range(len(ms)), [f"{v:g}" for v in ms])
        ax.set_xlabel("N")
        ax.set_ylabel("m")
        ax.set_title(label)
    fig.suptitle(rf"Published descent on $T_{{N,m}}$ (at most {max_steps:.3g} steps, "
                 rf"$\tau_c$ = {tau_c:g} s)", y=1.02)
    fig.tight_layout()
    common.save(fig, out)
    caption = (
        "Outcome of the published histogram descent over (N, m) for the population of "
        f"figure b (at most {max_steps} steps): the steps to the flip ('no flip': the limit was "
        "reached), the mean binding time the moved ligands reached relative to tau_c and the "
        "share of them in the first bin [0, 0.2 s) at the end; 'starts off': the population "
        "does not respond (m = 0: the self ligands already dilute S_0). Claim tested: in "
        "steep networks (m <= 1) the descent flips quickly by pushing ligands to the weakest "
        "binding times or a low tau*, in flat ones (m > 1) the ligands gather at tau* close "
        "to tau_c and the descent needs many more steps, or does not flip at all.")
    return {"caption": caption, "tables": []}


if __name__ == "__main__":
    sys.exit(common.cli(__doc__, JOBS, make))
