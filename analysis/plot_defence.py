#!/usr/bin/python3
"""Plots a defence sweep file (kpsweep defence sweep, docs/defence.md).

Left: robust accuracy over (N, m) at one eps and attack, for one theta
(default: the theta whose best layer is most robust) -- the networks'
phase diagram; m >= N cells (invalid layers) stay blank.
Right: robust accuracy against eps for the undefended network, the most
robust defended one and the adversarially trained one (those present).
With --landscape L.png also the loss landscapes (a job with `landscape`):
the mean test loss over (u along the FGSM direction, v along a random one)
for the undefended network and the most robust proofreading layer, side by
side on one colour scale.

usage: plot_defence.py FILE.h5 -o OUT.png [--eps E] [--attack pgd] [--theta T]
                       [--landscape L.png]
Exit 2 with a message when the file lacks what the plot needs. The drawing
functions serve analysis/paper_report.py too (they raise PlotError).
"""
import argparse
import sys

import numpy as np

NEEDED = ["eps", "attack", "N", "m", "theta", "kind", "status", "clean_accuracy",
          "robust_accuracy"]
GRID, UNDEFENDED, ADVERSARIAL = 0, 1, 2
COMPUTED = 1


LANDSCAPE = ["loss_landscape", "landscape_u", "landscape_v"]


class PlotError(Exception):
    """The file lacks what a drawing needs (the message says what)."""


def load(path):
    """The datasets of a defence sweep file as a dict (the landscape's if present)."""
    import h5py
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise PlotError(f"{path}: cannot open as HDF5 ({e})")
    with f:
        missing = [k for k in NEEDED if k not in f]
        if missing:
            raise PlotError(f"{path}: not a defence sweep file (missing "
                            f"{', '.join('/' + k for k in missing)})")
        d = {k: f[k][()] for k in NEEDED + LANDSCAPE + ["mean_flip_eps"] if k in f}
        d["n_attack"] = int(f.attrs.get("n_attack", 0))
        d["n_spsa"] = int(f.attrs.get("n_spsa", 0))
        d["n_test"] = int(f.attrs.get("n_test", 0))
        d["landscape_images"] = int(f.attrs.get("landscape_images", 0))
    d["attack"] = [a.decode() if isinstance(a, bytes) else str(a) for a in d["attack"]]
    d["path"] = path
    return d


def select(d, eps, attack):
    """Indices (eps, attack) of the robust accuracy the plots rank by."""
    if attack not in d["attack"]:
        raise PlotError(f"{d['path']}: no attack {attack} (has {', '.join(d['attack'])})")
    close = np.nonzero(np.isclose(d["eps"], eps))[0]
    if close.size == 0:
        raise PlotError(f"{d['path']}: no eps {eps} (has {', '.join(f'{e:g}' for e in d['eps'])})")
    if not (d["status"] == COMPUTED).any():
        raise PlotError(f"{d['path']}: no task computed yet")
    return int(close[0]), d["attack"].index(attack)


def label(d, t):
    """A task's name: the layer or the baseline."""
    if d["kind"][t] == UNDEFENDED:
        return "undefended"
    if d["kind"][t] == ADVERSARIAL:
        return "adversarially trained"
    return f"T_{{{d['N'][t]},{d['m'][t]}}}, theta {d['theta'][t]:g}"


def best_layer(d, ei, ai):
    """The computed grid task with the highest robust accuracy at (ei, ai), or None."""
    grid = (d["status"] == COMPUTED) & (d["kind"] == GRID)
    if not grid.any():
        return None
    rob = d["robust_accuracy"][:, ei, ai]
    return int(np.nonzero(grid)[0][np.nanargmax(rob[grid])])


def first_of(d, kind):
    idx = np.nonzero((d["status"] == COMPUTED) & (d["kind"] == kind))[0]
    return int(idx[0]) if idx.size else None


