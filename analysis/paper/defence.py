"""The biomimetic-defence section of the paper report (docs/defence.md).

    make(path, out_dir) -> {"figures": [...], "table": {...}, "caption": str}

draws, from a results file of `kpsweep defence sweep` (jobs/defence/),
with analysis/plot_defence.py's functions:
  defence_summary.png/.pdf    robust accuracy over (N, m) at the theta of
                              the most robust layer, and accuracy against
                              eps for the undefended network, the most
                              robust layer and the adversarially trained one;
  defence_landscape.png/.pdf  the loss landscapes (FGSM direction, random
                              direction) of the undefended network and the
                              most robust layer (when the job has
                              `landscape`);
and the table of clean and robust accuracy of every computed network,
most robust first (by PGD at eps 0.1 when the file has them). A file that
lacks what a drawing needs raises plot_defence.PlotError.
"""

import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ANALYSIS = os.path.dirname(HERE)
if ANALYSIS not in sys.path:
    sys.path.insert(0, ANALYSIS)

import numpy as np  # noqa: E402

import plot_defence as pd  # noqa: E402

RANK_EPS, RANK_ATTACK = 0.1, "pgd"


def ranking(d):
    """(eps, attack) the networks are ranked by: PGD at 0.1 when present,
    else the last attack at the middle radius."""
    attack = RANK_ATTACK if RANK_ATTACK in d["attack"] else d["attack"][-1]
    close = np.nonzero(np.isclose(d["eps"], RANK_EPS))[0]
    eps = float(d["eps"][close[0]] if close.size else d["eps"][len(d["eps"]) // 2])
    return eps, attack


def number(x):
    x = float(x)
    return None if math.isnan(x) else x


def table(d, eps, attack):
    """Every computed network: clean, robust accuracy per (attack, eps), flip eps."""
    ei, ai = pd.select(d, eps, attack)
    ok = np.nonzero(d["status"] == pd.COMPUTED)[0]
    order = sorted(ok, key=lambda t: -np.nan_to_num(d["robust_accuracy"][t, ei, ai], nan=-1))
    columns = ["network", "clean"] + [f"{a} {e:g}" for a in d["attack"] for e in d["eps"]]
    has_flip = "mean_flip_eps" in d
    if has_flip:
        columns += [f"flip eps {a}" for a in d["attack"]]
    rows = []
    for t in order:
        row = {"task": int(t), "network": pd.label(d, t), "kind": int(d["kind"][t]),
               "clean": number(d["clean_accuracy"][t])}
        row["robust"] = {a: {f"{e:g}": number(d["robust_accuracy"][t, i, k])
                             for i, e in enumerate(d["eps"])}
                         for k, a in enumerate(d["attack"])}
        if has_flip:
            row["flip_eps"] = {a: number(d["mean_flip_eps"][t, k]) for k, a in enumerate(d["attack"])}
        rows.append(row)
    return {"columns": columns, "rows": rows, "ranked_by": f"{attack} at eps {eps:g}",
            "images": {"clean": d["n_test"], "fgsm/pgd": d["n_attack"], "spsa": d["n_spsa"]}}


def cells(row, attacks, eps_list):
    """A table row's values in the order of table()'s columns."""
    out = [row["clean"]]
    out += [row["robust"][a][f"{e:g}"] for a in attacks for e in eps_list]
    if "flip_eps" in row:
        out += [row["flip_eps"][a] for a in attacks]
    return out


def make(path, out_dir):
    d = pd.load(path)
    eps, attack = ranking(d)
    figures = []
    png = os.path.join(out_dir, "defence_summary.png")
    for out in (png, os.path.splitext(png)[0] + ".pdf"):
        info = pd.draw_summary(d, out, eps, attack)
    best = info["best"]
    figures.append({
        "png": os.path.basename(png), "pdf": "defence_summary.pdf",
        "title": "Robustness over the proofreading grid",
        "caption": (f"Left: {attack} accuracy at eps {eps:g} of a network with the input layer "
                    f"T_(N,m) over (N, m), at the threshold theta of the most robust layer "
                    f"(blank: m >= N, no such layer). Right: accuracy against the L-infinity "
                    f"radius for the undefended network, the adversarially trained one and the "
                    f"most robust layer"
                    + (f" ({pd.label(d, best)})" if best is not None else "")
                    + f". FGSM and PGD on {d['n_attack']} test images, SPSA on {d['n_spsa']}, "
                    f"clean accuracy (eps 0) on {d['n_test']}.")})
    if "loss_landscape" in d:
        png = os.path.join(out_dir, "defence_landscape.png")
        for out in (png, os.path.splitext(png)[0] + ".pdf"):
            land = pd.draw_landscape(d, out, eps, attack)
        c = len(d["landscape_u"]) // 2
        L0, L1 = d["loss_landscape"][land["undefended"]], d["loss_landscape"][land["best"]]
        figures.append({
            "png": os.path.basename(png), "pdf": "defence_landscape.pdf",
            "title": "Loss landscapes: undefended against the most robust layer",
            "caption": (f"Mean cross-entropy over {d['landscape_images']} test images at "
                        f"x + u sign(dL/dx) + v r (r a random +-1 image, clipped to [0, 1]), "
                        f"|u|, |v| <= {d['landscape_u'][-1]:g}, on one logarithmic colour scale. "
                        f"Along the FGSM direction the undefended loss rises from "
                        f"{L0[c, c]:.2f} to {L0[-1, c]:.2f}, that of {pd.label(d, land['best'])} "
                        f"from {L1[c, c]:.2f} to {L1[-1, c]:.2f}; a random direction of the "
                        f"same size takes them to {L0[c, -1]:.2f} and {L1[c, -1]:.2f}.")})
    tab = table(d, eps, attack)
    caption = (f"Results file {os.path.basename(path)} of kpsweep defence sweep "
               f"({len(tab['rows'])} networks computed); networks ranked by {attack} accuracy "
               f"at eps {eps:g}. Design and measurements: docs/defence.md.")
    return {"figures": figures, "table": tab, "caption": caption,
            "attacks": d["attack"], "eps": [float(e) for e in d["eps"]]}
