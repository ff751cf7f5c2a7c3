#!/usr/bin/python3
"""End-to-end test of the paper reproduction (TAP output).

    /usr/bin/python3 tests/e2e/test_paper.py BUILD_DIR SOURCE_DIR

Runs `scripts/reproduce-paper.sh --quick --no-setup --defence --out TMP`
with the built kpsweep (KPS_BUILD_DIR = BUILD_DIR) and checks:

  * every figure of analysis/paper_report.py exists as PNG (larger than
    600 x 400 px) and PDF (non-trivial), and index.html shows each;
  * tables.json holds every table, each row with expected, computed,
    rel_error and pass, and the numbers themselves are re-checked here
    against closed forms computed in this file (not the report's):
    tau* = tau_c (m T/N)^(1/(N-m)) on the decision boundary (T = 1), the
    boundary-tilting surface L2* = -L1 w(tau1)/w(tau2), the FC limits as
    tau2 -> 0 (L1/(L1 + L2) for m = 0, 1 for m > 0), the FGSM step in counts;
  * the section "The biomimetic defence" (jobs/defence/quick.yaml, seconds;
    needs Fashion-MNIST): its figures as PNG and PDF in index.html, its
    table in tables.json holding every computed network with the numbers
    of the results file; --defence-file of a missing file is exit 2;
  * plot_phase.py exits non-zero with a message on a file without parameter
    axes, and a figure script refuses a file that lacks its datasets.

A figure that is missing (a job the engine refused, a script that failed)
fails the test, with the report's reason.
"""

import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from kps_testlib import MPI_ENV, Tap  # noqa: E402

FIGURES = ["a", "b", "c", "d", "e1", "e2", "f1", "f2", "g"]
TABLES = {"a": ["a_tau_star", "a_tau_infl"], "c": ["c_L2_star"],
          "d": ["d_ideal_regime", "d_ideal_edge_class", "d_ideal_p_edge", "d_as_tau_star"],
          "e1": ["e_L2_star"], "e2": ["e_landscape_u"], "f1": ["f_fgsm_L", "f_fgsm_tau"],
          "g": ["g_tau_star_boundary", "g_fc_limit"]}


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


def number(x):
    return float(x) if not isinstance(x, str) else float(x.replace("inf", "inf"))


def rel(a, b):
    if math.isinf(a) or math.isinf(b):
        return 0.0 if a == b else math.inf
    return abs(a - b) / abs(a) if a != 0 else abs(b)


def w(tau, N, m, tau_c):
    return tau ** m * (tau ** (N - m) - tau_c ** (N - m))


def parse_label(label):
    """{'N': 5.0, 'm': 2.0, ...} from a row label such as 'N=5, m=2, tau2=0.1'."""
    out = {}
    for part in label.replace(":", ",").replace("(", ",").replace(")", ",").split(","):
        if "=" in part:
            k, v = part.strip().split("=", 1)
            try:
                out[k.strip()] = float(v.split()[0])
            except ValueError:
                pass
    return out


def check_numbers(tap, tables):
    """Re-derives the expected values of the closed-form tables here."""
    by_id = {t["id"]: t for t in tables}
    t = by_id.get("g_tau_star_boundary")
    if t:
        bad = []
        for r in t["rows"]:
            p = parse_label(r["label"])
            want = 3.0 * (p["m"] / p["N"]) ** (1.0 / (p["N"] - p["m"]))
            if rel(want, number(r["computed"])) > 1e-8:
                bad.append(f"{r['label']}: {r['computed']} vs {want}")
        tap.ok(len(t["rows"]) >= 20 and not bad,
               f"tau* on the boundary = tau_c (m/N)^(1/(N-m)) for {len(t['rows'])} (N, m), "
               "1e-8", "\n".join(bad))
    t = by_id.get("g_fc_limit")
    if t:
        bad = []
        for r in t["rows"]:
            p = parse_label(r["label"])
            want = 4000.0 / (4000.0 + 6000.0) if p["m"] == 0 else 1.0
            if rel(want, number(r["computed"])) > 1e-5:
                bad.append(f"{r['label']}: {r['computed']} vs {want}")
        n0 = sum(parse_label(r["label"])["m"] == 0 for r in t["rows"])
        tap.ok(n0 >= 5 and len(t["rows"]) > n0 and not bad,
               "FC(tau2 -> 0) = L1/(L1 + L2) for m = 0 and 1 for m > 0 (non-integer m too)",
               "\n".join(bad))
    t = by_id.get("f_fgsm_L")
    if t:
        bad = []
        for r in t["rows"]:
            p = parse_label(r["label"])
            want = -4000.0 * w(4.0, p["N"], p["m"], 3.0) / w(p["tau2"], p["N"], p["m"], 3.0) - p["L2"]
            want = want if want <= 1e7 else math.inf
            if rel(want, number(r["computed"])) > 1e-6:
                bad.append(f"{r['label']}: {r['computed']} vs {want}")
        tap.ok(not bad, "FGSM eps* in counts = L2*(tau2) - L2 (inf beyond 1e7)", "\n".join(bad))
    t = by_id.get("c_L2_star")
    if t:
        bad = []
        for r in t["rows"]:
            if "inputs" not in r:
                bad.append(f"{r['label']}: no full-precision inputs in tables.json")
                continue
            p = r["inputs"]                          # N, m, tau1, L1, tau2 unrounded
            N, m = p["N"], p["m"]
            want = max(0.0, -p["L1"] * w(p["tau1"], N, m, 4.0) / w(p["tau2"], N, m, 4.0))
            if abs(p["tau1"] - 4.0) < 1e-12:
                want = 0.0
            if rel(want, number(r["computed"])) > 1e-5:
                bad.append(f"{r['label']}: {r['computed']} vs {want}")
        tap.ok(not bad, "boundary tilting: L2* = -L1 w(tau1)/w(tau2)", "\n".join(bad))


