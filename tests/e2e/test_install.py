"""`meson install` into a temporary root (DESTDIR), then every installed
piece is used from there: the program runs a job from the installed
examples; a C program built with `pkg-config --cflags --libs kpsweep`
against the installed headers and libkpsweep loads that job through the
library; the Python package `kpsweep` reads the results and the installed
analysis script plots them; the documentation and licence are in
share/doc/kpsweep."""
import glob
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, env, write  # noqa: E402

PROGRAM = r"""
#include <mpi.h>
#include <stdio.h>

#include <kpsweep/config.h>
#include <kpsweep/model.h>

int main(int argc, char **argv) {
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) return 1;
  kps_config cfg;
  kps_config_defaults(&cfg);
  const kps_err rc = kps_config_load(&cfg, argv[1], MPI_COMM_WORLD);
  if (rc == KPS_OK)
    printf("model %s points %zu ideal %s\n", cfg.model->name, kps_config_n_points(&cfg),
           kps_model_find("ideal") ? "found" : "missing");
  kps_config_destroy(&cfg);
  MPI_Finalize();
  return rc == KPS_OK ? 0 : 1;
}
"""


def main():
    build = sys.argv[1]
    tap = Tap()
    root = tempfile.mkdtemp(prefix="kps-install-")
    e = env()
    e["DESTDIR"] = root
    r = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet"],
                       capture_output=True, text=True, env=e)
    tap.ok(r.returncode == 0, "meson install into a temporary root", r.stdout + r.stderr)
    found = lambda pattern: sorted(glob.glob(os.path.join(root, pattern), recursive=True))  # noqa: E731
    exe = (found("**/bin/kpsweep") or [""])[0]
    pc = (found("**/pkgconfig/kpsweep.pc") or [""])[0]
    pkg = (found("**/kpsweep/__init__.py") or [""])[0]
    job = (found("**/share/kpsweep/jobs/examples/default.yaml") or [""])[0]
    plot = (found("**/share/kpsweep/analysis/plot_phase.py") or [""])[0]
    tap.ok(all((exe, pc, pkg, job, plot)), "installed: program, pkg-config file, Python package, "
           "job examples, analysis scripts", (exe, pc, pkg, job, plot))
    headers = found("**/include/kpsweep/*.h")
    public = sorted(os.listdir(os.path.join(os.path.dirname(__file__), "..", "..", "include",
                                            "kpsweep")))
    tap.ok(sorted(os.path.basename(h) for h in headers) == public,
           f"every public header installed ({len(headers)})", headers)
    for name in ("output.md", "config.md", "science.md", "README.md", "LICENSE", "CITATION.cff"):
        tap.ok(bool(found(f"**/share/doc/kpsweep/{name}")), f"share/doc/kpsweep/{name}")

    out = os.path.join(root, "default.h5")
    r = subprocess.run([exe, "run", job, "-o", out, "--quiet"], capture_output=True, text=True,
                       env=env())
    tap.ok(r.returncode == 0, "the installed program runs the installed default job", r.stderr)

    # A program of the user's, built with pkg-config against the install.
    e = env()
    # DESTDIR moved the prefix: a copy of the .pc file with the moved one
    # (--define-variable would move the dependencies' prefixes too).
    prefix = exe[:-len("/bin/kpsweep")]
    moved = os.path.join(root, "pc")
    os.makedirs(moved)
    with open(pc) as f:
        text = f.read()
    write(os.path.join(moved, "kpsweep.pc"),
          "\n".join(f"prefix={prefix}" if line.startswith("prefix=") else line
                    for line in text.splitlines()) + "\n")
    e["PKG_CONFIG_PATH"] = moved
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "kpsweep"], capture_output=True,
                           text=True, env=e)
    tap.ok(flags.returncode == 0 and "-lkpsweep" in flags.stdout and root in flags.stdout,
           "pkg-config --cflags --libs kpsweep", flags.stdout + flags.stderr)
    src = write(os.path.join(root, "user.c"), PROGRAM)
    prog = os.path.join(root, "user")
    cc = subprocess.run(["cc", "-std=c11", src, "-o", prog] + flags.stdout.split(),
                        capture_output=True, text=True, env=e)
    tap.ok(cc.returncode == 0, "a C program compiles and links against the installed library",
           cc.stderr)
    r = subprocess.run([prog, job], capture_output=True, text=True, env=env()) if cc.returncode == 0 \
        else None
    tap.ok(r is not None and r.returncode == 0 and "model ideal points" in r.stdout
           and "ideal found" in r.stdout, "and loads the job through it",
           (r.stdout + r.stderr) if r else "")

    # The Python package, from the installed location only.
    e = env()
    e["PYTHONPATH"] = os.path.dirname(os.path.dirname(pkg))
    code = ("import kpsweep, sys; r = kpsweep.Results(sys.argv[1]); "
            "print(kpsweep.__file__, r.model, list(r.axes), r.axis_units['tau2'])")
    r = subprocess.run(["/usr/bin/python3", "-c", code, out], capture_output=True, text=True,
                       env=e, cwd=root)
    tap.ok(r.returncode == 0 and r.stdout.startswith(root) and " ideal " in r.stdout
           and r.stdout.strip().endswith("s"),
           "import kpsweep (the installed package) reads the results", r.stdout + r.stderr)
    png = os.path.join(root, "phase.png")
    e["MPLBACKEND"] = "Agg"
    r = subprocess.run(["/usr/bin/python3", plot, out, "-o", png], capture_output=True, text=True,
                       env=e, cwd=root)
    tap.ok(r.returncode == 0 and os.path.getsize(png) > 10000 if os.path.exists(png) else False,
           "the installed plot_phase.py draws the phase diagram", r.stdout + r.stderr)
    tap.done()


if __name__ == "__main__":
    main()
