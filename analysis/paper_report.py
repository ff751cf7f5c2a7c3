#!/usr/bin/python3
"""The paper report: every figure of analysis/paper/ as PNG and PDF, index.html
and tables.json.

    paper_report.py DATA_DIR -o OUT_DIR [--mode full|quick] [--jobs JOBS.tsv]
                    [--started EPOCH] [--defence DEFENCE.h5]

DATA_DIR holds NAME.h5 for every job jobs/paper/NAME.yaml (what
scripts/reproduce-paper.sh writes); JOBS.tsv is its job list (name, status,
seconds, job file, message). A figure whose job the engine refused, or whose
file lacks what it needs, is listed as missing with the reason; nothing else
is drawn in its place. tables.json holds every check (expected, computed,
relative error, pass) so that tests read numbers, not HTML. With
--defence, a results file of `kpsweep defence sweep` (jobs/defence/), the
report gains the section "The biomimetic defence" (analysis/paper/defence.py:
the figures of analysis/plot_defence.py and the clean/robust accuracy
table, also in tables.json under "defence"). Exit status 0 when every
figure was drawn and every check passed (and the defence section, when
asked for, was drawn), 1 otherwise.
"""

import argparse
import html
import importlib
import json
import math
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "paper"))
sys.path.insert(0, HERE)

import common  # noqa: E402

# (figure id, module, title); the module's JOBS say which results it reads.
FIGURES = [
    ("a", "fig_a_antagonism", "a. Antagonism potential T(tau2) per (N, m)"),
    ("b", "fig_b_descent", "b. Ligand distributions after the published descent"),
    ("c", "fig_c_tilt", "c. Boundary tilting: the decision surface L2*(tau1, L1)"),
    ("d", "fig_d_phase", "d. Regime phase diagrams (regime and edge_class)"),
    ("e1", "fig_e_sweep", "e. Landscape over the antagonist (tau2, L2)"),
    ("e2", "fig_e_landscape", "e. Landscape in ligand space (FGSM and random directions)"),
    ("f1", "fig_f_fgsm", "f. Which attack works where: FGSM over (N, m)"),
    ("f2", "fig_f_descent", "f. Which attack works where: the descent over (N, m)"),
    ("g", "fig_g_claims", "g. The claims as numbers"),
]

# Engine features of the jobs that need them (docs/paper.md).
FEATURES = {
    "b_descent": "attacks.descent_ligands (/lines/descent_ligand_tau, /axes/ligand)",
    "c_tilt": "agonist axes tau1 and L1 (axes.tau1, axes.L1)",
    "e_landscape_ideal": "the landscape section (/lines/landscape)",
    "e_landscape_as": "the landscape section (/lines/landscape)",
}


def read_jobs(path):
    """{name: {status, seconds, job, message}} from reproduce-paper.sh's list."""
    jobs = {}
    if path and os.path.isfile(path):
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 4:
                    jobs[parts[0]] = {"status": parts[1], "seconds": float(parts[2] or 0),
                                      "job": parts[3],
                                      "message": parts[4] if len(parts) > 4 else ""}
    return jobs


