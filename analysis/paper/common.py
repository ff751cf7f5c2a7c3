"""Shared pieces of the paper figures (analysis/paper/fig_*.py).

Every figure module has
    JOBS      the jobs/paper job names whose results it reads, in order;
    make(paths, out) -> {"caption": str, "tables": [table, ...]}
              draws the figure into OUT (a .png; the .pdf is written beside
              it) from the results files `paths` (one per JOBS entry);
and runs alone as  `fig_x.py FILE.h5 [FILE.h5 ...] -o OUT.png`.
A file that lacks what a figure needs raises ResultsError (exit status 2
with the message), never a different drawing.

Tables are dicts {"id", "title", "claim", "tolerance", "columns", "rows",
"pass"}; each row has "label", "expected", "computed", "rel_error", "pass"
(numbers, inf/NaN allowed: tables.json writes them as strings "inf",
"-inf", "nan").
"""

import argparse
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ANALYSIS = os.path.dirname(HERE)
if ANALYSIS not in sys.path:
    sys.path.insert(0, ANALYSIS)

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import brentq, minimize_scalar  # noqa: E402

from kpsweep import Results, ResultsError  # noqa: E402,F401

DPI = 150
# Lines of the (N, m) grid share these colours in every figure.
M_COLOURS = plt.cm.viridis(np.linspace(0.0, 0.9, 6))


def style():
    """The common look: readable fonts, light grids, no top/right spines."""
    plt.rcParams.update({
        "font.size": 11, "axes.titlesize": 11, "axes.labelsize": 11,
        "legend.fontsize": 9, "xtick.labelsize": 10, "ytick.labelsize": 10,
        "axes.spines.top": False, "axes.spines.right": False,
        "axes.grid": False, "grid.alpha": 0.3, "savefig.bbox": "tight",
        "pdf.fonttype": 42,
    })


def save(fig, out):
    """Writes the figure as OUT (PNG) and OUT with .pdf; returns both paths."""
    base = os.path.splitext(out)[0]
    png, pdf = base + ".png", base + ".pdf"
    fig.savefig(png, dpi=DPI)
    fig.savefig(pdf)
    plt.close(fig)
    return png, pdf


def need(results, *names):
    """Raises ResultsError unless every name is a field or an axis of the file."""
    f = results._file
    missing = [n for n in names
               if not (results.has(n) or n in f["axes"] or n in results.axes)]
    if missing:
        raise ResultsError(f"{results.path}: lacks {', '.join(missing)} "
                           f"(model {results.model}, job {results.attrs.get('job_name', '?')}; "
                           f"a field its run.fields left out is not in the file)")


def need_axes(results, *names):
    """Raises ResultsError unless the file sweeps every parameter axis named."""
    missing = [n for n in names if n not in results.param_axes]
    if missing:
        raise ResultsError(f"{results.path}: needs the parameter axes {', '.join(missing)} "
                           f"(its axes: {', '.join(results.param_axes) or 'none'})")


def axis_index(results, name, value):
    """The index of `value` on parameter axis `name` (ResultsError if absent)."""
    values = results.axes[name]
    hit = np.flatnonzero(np.isclose(values, value, rtol=1e-12, atol=1e-12))
    if hit.size == 0:
        raise ResultsError(f"{results.path}: axis {name} has no value {value:g}")
    return int(hit[0])


# ---- closed forms of the ideal classifier (docs/science.md 2.1, 4, 6.3) ----

def moments(L, tau, k):
    """S_k = sum_i L_i tau_i^k."""
    return sum(l * t ** k for l, t in zip(L, tau))


def T_ideal(L, tau, N, m, tau_c):
    """T_{N,m} = S_N / (tau_c^(N-m) S_m)."""
    return moments(L, tau, N) / (tau_c ** (N - m) * moments(L, tau, m))


def w(tau, N, m, tau_c):
    """The hyperplane weight w(tau) = tau^m (tau^(N-m) - tau_c^(N-m))."""
    return tau ** m * (tau ** (N - m) - tau_c ** (N - m))