def check_defence(tap, out, report, index):
    """The defence section against its results file."""
    import h5py
    import numpy as np
    d = report.get("defence") or {}
    if not tap.ok(d.get("status") == "ok", "defence section drawn", d.get("reason", "absent")):
        return
    pngs = [f["png"] for f in d["figures"]]
    tap.ok(pngs == ["defence_summary.png", "defence_landscape.png"]
           and all(p in index for p in pngs) and "The biomimetic defence" in index,
           "defence figures (summary, landscapes) in index.html", pngs)
    sizes = [png_size(os.path.join(out, p)) for p in pngs]
    tap.ok(all(s and s[0] > 600 and s[1] > 400 for s in sizes)
           and all(os.path.getsize(os.path.join(out, f["pdf"])) > 5000 for f in d["figures"]),
           f"defence figures as PNG ({sizes}) and PDF")
    with h5py.File(os.path.join(out, "data", "defence.h5"), "r") as f:
        st, clean = f["status"][()], f["clean_accuracy"][()]
        rob, eps = f["robust_accuracy"][()], f["eps"][()]
        attacks = [a.decode() for a in f["attack"][()]]
    rows = d["table"]["rows"]
    tap.ok(sorted(r["task"] for r in rows) == list(np.nonzero(st == 1)[0]),
           f"the table holds every computed network ({len(rows)})", [r["task"] for r in rows])
    bad = [r["network"] for r in rows
           if r["clean"] != clean[r["task"]]
           or any(r["robust"][a][f"{e:g}"] != rob[r["task"], i, k]
                  for k, a in enumerate(attacks) for i, e in enumerate(eps))]
    pgd = [r["robust"]["pgd"]["0.1"] for r in rows]
    tap.ok(not bad and pgd == sorted(pgd, reverse=True),
           "its numbers are the results file's, ranked by PGD accuracy at eps 0.1", bad or pgd)


