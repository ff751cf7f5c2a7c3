#!/usr/bin/python3
"""Figure f (FGSM): which one-step attack works in which regime, over (N, m).

    fig_f_fgsm.py f_attacks.h5 -o fig_f_fgsm.png

Heatmaps over (N, m) of the smallest FGSM step eps* that switches the
response off, in counts (top) and in binding times (bottom), one column per
antagonist binding time of the file. The tables check eps* in counts
against L2*(tau2) - L2 (closed form) and eps* in binding times against the
first crossing T = 1 along the clipped ray of the closed form.
"""

import math
import sys

import common
from common import brentq, np, plt
from matplotlib.colors import LogNorm

JOBS = ["f_attacks"]


def fgsm_tau_exact(L1, t1, L2, t2, N, m, tau_c, tau_min, eps_max):
    """First eps with T <= 1 along tau2 <- clip(tau2 - sign(dT/dtau2) eps)."""
    s = -math.copysign(1.0, common.dT_dtau2(t2, L1, t1, L2, N, m, tau_c))
    lo, hi = min(tau_min, t2), max(tau_c, t2)

    def excess(eps):
        t = min(max(t2 + s * eps, lo), hi)
        return common.T_ideal([L1, L2], [t1, t], N, m, tau_c) - 1.0

    grid = np.linspace(0.0, eps_max, 20001)
    vals = np.array([excess(e) for e in grid])
    below = np.flatnonzero(vals <= 0)
    if below.size == 0:
        return math.inf
    k = below[0]
    return brentq(excess, grid[k - 1], grid[k], xtol=1e-14, rtol=1e-14) if k > 0 else 0.0


def _config_number(results, key, default):
    import re
    match = re.search(rf"^{re.escape(key)}=(\S+)$", str(results.attrs.get("config_canonical", "")),
                      re.MULTILINE)
    return float(match.group(1)) if match else default


