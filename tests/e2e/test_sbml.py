"""SBML import (`model: {sbml: FILE, ligands, output, params}`, docs/networks.md
"From SBML"), end to end:

* kpr with N = 3 and two ligand types written as SBML by libSBML's Python
  bindings (tests/e2e/sbml_kpr.py: explicit species C0_1..C3_2, R, L1, L2,
  mass action through a function definition, R's amount an initialAssignment
  from the parameter R_T) swept over phi and the antagonist equals the
  built-in kpr with N = 3: every float field to 1e-9 relative, labels exactly;
* the conservation laws found (free R, L1, L2) and the translated network
  stored in the results file;
* a parameter override (model.params) and an SBML parameter on an axis equal
  the built-in model with the same values;
* refusals, exit 2 with the element named: an event, an algebraic rule, a
  rate rule, a ligand id that is not in the model, an output naming an
  unknown id, malformed XML, a ligands list that does not match K.
"""
import os
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from kps_testlib import Tap, kpsweep, write  # noqa: E402
from test_network import compare  # noqa: E402

import libsbml  # noqa: E402
import sbml_kpr  # noqa: E402

JOB = """name: {name}
model: {model}
{params}
axes:
  {axis}: {{log: [0.01, 0.3, 3]}}
agonist: {{tau: 4.0, L: 4000}}
antagonist:
  tau: {{linear: [0.1, 2.9, 8]}}
  L: [1000, 6000]
threshold: {{tau_c: 3.0, L_ref: 1e5}}
"""
SBML = ("{{sbml: {file}, ligands: [{{L: L1, koff: koff1}}, {{L: L2, koff: koff2}}], "
        "output: \"C3_1 + C3_2\"{more}}}")


def compare_field(a, b, name):
    x, y = a["points"][name][...], b["points"][name][...]
    return x.shape == y.shape and np.allclose(x, y, rtol=1e-9, atol=0)


def run(build, job, out):
    return kpsweep(build, ["run", job, "-o", out, "--quiet"])


def shipped(tap, build, src, tmp):
    """jobs/networks/kpr_N3.xml is what sbml_kpr.py writes, and the example
    job jobs/examples/sbml_kpr.yaml that imports it validates."""
    if not tap.ok(src is not None, "the source directory is given (second argument)"):
        return
    again = os.path.join(tmp, "kpr_N3.xml")
    sbml_kpr.write(again, N=3)
    with open(again) as a, open(os.path.join(src, "jobs", "networks", "kpr_N3.xml")) as b:
        tap.ok(a.read() == b.read(), "jobs/networks/kpr_N3.xml is sbml_kpr.py's kpr with N = 3")
    r = kpsweep(build, ["validate", os.path.join(src, "jobs", "examples", "sbml_kpr.yaml")])
    tap.ok(r.returncode == 0 and "valid" in r.stdout, "jobs/examples/sbml_kpr.yaml validates",
           r.stdout + r.stderr)