def jsonable(x):
    """inf and NaN as strings (JSON has neither)."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [jsonable(v) for v in x]
    return x


def build(data, out, jobs):
    """Draws every figure; returns (figures, tables)."""
    common.style()
    figures, tables = [], []
    for fid, module_name, title in FIGURES:
        module = importlib.import_module(module_name)
        entry = {"id": fid, "title": title, "module": f"analysis/paper/{module_name}.py",
                 "jobs": list(module.JOBS), "png": None, "pdf": None, "caption": "",
                 "status": "missing", "reason": ""}
        paths = [os.path.join(data, f"{j}.h5") for j in module.JOBS]
        absent = [j for j, p in zip(module.JOBS, paths) if not os.path.isfile(p)]
        if absent:
            reasons = []
            for j in absent:
                info = jobs.get(j, {})
                if info.get("status") == "refused":
                    feature = FEATURES.get(j)
                    reasons.append(f"needs engine feature {feature}: " if feature else "")
                    reasons[-1] += f"job {j} refused ({info.get('message', '')})"
                elif info.get("status") == "failed":
                    reasons.append(f"job {j} failed ({info.get('message', '')})")
                else:
                    reasons.append(f"no results of job {j}")
            entry["reason"] = "; ".join(reasons)
            figures.append(entry)
            print(f"[paper] figure {fid}: missing: {entry['reason']}", file=sys.stderr)
            continue
        png = os.path.join(out, f"fig_{fid}.png")
        t0 = time.time()
        try:
            info = module.make(paths, png)
        except common.ResultsError as exc:
            entry["reason"] = str(exc)
            figures.append(entry)
            print(f"[paper] figure {fid}: cannot be drawn: {exc}", file=sys.stderr)
            continue
        entry.update(status="ok", png=os.path.basename(png), pdf=f"fig_{fid}.pdf",
                     caption=info["caption"], seconds=round(time.time() - t0, 2))
        for t in info["tables"]:
            t["figure"] = fid
            tables.append(t)
        figures.append(entry)
        bad = [t["id"] for t in info["tables"] if not t["pass"]]
        print(f"[paper] figure {fid}: drawn{' (checks failed: ' + ', '.join(bad) + ')' if bad else ''}")
    return figures, tables


def build_defence(path, out):
    """The defence section from a defence sweep file: status ok or missing."""
    import defence
    entry = {"status": "missing", "reason": "", "file": path, "figures": [], "table": None,
             "caption": ""}
    if not os.path.isfile(path):
        entry["reason"] = f"no defence results file {path}"
    else:
        try:
            entry.update(defence.make(path, out), status="ok")
        except defence.pd.PlotError as exc:
            entry["reason"] = str(exc)
    if entry["status"] == "ok":
        print(f"[paper] defence: drawn ({len(entry['table']['rows'])} networks)")
    else:
        print(f"[paper] defence: missing: {entry['reason']}", file=sys.stderr)
    return entry


def defence_html(d):
    """The section's HTML: figures, captions, the accuracy table."""
    esc = html.escape
    parts = ["<h2 id='defence'>h. The biomimetic defence: proofreading as an input layer</h2>"]
    if d is None:
        parts.append("<p>Not run: <code>scripts/reproduce-paper.sh --defence</code> trains and "
                     "attacks the networks of jobs/defence/ (docs/defence.md).</p>")
        return parts
    if d["status"] != "ok":
        parts.append(f"<p class='missing'><b>Not drawn.</b> {esc(d['reason'])}</p>")
        return parts
    parts.append(f"<p>{esc(d['caption'])}</p>")
    for f in d["figures"]:
        parts.append(f"<figure><a href='{esc(f['pdf'])}'><img src='{esc(f['png'])}' "
                     f"alt='{esc(f['title'])}'></a><figcaption><b>{esc(f['title'])}.</b> "
                     f"{esc(f['caption'])} (<a href='{esc(f['pdf'])}'>PDF</a>)</figcaption></figure>")
    t = d["table"]
    import defence
    parts.append(f"<p>Clean and robust accuracy, ranked by {esc(t['ranked_by'])} (images: "
                 f"clean {t['images']['clean']}, FGSM/PGD {t['images']['fgsm/pgd']}, SPSA "
                 f"{t['images']['spsa']}; flip eps: mean smallest radius of the grid that "
                 "flips a correctly classified image).</p><table><tr>"
                 + "".join(f"<th>{esc(c)}</th>" for c in t["columns"]) + "</tr>")
    for r in t["rows"]:
        vals = defence.cells(r, d["attacks"], d["eps"])
        parts.append(f"<tr><td>{esc(r['network'])}</td>"
                     + "".join(f"<td>{'' if v is None else f'{v:.3f}'}</td>" for v in vals)
                     + "</tr>")
    parts.append("</table>")
    return parts


def html_number(x):
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return f"{x:.10g}"
    return html.escape(str(x))