def main(argv):
    if len(argv) != 3:
        print(f"usage: {argv[0]} BUILD_DIR SOURCE_DIR", file=sys.stderr)
        return 2
    build, source = (os.path.abspath(a) for a in argv[1:3])
    tap = Tap()
    env = dict(os.environ, KPS_BUILD_DIR=build, MPLBACKEND="Agg", **MPI_ENV)
    with tempfile.TemporaryDirectory(prefix="kps-paper-") as tmp:
        out = os.path.join(tmp, "paper")
        t0 = time.time()
        proc = subprocess.run(["bash", os.path.join(source, "scripts", "reproduce-paper.sh"),
                               "--quick", "--no-setup", "--defence", "--out", out],
                              capture_output=True, text=True, timeout=600, env=env, cwd=source)
        secs = time.time() - t0
        log = proc.stdout + proc.stderr
        print(f"# reproduce-paper.sh --quick: {secs:.1f} s, exit {proc.returncode}")
        tap.ok("total time" in proc.stdout, "reproduce-paper.sh --quick runs and prints its time",
               log)
        path = os.path.join(out, "tables.json")
        if not tap.ok(os.path.isfile(path), "tables.json written", log):
            tap.done()
        with open(path) as f:
            report = json.load(f)
        figures = {fig["id"]: fig for fig in report["figures"]}
        tap.ok(sorted(figures) == sorted(FIGURES), f"tables.json lists figures {FIGURES}",
               sorted(figures))
        with open(os.path.join(out, "index.html")) as f:
            index = f.read()
        for fid in FIGURES:
            fig = figures.get(fid, {})
            if fig.get("status") != "ok":
                tap.ok(False, f"figure {fid} drawn", fig.get("reason", "absent"))
                continue
            png = os.path.join(out, fig["png"])
            pdf = os.path.join(out, fig["pdf"])
            size = png_size(png) if os.path.isfile(png) else None
            pdf_ok = os.path.isfile(pdf) and os.path.getsize(pdf) > 5000
            if pdf_ok:
                with open(pdf, "rb") as f:
                    pdf_ok = f.read(5) == b"%PDF-"
            tap.ok(size is not None and size[0] > 600 and size[1] > 400
                   and os.path.getsize(png) > 20000 and pdf_ok,
                   f"figure {fid}: PNG ({size}) and PDF exist and are non-trivial")
            tap.ok(fig["png"] in index and len(fig.get("caption", "")) > 200,
                   f"figure {fid}: in index.html with a caption")
        tables = {t["id"]: t for t in report["tables"]}
        for fid, ids in TABLES.items():
            for tid in ids:
                t = tables.get(tid)
                fields_ok = t is not None and t["rows"] and all(
                    {"label", "expected", "computed", "rel_error", "pass"} <= set(r)
                    for r in t["rows"])
                tap.ok(fields_ok and t["pass"],
                       f"table {tid}: {len(t['rows']) if t else 0} rows pass (tolerance "
                       f"{t['tolerance'] if t else '?'})",
                       "" if t is None else "\n".join(
                           f"{r['label']}: expected {r['expected']} computed {r['computed']} "
                           f"err {r['rel_error']}" for r in t["rows"] if not r["pass"]))
        check_numbers(tap, report["tables"])
        check_defence(tap, out, report, index)
        # Its time is a figure, not a check (the machine is shared): the
        # benchmark of docs/paper.md is the full run's printed time.
        print(f"# --quick took {secs:.1f} s")
        r = subprocess.run(["bash", os.path.join(source, "scripts", "reproduce-paper.sh"),
                            "--no-setup", "--defence-file", os.path.join(tmp, "none.h5")],
                           capture_output=True, text=True, timeout=60, env=env, cwd=source)
        tap.ok(r.returncode == 2 and "no file" in r.stderr,
               "--defence-file of a missing file is exit 2", r.stdout + r.stderr)

        # Refusals: a file without parameter axes, a figure without its data.
        job = os.path.join(tmp, "noaxes.yaml")
        with open(job, "w") as f:
            f.write("model: ideal\nantagonist: {tau: {linear: [0.1, 2.9, 20]}}\n")
        h5 = os.path.join(tmp, "noaxes.h5")
        kp = subprocess.run([os.path.join(build, "src", "kpsweep"), "run", job, "-o", h5,
                             "--force"], capture_output=True, text=True, env=env, timeout=60)
        analysis = os.path.join(source, "analysis")
        r = subprocess.run([sys.executable, os.path.join(analysis, "plot_phase.py"), h5, "-o",
                            os.path.join(tmp, "x.png")], capture_output=True, text=True,
                           env=env, timeout=60)
        tap.ok(kp.returncode == 0 and r.returncode != 0 and "no parameter axis" in r.stderr
               and not os.path.exists(os.path.join(tmp, "x.png")),
               "plot_phase.py on a file without parameter axes exits non-zero with a message",
               kp.stderr + r.stdout + r.stderr)
        r = subprocess.run([sys.executable, os.path.join(analysis, "paper", "fig_b_descent.py"), h5,
                            "-o", os.path.join(tmp, "b.png")], capture_output=True, text=True,
                           env=env, timeout=60)
        tap.ok(r.returncode == 2 and "error:" in r.stderr
               and not os.path.exists(os.path.join(tmp, "b.png")),
               "fig_b_descent.py refuses a file without the descent's ligands", r.stderr)
        r = subprocess.run([sys.executable, os.path.join(analysis, "paper", "fig_a_antagonism.py"),
                            h5, "-o", os.path.join(tmp, "a.png")], capture_output=True,
                           text=True, env=env, timeout=60)
        tap.ok(r.returncode == 2 and "needs the parameter axes" in r.stderr,
               "fig_a_antagonism.py refuses a file without (N, m) axes", r.stderr)
    tap.done()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
