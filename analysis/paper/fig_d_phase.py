#!/usr/bin/python3
"""Figure d: regime phase diagrams, both labels (regime and edge_class).

    fig_d_phase.py d_ideal.h5 d_as_ideal.h5 d_as_default.h5 d_as_path.h5 \
        d_shp1_feedback.h5 d_shp1_nm.h5 -o fig_d.png

One row per job: left the `regime` reading (tau*/tau_c where the strongest
antagonist is interior, hatched where the weakest ligands antagonise most),
right the `edge_class` reading (steep / flat gradient at the weakest
ligands, with the edge exponent p). Drawn with analysis/plot_phase.py. The
tables check the ideal labels against docs/science.md 6.3 (edge for m = 0,
critical for m > 0; steep for m <= 1, flat for m > 1; p = m - 1 or N - 1)
and the near-ideal adaptive_sorting tau* against the ideal closed form.
"""

import math
import sys

import common
from common import np, plt
from matplotlib.patches import Patch

import plot_phase

JOBS = ["d_ideal", "d_as_ideal", "d_as_default", "d_as_path", "d_shp1_feedback", "d_shp1_nm"]
TITLES = {
    "d_ideal": "ideal $T_{N,m}$ (m in steps of 0.5)",
    "d_as_ideal": "adaptive sorting, near-ideal constants",
    "d_as_default": "adaptive sorting, published constants",
    "d_as_path": "adaptive sorting (5, 2): from near-ideal to default",
    "d_shp1_feedback": "SHP-1 feedback over (gamma, C*), (N, m) = (5, 1)",
    "d_shp1_nm": "SHP-1 feedback over (N, m)",
}
AXES = {"d_as_path": ("phi", "delta"), "d_shp1_feedback": ("gamma", "Cstar")}


def _panel_pair(fig, ax_regime, ax_edge, results, name):
    x, y = AXES.get(name, ("N", "m"))
    common.need_axes(results, x, y)
    common.need(results, "regime", "edge_class", "tau_star_rel", "p_edge")
    table = plot_phase._phase_table(results, x, y, 0)
    plot_phase._heatmap(ax_regime, fig, table)
    plot_phase._edge_heatmap(ax_edge, table)
    for ax in (ax_regime, ax_edge):
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        for text in ax.texts:
            text.set_fontsize(7 if max(len(table.x_values), len(table.y_values)) > 6 else 9)
        ax.tick_params(axis="x", labelrotation=45 if len(table.x_values) > 6 else 0)
    ax_regime.set_title(TITLES[name] + ": regime", fontsize=10)
    ax_edge.set_title(TITLES[name] + ": edge_class", fontsize=10)
    return table


def _config_number(results, key, default):
    import re
    match = re.search(rf"^{re.escape(key)}=(\S+)$", str(results.attrs.get("config_canonical", "")),
                      re.MULTILINE)
    return float(match.group(1)) if match else default


def _ideal_tables(results, table):
    """Labels and p of the ideal job against docs/science.md 6.3."""
    L1, t1 = float(results.attrs["agonist_L"]), float(results.attrs["agonist_tau"])
    L2, tau2, tau_c = float(results.L2[0]), results.tau2, results.tau_c
    fc_tol = _config_number(results, "stats.fc_tol", 1e-3)
    reg_rows, edge_rows, p_rows = [], [], []
    codes_reg = {v: k for k, v in results.flags("regime").items()}
    codes_edge = {v: k for k, v in results.flags("edge_class").items()}
    p_file = results.field("p_edge")
    for i, N in enumerate(table.x_values):
        for j, m in enumerate(table.y_values):
            if m >= N:
                continue
            # docs/science.md 6.2 applied to the closed-form FC on the file's own grid:
            # the grid minimum at the lower end is edge, at the upper end beyond,
            # inside (and more than fc_tol below the lower end) critical.
            fc = (common.T_ideal([L1, L2], [t1, tau2], N, m, tau_c)
                  / common.T_ideal([L1], [t1], N, m, tau_c))
            k = int(np.argmin(fc))
            if m == 0 or k == 0 or fc[0] - fc[k] <= fc_tol:
                want = "edge"
            elif k == len(tau2) - 1:
                want = "beyond"
            else:
                want = "critical"
            want_edge = "flat" if (want == "critical" and m > 1) else "steep"
            got, got_edge = table.regime[i, j], table.edge_class[i, j]
            label = f"N={N:g}, m={m:g}: {want} / {got}"
            reg_rows.append(common.row(label, codes_reg[want], codes_reg.get(got, -1), 0,
                                       error=0.0 if got == want else 1.0))
            edge_rows.append(common.row(f"N={N:g}, m={m:g}: {want_edge} / {got_edge}",
                                        codes_edge[want_edge], codes_edge.get(got_edge, -1), 0,
                                        error=0.0 if got_edge == want_edge else 1.0))
            p_want = N - 1 if m == 0 else m - 1
            p_rows.append(common.row(f"N={N:g}, m={m:g}", p_want, float(p_file[i, j, 0]), 1e-3,
                                     error=abs(float(p_file[i, j, 0]) - p_want)))
    return [
        common.table("d_ideal_regime", "Regime of the ideal classifier (figure d)",
                     "edge for m = 0, critical for m > 0, beyond where the closed-form FC is lowest "
                     "at the last grid point (docs/science.md 6.2 on the closed form sampled on "
                     "the file's grid); codes of /lines/regime, error 1 on a mismatch", 0,
                     reg_rows, expected="closed form (code)", computed="kpsweep (code)"),
        common.table("d_ideal_edge_class", "Edge class of the ideal classifier (figure d)",
                     "steep for m <= 1, flat for m > 1 on critical lines (non-integer m alike); "
                     "codes of /lines/edge_class", 0, edge_rows,
                     expected="closed form (code)", computed="kpsweep (code)"),
        common.table("d_ideal_p_edge", "Edge exponent p of the ideal classifier (figure d)",
                     "p = m - 1 for m > 0, N - 1 for m = 0 (tau2 axis from 1e-12 s); "
                     "absolute error", 1e-3, p_rows, expected="closed form", computed="kpsweep"),
    ]