def dT_dtau2(t2, L1, t1, L2, N, m, tau_c):
    """dT/dtau_2 = L2 t2^(m-1) (N t2^(N-m) S_m - m S_N) / (tau_c^(N-m) S_m^2)."""
    sm = L1 * t1 ** m + L2 * t2 ** m
    sn = L1 * t1 ** N + L2 * t2 ** N
    return L2 * t2 ** (m - 1) * (N * t2 ** (N - m) * sm - m * sn) / (tau_c ** (N - m) * sm ** 2)


def tau_star_exact(L1, t1, L2, N, m, tau_c, lo=1e-9, hi=None):
    """The interior zero of dT/dtau2 (the strongest antagonist), by brentq on
    N t^(N-m) S_m - m S_N (NaN when none lies in (lo, hi), default hi = tau_c)."""
    if m <= 0:
        return math.nan
    hi = tau_c if hi is None else hi

    def g(t):
        return N * t ** (N - m) * (L1 * t1 ** m + L2 * t ** m) - m * (L1 * t1 ** N + L2 * t ** N)

    if not g(lo) < 0 < g(hi):
        return math.nan
    return brentq(g, lo, hi, xtol=1e-15, rtol=1e-15, maxiter=500)


def tau_infl_exact(L1, t1, L2, N, m, tau_c, t_star):
    """The extremum (minimum) of dT/dtau2 below tau*, by a bounded scalar search."""
    res = minimize_scalar(lambda t: dT_dtau2(t, L1, t1, L2, N, m, tau_c),
                          bounds=(1e-9, t_star), method="bounded",
                          options={"xatol": 1e-13, "maxiter": 2000})
    return float(res.x)


# ---- tables ----

def rel_error(expected, computed):
    """|computed - expected| / |expected| (absolute when expected is 0; 0 when
    both are the same infinity; inf when only one is finite)."""
    e, c = float(expected), float(computed)
    if math.isinf(e) or math.isinf(c):
        return 0.0 if e == c else math.inf
    if math.isnan(e) or math.isnan(c):
        return math.nan
    return abs(c - e) / abs(e) if e != 0 else abs(c)


def row(label, expected, computed, tol, error=None, inputs=None):
    """One table row; passes when the relative error is at most tol. inputs:
    the row's input values at full precision (the label rounds them), so a
    reader of tables.json can recompute the expected value."""
    err = rel_error(expected, computed) if error is None else error
    out = {"label": label, "expected": float(expected), "computed": float(computed),
           "rel_error": float(err), "pass": bool(err <= tol)}
    if inputs:
        out["inputs"] = {k: float(v) for k, v in inputs.items()}
    return out


def table(tid, title, claim, tolerance, rows, expected="closed form", computed="kpsweep"):
    """A table dict (see the module docstring)."""
    return {"id": tid, "title": title, "claim": claim, "tolerance": float(tolerance),
            "columns": ["", expected, computed, "rel. error", "pass"], "rows": rows,
            "pass": bool(rows) and all(r["pass"] for r in rows)}


def fmt(x):
    """A number for captions and panel notes."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.4g}"


def cli(module_doc, jobs, make):
    """The command line of one figure module; returns the exit status."""
    style()
    parser = argparse.ArgumentParser(description=module_doc.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE.h5",
                        help="results of the jobs " + ", ".join(f"jobs/paper/{j}.yaml" for j in jobs))
    parser.add_argument("-o", "--output", required=True, help="PNG to write (a PDF goes beside it)")
    args = parser.parse_args()
    prog = os.path.basename(sys.argv[0])
    if len(args.files) != len(jobs):
        print(f"{prog}: error: needs {len(jobs)} results file(s), of "
              f"{', '.join(jobs)}; got {len(args.files)}", file=sys.stderr)
        return 2
    try:
        info = make(args.files, args.output)
    except ResultsError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    failed = [t["id"] for t in info.get("tables", []) if not t["pass"]]
    print(os.path.splitext(args.output)[0] + ".png")
    if failed:
        print(f"{prog}: checks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