def write_html(path, mode, figures, tables, jobs, total, defence=None):
    """index.html: every figure with its caption and tables, the job times."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>kpsweep: reproducing Rademaker, Bengio &amp; Fran&ccedil;ois, PRX 9, 031012 (2019)</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;line-height:1.4}"
        "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td:first-child{text-align:left}"
        ".fail{background:#fdd}.pass{background:#efe}.missing{background:#fee;padding:0.5em}"
        "figcaption{margin:0.5em 0 1em 0}details{margin-bottom:1em}</style></head><body>",
        "<h1>Reproducing the PRX paper with kpsweep</h1>",
        f"<p>Rademaker, Bengio &amp; Fran&ccedil;ois, <i>Attack and defense in cellular "
        f"decision-making: lessons from machine learning</i>, Phys. Rev. X 9, 031012 (2019). "
        f"Mode: <b>{esc(mode)}</b>. Figures, set-ups and the choices taken where the paper is "
        f"silent: docs/paper.md. Machine-readable checks: <a href='tables.json'>tables.json</a>.</p>",
    ]
    n_pass = sum(t["pass"] for t in tables)
    n_ok = sum(f["status"] == "ok" for f in figures)
    parts.append(f"<p>{n_ok} of {len(figures)} figures drawn; {n_pass} of {len(tables)} tables "
                 f"pass.</p>")
    by_fig = {}
    for t in tables:
        by_fig.setdefault(t["figure"], []).append(t)
    for f in figures:
        parts.append(f"<h2 id='fig-{esc(f['id'])}'>{esc(f['title'])}</h2>")
        if f["status"] != "ok":
            parts.append(f"<p class='missing'><b>Not drawn.</b> {esc(f['reason'])}</p>")
            continue
        parts.append(f"<figure><a href='{esc(f['pdf'])}'><img src='{esc(f['png'])}' "
                     f"alt='{esc(f['title'])}'></a><figcaption>{esc(f['caption'])} "
                     f"(<a href='{esc(f['pdf'])}'>PDF</a>; jobs: "
                     f"{esc(', '.join('jobs/paper/' + j + '.yaml' for j in f['jobs']))})"
                     "</figcaption></figure>")
        for t in by_fig.get(f["id"], []):
            verdict = "pass" if t["pass"] else "FAIL"
            parts.append(f"<details{' open' if not t['pass'] else ''}><summary><b>{esc(t['title'])}"
                         f"</b>: {verdict} ({len(t['rows'])} rows, tolerance "
                         f"{t['tolerance']:g})</summary><p>{esc(t['claim'])}</p><table><tr>"
                         + "".join(f"<th>{esc(c)}</th>" for c in t["columns"]) + "</tr>")
            for r in t["rows"]:
                parts.append(f"<tr class='{'pass' if r['pass'] else 'fail'}'><td>{esc(r['label'])}</td>"
                             f"<td>{html_number(r['expected'])}</td><td>{html_number(r['computed'])}</td>"
                             f"<td>{html_number(r['rel_error'])}</td><td>{'yes' if r['pass'] else 'NO'}</td></tr>")
            parts.append("</table></details>")
    parts += defence_html(defence)
    parts.append("<h2>Run times</h2><table><tr><th>job</th><th>status</th><th>seconds</th>"
                 "<th>message</th></tr>")
    for name, j in sorted(jobs.items()):
        parts.append(f"<tr><td>{esc(j['job'])}</td><td>{esc(j['status'])}</td>"
                     f"<td>{j['seconds']:.2f}</td><td>{esc(j['message'])}</td></tr>")
    parts.append(f"</table><p>Total so far (jobs and figures): {total:.1f} s.</p></body></html>")
    with open(path, "w") as f:
        f.write("\n".join(parts))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="directory of the jobs' results files (NAME.h5)")
    parser.add_argument("-o", "--output", required=True, help="report directory")
    parser.add_argument("--mode", default="full", choices=("full", "quick"))
    parser.add_argument("--jobs", help="the job list written by reproduce-paper.sh")
    parser.add_argument("--started", type=float, help="start time (epoch) for the total")
    parser.add_argument("--defence", metavar="FILE.h5",
                        help="a results file of kpsweep defence sweep: adds its section")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.data):
        print(f"paper_report.py: error: {args.data}: no such directory", file=sys.stderr)
        return 2
    os.makedirs(args.output, exist_ok=True)
    jobs = read_jobs(args.jobs)
    figures, tables = build(args.data, args.output, jobs)
    defence = build_defence(args.defence, args.output) if args.defence else None
    total = time.time() - args.started if args.started else math.nan
    write_html(os.path.join(args.output, "index.html"), args.mode, figures, tables, jobs, total,
               defence)
    complete = all(f["status"] == "ok" for f in figures) and (
        defence is None or defence["status"] == "ok")
    passed = all(t["pass"] for t in tables)
    with open(os.path.join(args.output, "tables.json"), "w") as f:
        json.dump(jsonable({"mode": args.mode, "complete": complete, "all_pass": passed,
                            "figures": figures, "tables": tables, "jobs": jobs,
                            "defence": defence, "seconds": total}), f, indent=1)
    print(f"[paper] {sum(f['status'] == 'ok' for f in figures)}/{len(figures)} figures, "
          f"{sum(t['pass'] for t in tables)}/{len(tables)} tables pass"
          + ("" if defence is None else f", defence section {defence['status']}"))
    return 0 if complete and passed else 1


if __name__ == "__main__":
    sys.exit(main())