def _as_table(results):
    """Near-ideal adaptive sorting: tau* against the ideal closed form."""
    L1, t1 = float(results.attrs["agonist_L"]), float(results.attrs["agonist_tau"])
    L2, tau2, tau_c = float(results.L2[0]), results.tau2, results.tau_c
    t_star = results.field("tau_star")
    rows = []
    for i, N in enumerate(results.axes["N"]):
        for j, m in enumerate(results.axes["m"]):
            if m >= N or m == 0:
                continue
            ts = common.tau_star_exact(L1, t1, L2, N, m, tau_c, lo=tau2[0], hi=tau2[-1])
            if math.isfinite(ts):
                rows.append(common.row(f"N={N:g}, m={m:g}", ts, float(t_star[i, j, 0]), 0.01))
    return common.table("d_as_tau_star", "adaptive_sorting near its ideal limit (figure d)",
                        "at the near-ideal constants (docs/science.md 2.3) adaptive_sorting's "
                        "tau* agrees with the ideal T_{N,m} closed form within 1 % (a limit, "
                        "not an identity)", 0.01, rows, expected="ideal closed form",
                        computed="adaptive_sorting")


def make(paths, out):
    """Draws figure d; returns the caption and the tables."""
    fig, axs = plt.subplots(len(paths), 2, figsize=(15, 5.2 * len(paths)))
    tables = []
    for k, (path, name) in enumerate(zip(paths, JOBS)):
        with common.Results(path) as r:
            table = _panel_pair(fig, axs[k, 0], axs[k, 1], r, name)
            if name == "d_ideal":
                tables += _ideal_tables(r, table)
            elif name == "d_as_ideal":
                tables.append(_as_table(r))
    fig.legend(handles=[
        Patch(facecolor="#f4e3c1", edgecolor="#b07d2b", hatch="///",
              label=r"regime edge: no interior $\tau^*$ (weakest ligands antagonise most)"),
        Patch(facecolor="0.8", label="invalid (m >= N)"),
        Patch(facecolor=plot_phase.EDGE_COLOURS["steep"], label="edge_class steep"),
        Patch(facecolor=plot_phase.EDGE_COLOURS["flat"],
              label=r"edge_class flat: gradient fades below $\tau_{infl}$"),
    ], loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.01), fontsize=11)
    fig.tight_layout(rect=(0, 0.025, 1, 1))
    common.save(fig, out)
    caption = (
        "Regime phase diagrams with both labels, one row per job (left: `regime`, colour = "
        "tau*/tau_c of the strongest antagonist, hatched = edge regime; right: `edge_class`, "
        "annotated with the edge exponent p). Rows: the ideal classifier over (N, m) with m in "
        "steps of 0.5 (tau2 from 1e-12 s, log axis); adaptive_sorting over integer (N, m) at "
        "its near-ideal constants (phi = 1e-3, kappa = 0.1, R = 1e5, delta = 1e9: our choice, "
        "the strongest delta of docs/science.md 2.3, which serves every N <= 5) and at its "
        "published defaults; adaptive_sorting at (5, 2) over (phi, delta) between the two "
        "(kappa, R held near-ideal: our choice); shp1 over (gamma, C*) at (5, 1) and over "
        "(N, m) at its published constants (1000 agonists at 10 s, 1e4 antagonists). "
        "Standard line otherwise: 4000 agonists at 4 s, 6000 antagonists, tau_c = 3 s. "
        "Claim tested: the ideal classifier has no interior tau* only for m = 0 and a flat edge "
        "exactly for m > 1 (the PRX colour code m < 2 / m = 2 / m > 2 with m = 2 marginal, "
        "p = 1), including non-integer m; adaptive sorting reproduces this near its limit and "
        "departs from it at its defaults (m = 0 gets an interior tau*). Tables: the ideal labels "
        "and p against docs/science.md 6.3, near-ideal adaptive sorting against the ideal tau*.")
    return {"caption": caption, "tables": tables}


if __name__ == "__main__":
    sys.exit(common.cli(__doc__, JOBS, make))
