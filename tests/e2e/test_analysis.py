#!/usr/bin/python3
"""End-to-end test of the analysis scripts on a real results file (TAP output).

    /usr/bin/python3 tests/e2e/test_analysis.py BUILD_DIR SOURCE_DIR

Runs `kpsweep run` on jobs/examples/default.yaml (the `ideal` model over N
and m) with mpirun -n 2, then plot_phase.py, plot_antagonism.py and
plot_boundary.py, and checks the PNGs and the science: for every valid
(N, m) with m > 0 the strongest antagonist tau* that plot_phase.phase_table
computes from the FC curve equals the closed form
tau* = tau_c (m T* / N)^(1/(N-m)), T* = O_rel at tau*, within 2 grid
spacings; for m = 0 there is no interior tau* (the helper returns None).
"""

import math
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

TIMEOUT = 90


class Tap:
    """Minimal TAP producer."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=""):
        """Records one test; prints diagnostics on failure."""
        self.n += 1
        if not cond:
            self.failed += 1
        print(f"{'ok' if cond else 'not ok'} {self.n} - {name}")
        if not cond and diag:
            for line in str(diag).rstrip().splitlines():
                print(f"# {line}")
        sys.stdout.flush()
        return cond

    def done(self):
        """Prints the plan; returns the exit status."""
        print(f"1..{self.n}")
        return 1 if self.failed else 0


def png_size(path):
    """(width, height) from a PNG's IHDR chunk, or None if not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def run(cmd, env=None):
    """Runs a command; returns the CompletedProcess (text output)."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env)


def check_png(tap, proc, out, what):
    """The script exited 0, printed the path, and wrote a PNG > 400 px each way."""
    tap.ok(proc.returncode == 0 and proc.stdout.strip() == out,
           f"{what} exits 0 and prints the output path", proc.stdout + proc.stderr)
    size = png_size(out) if os.path.isfile(out) else None
    tap.ok(size is not None and size[0] > 400 and size[1] > 400,
           f"{what} writes a valid PNG larger than 400x400 px (got {size})")


def check_science(tap, plot_phase, kpsweep_results, h5):
    """tau* against the closed form of `ideal`, edge regime for m = 0."""
    table = plot_phase.phase_table(h5)
    tap.ok(table.x == "N" and table.y == "m", f"phase table axes are (N, m): {table.x, table.y}")
    with kpsweep_results.Results(h5) as r:
        tau2, fc, tau_c = r.tau2, r.field("FC"), r.tau_c
    tap.ok(abs(tau_c - 3.0) < 1e-12, f"tau_c read from the file is 3 s (got {tau_c})")
    spacing = float(np.max(np.diff(np.sort(tau2))))
    bad_crit, bad_edge, bad_invalid, n_crit, n_beyond = [], [], [], 0, 0
    for i, n in enumerate(table.x_values):
        for j, m in enumerate(table.y_values):
            regime, tau = table.regime[i, j], table.tau_star[i, j]
            if m >= n:
                if regime != plot_phase.INVALID:
                    bad_invalid.append((n, m, regime))
                continue
            if m == 0:
                helper = kpsweep_results.strongest_antagonist(tau2, fc[i, j, 0])
                if regime != plot_phase.EDGE or helper is not None:
                    bad_edge.append((n, m, regime, helper))
                continue
            t_star = table.o_rel_star[i, j]
            closed = tau_c * (m * t_star / n) ** (1.0 / (n - m))
            if regime == plot_phase.CRITICAL:
                n_crit += 1
                ok = math.isfinite(closed) and abs(tau - closed) <= 2 * spacing
            else:
                # FC still falls at the top of the axis: the closed-form
                # minimum must lie there or beyond it.
                n_beyond += 1
                ok = regime == plot_phase.BEYOND and closed >= tau2.max() - 2 * spacing
            if not ok:
                bad_crit.append((n, m, regime, tau, closed))
    tap.ok(not bad_invalid, "every (N, m) with m >= N is marked invalid", bad_invalid)
    tap.ok(not bad_edge, "m = 0: edge regime, strongest_antagonist returns None", bad_edge)
    tap.ok(n_crit >= 10 and not bad_crit,
           f"m > 0: tau* equals tau_c (m T*/N)^(1/(N-m)) within 2 grid spacings "
           f"({n_crit} interior, {n_beyond} beyond the axis)",
           "\n".join(f"N={n:g} m={m:g} {reg}: tau*={t:.5f} closed form={c:.5f}"
                     for n, m, reg, t, c in bad_crit))
    crit = table.regime == plot_phase.CRITICAL
    rel_ok = np.allclose(table.tau_star_rel[crit], table.tau_star[crit] / tau_c)
    tap.ok(rel_ok and np.all((table.tau_star_rel[crit] > 0) & (table.tau_star_rel[crit] < 1)),
           "tau*/tau_c lies in (0, 1) in the critical regime")


def check_helper(tap, kpsweep_results):
    """strongest_antagonist on analytic curves."""
    x = np.linspace(0.0, 2.0, 21)
    tau = kpsweep_results.strongest_antagonist(x, (x - 0.73) ** 2 + 0.5)
    tap.ok(tau is not None and abs(tau - 0.73) < 1e-9,
           f"parabola refinement recovers an off-grid minimum exactly (got {tau})")
    tap.ok(kpsweep_results.strongest_antagonist(x, x + 1.0) is None,
           "minimum at the lower edge: strongest_antagonist returns None")


def main(argv):
    """Runs every check; returns the exit status."""
    if len(argv) != 3:
        print(f"usage: {argv[0]} BUILD_DIR SOURCE_DIR", file=sys.stderr)
        return 2
    build, source = (os.path.abspath(a) for a in argv[1:3])
    analysis = os.path.join(source, "analysis")
    sys.path.insert(0, analysis)
    import kpsweep.results as kpsweep_results  # noqa: E402
    import plot_phase  # noqa: E402

    tap = Tap()
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", MPLBACKEND="Agg")
    check_helper(tap, kpsweep_results)
    with tempfile.TemporaryDirectory(prefix="kps-e2e-") as tmp:
        h5 = os.path.join(tmp, "default.h5")
        proc = run(["mpirun", "-n", "2", os.path.join(build, "src", "kpsweep"), "run",
                    os.path.join(source, "jobs", "examples", "default.yaml"), "-o", h5,
                    "--force"], env)
        if not tap.ok(proc.returncode == 0 and os.path.isfile(h5),
                      "kpsweep run default.yaml on 2 ranks", proc.stdout + proc.stderr):
            return tap.done()
        for script in ("plot_phase", "plot_antagonism"):
            out = os.path.join(tmp, f"{script}.png")
            proc = run([sys.executable, os.path.join(analysis, f"{script}.py"), h5, "-o", out],
                       env)
            check_png(tap, proc, out, f"{script}.py")
        check_science(tap, plot_phase, kpsweep_results, h5)
        png = os.path.join(tmp, "boundary.png")
        proc = run([sys.executable, os.path.join(analysis, "plot_boundary.py"), h5, "-o", png], env)
        tap.ok(proc.returncode == 0 and (png_size(png) or (0, 0))[0] > 400,
               "plot_boundary.py draws the L2*(tau2) boundaries", proc.stdout + proc.stderr)
        proc = run([sys.executable, os.path.join(analysis, "plot_boundary.py"), h5, "-o", png,
                    "--max-lines", "1"], env)
        tap.ok(proc.returncode == 0 and "note: 1 of" in proc.stderr and "--max-lines" in proc.stderr,
               "plot_boundary.py says which parameter points it leaves out", proc.stderr)
        proc = run([sys.executable, os.path.join(analysis, "plot_phase.py"),
                    os.path.join(tmp, "missing.h5")], env)
        tap.ok(proc.returncode == 2 and "no such file" in proc.stderr,
               "plot_phase.py exits 2 for a missing file", proc.stdout + proc.stderr)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
