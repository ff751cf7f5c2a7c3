#!/usr/bin/python3
"""Plots a defence sweep file (kpsweep defence sweep, docs/defence.md).

Left: robust accuracy over (N, m) at one eps and attack, for one theta
(default: the theta whose best layer is most robust) -- the networks'
phase diagram; m >= N cells (invalid layers) stay blank.
Right: robust accuracy against eps for the undefended network, the most
robust defended one and the adversarially trained one (those present).

usage: plot_defence.py FILE.h5 -o OUT.png [--eps E] [--attack pgd] [--theta T]
Exit 2 with a message when the file lacks what the plot needs.
"""
import argparse
import sys

import numpy as np

NEEDED = ["eps", "attack", "N", "m", "theta", "kind", "status", "clean_accuracy",
          "robust_accuracy"]
GRID, UNDEFENDED, ADVERSARIAL = 0, 1, 2
COMPUTED = 1


def die(msg):
    print(f"plot_defence.py: {msg}", file=sys.stderr)
    sys.exit(2)


def load(path):
    import h5py
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        die(f"{path}: cannot open as HDF5 ({e})")
    with f:
        missing = [k for k in NEEDED if k not in f]
        if missing:
            die(f"{path}: not a defence sweep file (missing {', '.join('/' + k for k in missing)})")
        d = {k: f[k][()] for k in NEEDED}
    d["attack"] = [a.decode() if isinstance(a, bytes) else str(a) for a in d["attack"]]
    return d


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--attack", default="pgd")
    p.add_argument("--theta", type=float, default=None)
    a = p.parse_args()
    d = load(a.file)
    if a.attack not in d["attack"]:
        die(f"{a.file}: no attack {a.attack} (has {', '.join(d['attack'])})")
    ai = d["attack"].index(a.attack)
    close = np.nonzero(np.isclose(d["eps"], a.eps))[0]
    if close.size == 0:
        die(f"{a.file}: no eps {a.eps} (has {', '.join(f'{e:g}' for e in d['eps'])})")
    ei = int(close[0])
    ok = d["status"] == COMPUTED
    if not ok.any():
        die(f"{a.file}: no task computed yet")
    rob = d["robust_accuracy"][:, ei, ai]
    grid = ok & (d["kind"] == GRID)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))

    best = None
    if grid.any():
        thetas = np.unique(d["theta"][grid])
        theta = a.theta
        if theta is None:
            theta = max(thetas, key=lambda t: np.nanmax(rob[grid & (d["theta"] == t)]))
        if not np.isclose(thetas, theta).any():
            die(f"{a.file}: no theta {theta} (has {', '.join(f'{t:g}' for t in thetas)})")
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
        ax1.set_title(f"{a.attack} accuracy at eps {d['eps'][ei]:g}, theta {theta:g}")
        fig.colorbar(im, ax=ax1, label="robust accuracy")
        best = int(np.nonzero(grid)[0][np.nanargmax(rob[grid])])
    else:
        ax1.set_axis_off()
        ax1.text(0.5, 0.5, "no grid layer computed", ha="center", transform=ax1.transAxes)

    curves = []
    for kind, label in ((UNDEFENDED, "undefended"), (ADVERSARIAL, "adversarially trained")):
        idx = np.nonzero(ok & (d["kind"] == kind))[0]
        if idx.size:
            curves.append((int(idx[0]), label))
    if best is not None:
        curves.append((best, f"T_{{{d['N'][best]},{d['m'][best]}}}, theta {d['theta'][best]:g} "
                             "(most robust layer)"))
    eps = np.concatenate([[0.0], d["eps"]])
    for t, label in curves:
        acc = np.concatenate([[d["clean_accuracy"][t]], d["robust_accuracy"][t, :, ai]])
        ax2.plot(eps, acc, "o-", label=label)
    ax2.set_xlabel("eps (L-infinity radius)")
    ax2.set_ylabel(f"{a.attack} accuracy (eps 0: clean)")
    ax2.set_ylim(0, 1)
    ax2.set_title("accuracy against eps")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.output, dpi=110)
    print(f"wrote {a.output}")


if __name__ == "__main__":
    main()