def draw_summary(d, out, eps=0.1, attack="pgd", theta=None):
    """The phase diagram over (N, m) and the accuracy-against-eps curves into out."""
    ei, ai = select(d, eps, attack)
    ok = d["status"] == COMPUTED
    rob = d["robust_accuracy"][:, ei, ai]
    grid = ok & (d["kind"] == GRID)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))

    best = None
    if grid.any():
        thetas = np.unique(d["theta"][grid])
        if theta is None:
            theta = max(thetas, key=lambda t: np.nanmax(rob[grid & (d["theta"] == t)]))
        if not np.isclose(thetas, theta).any():
            plt.close(fig)
            raise PlotError(f"{d['path']}: no theta {theta} (has {', '.join(f'{t:g}' for t in thetas)})")
        sel = grid & np.isclose(d["theta"], theta)
        Ns, ms = np.unique(d["N"][d["kind"] == GRID]), np.unique(d["m"][d["kind"] == GRID])
        img = np.full((len(ms), len(Ns)), np.nan)
        for t in np.nonzero(sel)[0]:
            img[np.searchsorted(ms, d["m"][t]), np.searchsorted(Ns, d["N"][t])] = rob[t]
        im = ax1.imshow(img, origin="lower", cmap="viridis", vmin=0, vmax=1, aspect="auto")
        for i in range(len(ms)):
            for j in range(len(Ns)):
                if np.isfinite(img[i, j]):
                    ax1.text(j, i, f"{img[i, j]:.2f}", ha="center", va="center",
                             color="w" if img[i, j] < 0.6 else "k")
        ax1.set_xticks(range(len(Ns)), [str(n) for n in Ns])
        ax1.set_yticks(range(len(ms)), [str(m) for m in ms])
        ax1.set_xlabel("proofreading steps N")
        ax1.set_ylabel("feedback order m")
        ax1.set_title(f"{attack} accuracy at eps {d['eps'][ei]:g}, theta {theta:g}")
        fig.colorbar(im, ax=ax1, label="robust accuracy")
        best = best_layer(d, ei, ai)
    else:
        ax1.set_axis_off()
        ax1.text(0.5, 0.5, "no grid layer computed", ha="center", transform=ax1.transAxes)

    curves = []
    for kind in (UNDEFENDED, ADVERSARIAL):
        t = first_of(d, kind)
        if t is not None:
            curves.append((t, label(d, t)))
    if best is not None:
        curves.append((best, label(d, best) + " (most robust layer)"))
    eps_axis = np.concatenate([[0.0], d["eps"]])
    for t, name in curves:
        acc = np.concatenate([[d["clean_accuracy"][t]], d["robust_accuracy"][t, :, ai]])
        ax2.plot(eps_axis, acc, "o-", label=name)
    ax2.set_xlabel("eps (L-infinity radius)")
    ax2.set_ylabel(f"{attack} accuracy (eps 0: clean)")
    ax2.set_ylim(0, 1)
    ax2.set_title("accuracy against eps")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return {"best": best, "theta": theta}


def draw_landscape(d, out, eps=0.1, attack="pgd"):
    """Loss landscapes of the undefended network and the most robust layer into out."""
    ei, ai = select(d, eps, attack)
    if "loss_landscape" not in d:
        raise PlotError(f"{d['path']}: no /loss_landscape (give the job a `landscape` key)")
    pair = [(first_of(d, UNDEFENDED), "undefended"), (best_layer(d, ei, ai), None)]
    missing = [what for (t, _), what in zip(pair, ("the undefended network", "a grid layer"))
               if t is None]
    if missing:
        raise PlotError(f"{d['path']}: the landscape plot needs {' and '.join(missing)} computed")
    u, v = d["landscape_u"], d["landscape_v"]
    L = [d["loss_landscape"][t] for t, _ in pair]
    if not all(np.isfinite(x).all() for x in L):
        raise PlotError(f"{d['path']}: the landscapes of the chosen networks are incomplete")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    lo = max(min(float(x.min()) for x in L), 1e-3)
    hi = max(float(x.max()) for x in L)
    levels = np.geomspace(lo, hi, 15)
    norm = LogNorm(vmin=lo, vmax=hi)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    c = len(u) // 2
    for ax, (t, _), land in zip(axes, pair, L):
        # loss[i, j]: u_i along the FGSM direction (x axis), v_j random (y axis).
        cs = ax.contourf(u, v, land.T, levels=levels, norm=norm, cmap="magma")
        ax.contour(u, v, land.T, levels=levels[::2], colors="w", linewidths=0.5, alpha=0.6)
        ax.plot([0], [0], "o", color="c", ms=5)
        ax.set_xlabel("u: step along sign(dL/dx) (FGSM)")
        ax.set_title(f"{label(d, t)}{' (most robust layer)' if d['kind'][t] == GRID else ''}\n"
                     f"loss {land[c, c]:.2f} clean, {land[-1, c]:.2f} at u = {u[-1]:g}, "
                     f"{land[c, -1]:.2f} at v = {v[-1]:g}", fontsize=10)
    axes[0].set_ylabel("v: step along a random +-1 direction")
    fig.colorbar(cs, ax=list(axes), label="mean cross-entropy (log scale)",
                 ticks=np.geomspace(lo, hi, 6), format="%.2g")
    n = d.get("landscape_images", 0)
    fig.suptitle(f"loss landscape on {n} test images (clipped to [0, 1]); "
                 f"layer chosen by {attack} accuracy at eps {d['eps'][ei]:g}", fontsize=10, y=1.06)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return {"undefended": pair[0][0], "best": pair[1][0]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--attack", default="pgd")
    p.add_argument("--theta", type=float, default=None)
    p.add_argument("--landscape", metavar="PNG", help="also draw the loss landscapes here")
    a = p.parse_args()
    try:
        d = load(a.file)
        draw_summary(d, a.output, a.eps, a.attack, a.theta)
        print(f"wrote {a.output}")
        if a.landscape:
            draw_landscape(d, a.landscape, a.eps, a.attack)
            print(f"wrote {a.landscape}")
    except PlotError as e:
        print(f"plot_defence.py: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