def make(paths, out):
    """Draws figure f (FGSM); returns the caption and the tables."""
    with common.Results(paths[0]) as r:
        if r.model != "ideal":
            raise common.ResultsError(f"{r.path}: model {r.model}, figure f needs ideal")
        common.need_axes(r, "N", "m")
        common.need(r, "fgsm_L_eps", "fgsm_tau_eps", "status")
        Ns, ms, tau2, tau_c = r.axes["N"], r.axes["m"], r.tau2, r.tau_c
        L1, t1 = float(r.attrs["agonist_L"]), float(r.attrs["agonist_tau"])
        doses = (float(r.L2[0]), float(r.L2[-1]))   # counts at the first, times at the last
        eps_L, eps_t = r.field("fgsm_L_eps"), r.field("fgsm_tau_eps")
        L_max = _config_number(r, "attacks.fgsm_eps_L_max", 1e7)
        t_max = _config_number(r, "attacks.fgsm_eps_tau_max", tau_c)
        t_min = _config_number(r, "attacks.tau_min", 1e-3)
        if np.all(np.isnan(eps_L)):
            raise common.ResultsError(f"{r.path}: /points/fgsm_L_eps holds no value "
                                      "(attacks.enabled and fgsm_L in the job)")
    fig, axs = plt.subplots(2, len(tau2), figsize=(4.6 * len(tau2), 8.2), squeeze=False)
    rows_L, rows_t = [], []
    eps_L, eps_t = eps_L[:, :, :1], eps_t[:, :, -1:]
    for row_k, (data, unit, cmap, name) in enumerate((
            (eps_L, "molecules", "magma_r", "counts"), (eps_t, "s", "viridis_r", "binding times"))):
        L2 = doses[row_k]
        finite = data[np.isfinite(data) & (data > 0)]
        norm = LogNorm(finite.min(), finite.max()) if finite.size else None
        for c, t2 in enumerate(tau2):
            ax = axs[row_k, c]
            z = np.ma.masked_invalid(np.where(np.isfinite(data[:, :, 0, c]), data[:, :, 0, c],
                                              np.nan)).T
            image = ax.imshow(z, origin="lower", cmap=cmap, norm=norm, aspect="auto")
            for i, N in enumerate(Ns):
                for j, m in enumerate(ms):
                    v = data[i, j, 0, c]
                    text = ("m >= N" if m >= N else "none" if math.isinf(v)
                            else "already\noff" if math.isnan(v) else f"{v:.3g}")
                    dark = norm is not None and math.isfinite(v) and v > 0 and norm(v) > 0.6
                    ax.text(i, j, text, ha="center", va="center", fontsize=8,
                            color="0.4" if m >= N or not math.isfinite(v)
                            else "white" if dark else "k")
            ax.set_xticks(range(len(Ns)), [f"{v:g}" for v in Ns])
            ax.set_yticks(range(len(ms)), [f"{v:g}" for v in ms])
            ax.set_xlabel("N")
            ax.set_ylabel("m")
            ax.set_title(rf"FGSM in {name}, $L_2$ = {L2:g}, $\tau_2$ = {t2:g} s")
            fig.colorbar(image, ax=ax, pad=0.02).set_label(rf"$\epsilon^*$ ({unit})")
    for i, N in enumerate(Ns):
        for j, m in enumerate(ms):
            if m >= N:
                continue
            for c, t2 in enumerate(tau2):
                L2 = doses[0]
                star = -L1 * common.w(t1, N, m, tau_c) / common.w(t2, N, m, tau_c)
                want = star - L2 if star - L2 <= L_max else math.inf
                rows_L.append(common.row(f"N={N:g}, m={m:g}, L2={L2:g}, tau2={t2:g}", want,
                                         eps_L[i, j, 0, c], 1e-6))
                L2 = doses[1]
                if common.T_ideal([L1, L2], [t1, t2], N, m, tau_c) <= 1.0:
                    continue    # already off: FGSM not applicable (NaN in the file)
                want_t = fgsm_tau_exact(L1, t1, L2, t2, N, m, tau_c, t_min, t_max)
                rows_t.append(common.row(f"N={N:g}, m={m:g}, L2={L2:g}, tau2={t2:g}", want_t,
                                         eps_t[i, j, 0, c], 1e-6))
    fig.suptitle(rf"One-step attacks (FGSM, direction off) on ideal $T_{{N,m}}$: {L1:g} agonists "
                 rf"at {t1:g} s, $\tau_c$ = {tau_c:g} s", y=1.0)
    fig.tight_layout()
    common.save(fig, out)
    caption = (
        f"The smallest FGSM step eps* that switches the response of the ideal classifier off, "
        f"over (N, m), for antagonists at tau2 = {', '.join(f'{t:g}' for t in tau2)} s "
        f"against {L1:g} agonists at {t1:g} s (tau_c = {tau_c:g} s). Top: in counts, from "
        f"{doses[0]:g} antagonists (every (N, m) responds at the start; the dose grows by eps; "
        f"'none' = no eps up to {L_max:g}); bottom: in binding times, from {doses[1]:g} "
        "antagonists ('already off': the load alone switches the response off, no attack "
        "needed; the antagonist's tau2 moves by eps against "
        f"the sign of dT/dtau2, clipped to [{t_min:g}, tau_c]; 'none' = no eps up to "
        f"{t_max:g} s). Claim tested: a count attack with self-like ligands (tau2 = 0.1 s) "
        "is cheap for small m and becomes impossible as m grows (the weight |w(tau2)| of "
        "the weakest ligands fades, flat edge), while for the flat networks a binding-time "
        "step toward tau* flips a load that counts alone cannot. Choices not pinned by the "
        "paper: the three tau2, the two loads, the ray ends (engine defaults). Tables: eps* in counts "
        "against L2*(tau2) - L2 with L2* = -L1 w(tau1)/w(tau2); eps* in binding times "
        "against the first crossing of T = 1 along the clipped ray (closed-form T, brentq).")
    tables = [
        common.table("f_fgsm_L", "FGSM in counts (figure f)",
                     "eps*_L = -L1 w(tau1)/w(tau2) - L2 (inf beyond fgsm_eps_L_max)", 1e-6, rows_L),
        common.table("f_fgsm_tau", "FGSM in binding times (figure f)",
                     "eps*_tau = first eps with T(clip(tau2 - sign(dT/dtau2) eps)) <= 1", 1e-6,
                     rows_t),
    ]
    return {"caption": caption, "tables": tables}


if __name__ == "__main__":
    sys.exit(common.cli(__doc__, JOBS, make))