def main():
    build = sys.argv[1]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="kps-sbml-")
    sbml_kpr.write(os.path.join(tmp, "kpr.xml"))

    # The antagonist's rate parameter given as a time (tau:), the agonist's as
    # an off-rate (koff:): both mappings in one model.
    model = SBML.format(file="kpr.xml", more="")
    job = write(os.path.join(tmp, "sbml.yaml"), JOB.format(name="sb", model=model, params="",
                                                             axis="phi"))
    ref = write(os.path.join(tmp, "ref.yaml"), JOB.format(name="ref", model="kpr",
                                                            params="params: {N: 3}", axis="phi"))
    out, out_ref = os.path.join(tmp, "sbml.h5"), os.path.join(tmp, "ref.h5")
    r1, r2 = run(build, job, out), run(build, ref, out_ref)
    tap.ok(r1.returncode == 0 and r2.returncode == 0, "an SBML job runs, and its built-in twin",
           r1.stdout + r1.stderr + r2.stderr)
    if r1.returncode or r2.returncode:
        tap.done()
    with h5py.File(out, "r") as a, h5py.File(out_ref, "r") as b:
        bad = compare(a, b)
        # Every field: also those of the agonist alone (K - 1 ligand types)
        # and the threshold (K = 1), which the flat network sees padded.
        tap.ok(not bad, "the SBML kpr's sweep equals the built-in kpr's in every field (N = 3; "
               "1e-9; labels exact)", bad)
        tap.ok((a["points/status"][...] == 0).all(), "every point of the SBML sweep converged")
        text = a.attrs["network"]
        text = text.decode() if isinstance(text, bytes) else text
        o = a["points/O"][...]
        tap.ok(compare_field(a, b, "O"), "the combined output O (K = 2) equals the built-in kpr's "
               "(1e-9)", str(o.ravel()[:4]))
        tap.ok("conservation:" in text and "  R: {total: \"(R_T)\"" in text and
               "  L1: {total: \"L[0]\"" in text and "  L2: {total: \"L[1]\"" in text,
               "the laws found: free R (total R_T), L1 (L[0]), L2 (L[1])", text)
        src = a.attrs["network_source"]
        src = src.decode() if isinstance(src, bytes) else src
        tap.ok(src.endswith("kpr.xml"), "root attribute `network_source` is the SBML file", src)

    # An override of an SBML parameter, and an SBML parameter on an axis.
    model = SBML.format(file="kpr.xml", more=", params: {R_T: 3e4}")
    job = write(os.path.join(tmp, "ov.yaml"), JOB.format(name="ov", model=model, params="",
                                                           axis="kappa"))
    ref = write(os.path.join(tmp, "ovref.yaml"), JOB.format(
        name="ovref", model="kpr", params="params: {N: 3, R: 3e4}", axis="kappa"))
    r1, r2 = run(build, job, out + "2"), run(build, ref, out_ref + "2")
    ok = r1.returncode == 0 and r2.returncode == 0
    tap.ok(ok, "params: {R_T: 3e4} and kappa on an axis run", r1.stderr + r2.stderr)
    bad = []
    if ok:
        with h5py.File(out + "2", "r") as a, h5py.File(out_ref + "2", "r") as b:
            bad = compare(a, b)
            tap.ok(compare_field(a, b, "O"), "with params: {R_T: 3e4}, kappa on an axis: O "
                   "equals the built-in kpr's (1e-9)")
    tap.ok(ok and not bad, "params: {R_T: 3e4} and kappa on an axis: every field equals the "
           "built-in kpr's",
           r1.stderr + r2.stderr + (str(bad) if ok else ""))

    def event(m):
        e = m.createEvent()
        e.setId("pulse"), e.setUseValuesFromTriggerTime(True)
        t = e.createTrigger()
        t.setMath(libsbml.parseL3Formula("time > 10")), t.setInitialValue(False)
        t.setPersistent(True)
        a = e.createEventAssignment()
        a.setVariable("R"), a.setMath(libsbml.parseL3Formula("R_T"))

    def algebraic(m):
        m.createAlgebraicRule().setMath(libsbml.parseL3Formula("kappa - 1"))

    def rate_rule(m):
        p = m.getParameter("phi")
        p.setConstant(False)
        r = m.createRateRule()
        r.setVariable("phi"), r.setMath(libsbml.parseL3Formula("1"))

    sbml_kpr.write(os.path.join(tmp, "event.xml"), extra=event)
    sbml_kpr.write(os.path.join(tmp, "alg.xml"), extra=algebraic)
    sbml_kpr.write(os.path.join(tmp, "rate.xml"), extra=rate_rule)
    write(os.path.join(tmp, "broken.xml"), open(os.path.join(tmp, "kpr.xml")).read()[:-40])
    cases = [
        (SBML.format(file="event.xml", more=""), "model.sbml", 'event "pulse"'),
        (SBML.format(file="alg.xml", more=""), "model.sbml", "algebraic rule"),
        (SBML.format(file="rate.xml", more=""), "model.sbml", 'rate rule for "phi"'),
        (SBML.format(file="broken.xml", more=""), "model.sbml", "not valid SBML"),
        (SBML.format(file="missing.xml", more=""), "model.sbml", "cannot read the SBML file"),
        (SBML.format(file="kpr.xml", more="").replace("L: L2", "L: L9"), "model.ligands",
         '"L9": no species or parameter'),
        (SBML.format(file="kpr.xml", more="").replace("C3_1 + C3_2", "C3_1 + Q"), "model.output",
         'unknown id "Q"'),
        (SBML.format(file="kpr.xml", more="").replace("C3_1 + C3_2", "C3_1 + kappa"),
         "model.output", "kappa is a parameter"),
        (SBML.format(file="kpr.xml", more="").replace(", {L: L2, koff: koff2}", ""),
         "model.ligands", "1 entries, but the job has 2 ligand types"),
        (SBML.format(file="kpr.xml", more=", params: {nope: 1}"), "model.params", '"nope"'),
    ]
    for model, where, what in cases:
        bad = write(os.path.join(tmp, "bad.yaml"), JOB.format(name="bad", model=model, params="",
                                                               axis="phi"))
        r = kpsweep(build, ["validate", bad])
        tap.ok(r.returncode == 2 and where in r.stderr and what in r.stderr and
               "bad.yaml:" in r.stderr, f"{what}: exit 2 naming {where}", r.stderr)
    shipped(tap, build, sys.argv[2] if len(sys.argv) > 2 else None, tmp)
    tap.done()


if __name__ == "__main__":
    main()
