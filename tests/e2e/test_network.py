"""A network file as a job's model (`model: {network: FILE}`, docs/networks.md),
end to end:

* the kpr network (jobs/networks/kpr.yaml) swept over N, phi and two doses
  equals the built-in kpr: every float field to 1e-9 relative (round-off of
  two evaluation orders and the searches' tolerances), every status,
  decision and regime label exactly;
* the same file on 1 and 2 worker ranks (h5diff);
* the results file carries the network (root attributes `network`,
  `network_source`) and its hash in the canonical text; a changed network
  file makes --resume refuse the file;
* `solve --config` of a network job equals that of the built-in model;
* errors: a missing network file, an error inside it (its own
  file:line:column), an unknown key in `model:`, `model: {}`: exit 2;
* the Lipniacki et al. 2008 network (jobs/networks/lipniacki2008.yaml) at
  three points of its example job (on, switched off, on again along tau2):
  `solve --config` against an independent transcription of the paper's 37
  ODEs (tests/e2e/lipniacki_ref.py, scipy): the state equals the one
  integrated from rest, O, dO/dtau_i, dO/dL_i and dO/dp equal central
  finite differences of re-solved steady states, the clock factor `speed`
  has gradient 0.
"""
import json
import os
import shutil
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, h5diff, kpsweep, write  # noqa: E402
import lipniacki_ref as lip  # noqa: E402

JOB = """name: {name}
model: {model}
axes:
  N: {{values: [2, 5]}}
  phi: {{log: [0.01, 0.3, 3]}}
agonist: {{tau: 4.0, L: 4000}}
antagonist:
  tau: {{linear: [0.1, 2.9, 24]}}
  L: [1000, 6000]
threshold: {{tau_c: 3.0}}
"""
EXACT = {"status", "decision", "regime", "edge_class", "pgd_flipped", "descent_flipped"}
SKIP = {"adjoint_check", "n_solves", "cv_steps", "newton_iters"}  # how, not what


def run(build, job, out, ranks=None, extra=()):
    return kpsweep(build, ["run", job, "-o", out, "--quiet", *extra], ranks=ranks)


def compare(a, b):
    """Names of the datasets of /points and /lines that differ beyond round-off."""
    bad = []
    for grp in ("points", "lines"):
        for n in b[grp]:
            if b[grp][n].attrs.get("CLASS") == b"DIMENSION_SCALE" or n in SKIP:
                continue
            x, y = a[grp][n][...], b[grp][n][...]
            if n in EXACT or x.dtype.kind != "f":
                if not np.array_equal(x, y):
                    bad.append(n)
                continue
            fin = np.isfinite(y)
            if not np.array_equal(np.isfinite(x), fin) or not np.array_equal(x[~fin], y[~fin], equal_nan=True):
                bad.append(n)
                continue
            rel = np.abs(x[fin] - y[fin]) / np.maximum(np.abs(y[fin]), 1e-300)
            if rel.size and rel.max() > 1e-9:
                bad.append(f"{n} ({rel.max():.2e})")
    return bad


LIP_POINTS = ("0.5", "2.5", "6.5")   # tau2 of the example job: on, off, on
LIP_FD = ("b1", "ls2", "s1", "TCRT")  # parameters checked by finite differences


def lipniacki_point(build, job, tau2):
    """(solve --json answer, reference state, dicts of FD and network gradients)."""
    r = kpsweep(build, ["solve", "--config", job, "--at", "L1=1000",
                        "--at", "ls2=1.6666666666666667e-6", "--at", f"tau2={tau2}", "--json"])
    d = json.loads(r.stdout)
    tau = [g["tau"] for g in d["ligands"]]
    L = [g["L"] for g in d["ligands"]]
    p = lip.params(**{k: v for k, v in d["params"].items() if k not in ("Np", "speed")})
    y = lip.steady_from_rest(p, tau, L)

    def O(p=p, tau=tau, L=L):
        return lip.steady_near(p, tau, L, y)[36]

    fd, net = {}, {}
    for i in (0, 1):
        h = 1e-4 * tau[i]
        up, dn = list(tau), list(tau)
        up[i], dn[i] = tau[i] + h, tau[i] - h
        fd[f"tau{i}"], net[f"tau{i}"] = (O(tau=up) - O(tau=dn)) / (2 * h), d["grad_tau"][i]
        h = 1e-4 * L[i]
        up, dn = list(L), list(L)
        up[i], dn[i] = L[i] + h, L[i] - h
        fd[f"L{i}"], net[f"L{i}"] = (O(L=up) - O(L=dn)) / (2 * h), d["grad_L"][i]
    for k in LIP_FD:
        v = d["params"][k]
        h = 1e-4 * v
        up = lip.params(**{**d["params"], k: v + h})
        dn = lip.params(**{**d["params"], k: v - h})
        for q in (up, dn):
            q.pop("Np"), q.pop("speed")
        fd[k], net[k] = (O(p=up) - O(p=dn)) / (2 * h), d["grad_params"][k]
    return d, p, L, y, fd, net


def check_lipniacki(build, src, tap):
    job = os.path.join(src, "jobs", "examples", "network_lipniacki2008.yaml")
    for tau2 in LIP_POINTS:
        try:
            d, p, L, y, fd, net = lipniacki_point(build, job, tau2)
        except (ValueError, KeyError, RuntimeError) as e:
            tap.ok(False, f"lipniacki2008 at tau2 = {tau2}: solve --config and the reference", e)
            continue
        mine = lip.from_network(d["state_names"], d["state"], p, L)
        scale = np.abs(lip.rhs(y, p, [g["tau"] for g in d["ligands"]])).max() + 1e-300
        off = np.abs(mine - y) / (np.abs(y) + 1e-3)
        tap.ok(d["status"] == "ok" and off.max() < 1e-9 and abs(d["output"] / y[36] - 1) < 1e-9,
               f"lipniacki2008 at tau2 = {tau2} s: every species and O = ppERK = {y[36]:.6g} "
               "equal the paper's ODEs integrated from rest (1e-9)",
               f"status {d['status']}, O {d['output']} vs {y[36]}, worst species {off.max():.2e}, "
               f"reference residual {scale:.1e}")
        bad = {k: (net[k], fd[k]) for k in fd
               if abs(net[k] - fd[k]) > 1e-6 * abs(fd[k])}
        tap.ok(not bad, f"lipniacki2008 at tau2 = {tau2} s: dO/dtau_i, dO/dL_i, dO/d({', '.join(LIP_FD)}) "
               "equal central differences of the reference steady state (1e-6)", bad)
        tap.ok(d["grad_params"].get("speed") == 0.0,
               f"lipniacki2008 at tau2 = {tau2} s: dO/dspeed is exactly 0 (a clock factor)",
               d["grad_params"].get("speed"))


SADDLE_JOB = """name: saddle
model: {{network: {net}}}
params: {{speed: 1}}
agonist: {{tau: 10.0, L: 1000}}
antagonist: {{tau: {{values: [1.0]}}, L: 0}}
threshold: {{tau_c: 8.7, value: 1.5e5}}
solver: {{warm_start: false}}
stats: {{boundary: false}}
"""


def check_saddle(build, src, tmp, tap):
    """At the paper's own clock (speed = 1) the first Newton polish of one
    type at 10 s and 1000 copies converges to the unstable middle state
    (ppERK 5.19e4, a saddle); the solver must reject it (det J of the wrong
    sign) and integrate on to the state reached from rest."""
    net = os.path.join(src, "jobs", "networks", "lipniacki2008.yaml")
    job = write(os.path.join(tmp, "saddle.yaml"), SADDLE_JOB.format(net=net))
    r = kpsweep(build, ["solve", "--config", job, "--json"])
    d = json.loads(r.stdout)
    p = lip.params(**{k: v for k, v in d["params"].items() if k not in ("Np", "speed")})
    y = lip.steady_from_rest(p, [g["tau"] for g in d["ligands"]], [g["L"] for g in d["ligands"]])
    tap.ok(d["status"] == "ok" and abs(d["output"] / y[36] - 1) < 1e-9,
           f"lipniacki2008, speed 1, one type at 10 s x 1000: the state from rest "
           f"(ppERK {y[36]:.6g}), not the saddle between the branches",
           f"status {d['status']}, O {d['output']}")


def main():
    build, src = sys.argv[1], sys.argv[2]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="kps-network-")
    os.makedirs(os.path.join(tmp, "nets"))
    net = shutil.copy(os.path.join(src, "jobs", "networks", "kpr.yaml"), os.path.join(tmp, "nets"))
    job = write(os.path.join(tmp, "net.yaml"), JOB.format(name="net", model="{network: nets/kpr.yaml}"))
    ref = write(os.path.join(tmp, "ref.yaml"), JOB.format(name="ref", model="kpr"))
    out_net, out_ref = os.path.join(tmp, "net.h5"), os.path.join(tmp, "ref.h5")
    r1, r2 = run(build, job, out_net), run(build, ref, out_ref)
    tap.ok(r1.returncode == 0 and r2.returncode == 0,
           "a job with model: {network: FILE} (relative to the job) runs, and its built-in twin",
           r1.stdout + r1.stderr + r2.stderr)
    if r1.returncode or r2.returncode:
        tap.done()
    with h5py.File(out_net, "r") as a, h5py.File(out_ref, "r") as b:
        bad = compare(a, b)
        tap.ok(not bad, "the kpr network's sweep equals the built-in kpr's (1e-9; labels exact)", bad)
        tap.ok((a["points/status"][...] == 0).all(), "every point of the network sweep converged")
        text = a.attrs["network"]
        text = text.decode() if isinstance(text, bytes) else text
        with open(net) as f:
            tap.ok(text == f.read(), "root attribute `network` holds the network file as read")
        srcattr = a.attrs["network_source"]
        srcattr = srcattr.decode() if isinstance(srcattr, bytes) else srcattr
        tap.ok(srcattr.endswith("nets/kpr.yaml"), "root attribute `network_source`", srcattr)
        canon = a.attrs["config_canonical"]
        canon = canon.decode() if isinstance(canon, bytes) else canon
        tap.ok("model.network_fnv1a=" in canon, "the canonical text holds the network's hash")

    out2 = os.path.join(tmp, "net2.h5")
    r = run(build, job, out2, ranks=3)
    same, diff = h5diff(out_net, out2, "/points") if r.returncode == 0 else (False, r.stderr)
    same_l, diff_l = h5diff(out_net, out2, "/lines") if r.returncode == 0 else (False, "")
    tap.ok(same and same_l, "the network job on 1 and on 2 worker ranks: identical /points, /lines",
           diff + diff_l)

    # A changed network is another job: --resume refuses the file.
    with open(net, "a") as f:
        f.write("# edited\n")
    r = run(build, job, out_net, extra=("--resume",))
    tap.ok(r.returncode == 2 and "config" in (r.stdout + r.stderr).lower(),
           "--resume after the network file changed: refused (exit 2)", r.stdout + r.stderr)

    s1 = kpsweep(build, ["solve", "--config", job, "--json"])
    s2 = kpsweep(build, ["solve", "--config", ref, "--json"])
    try:
        d1, d2 = json.loads(s1.stdout), json.loads(s2.stdout)
        close = all(np.allclose(d1[k], d2[k], rtol=1e-10, atol=0)
                    for k in ("output", "grad_tau", "grad_L"))
        close = close and np.allclose([d1["grad_params"][k] for k in ("phi", "kappa", "R")],
                                      [d2["grad_params"][k] for k in ("phi", "kappa", "R")],
                                      rtol=1e-10, atol=0)
    except (ValueError, KeyError, TypeError):
        close = False
    tap.ok(s1.returncode == 0 and close,
           "solve --config: the network's output and gradients equal the built-in model's (1e-10)",
           s1.stdout + s1.stderr + s2.stdout)

    check_lipniacki(build, src, tap)
    check_saddle(build, src, tmp, tap)

    cases = [
        ("{network: nets/missing.yaml}", "model.network", "cannot read the network file", 2),
        ("{network: nets/bad.yaml}", "bad.yaml:", "", None),
        ("{network: nets/kpr.yaml, sbml: x.xml}", "model.sbml", "exactly one of network and sbml", 2),
        ("{}", "model", "network", 2),
        ("{network: /dev/null}", "model.network", "not a regular file", 2),
    ]
    write(os.path.join(tmp, "nets", "bad.yaml"),
          open(os.path.join(src, "jobs", "networks", "kpr.yaml")).read().replace(
              'k: phi}', 'k: phii}'))
    for model, where, what, line in cases:
        bad = write(os.path.join(tmp, "bad-job.yaml"), JOB.format(name="bad", model=model))
        for verb in ("validate", "run"):
            args = [verb, bad] + (["-o", os.path.join(tmp, "bad.h5")] if verb == "run" else [])
            r = kpsweep(build, args)
            msg = r.stderr
            pos_ok = f"bad-job.yaml:{line}:" in msg if line else ":" in msg.split(where)[-1][:12]
            tap.ok(r.returncode == 2 and where in msg and what in msg and pos_ok,
                   f"{verb} with model: {model}: exit 2 naming {where} {what}", msg)
        tap.ok(not os.path.exists(os.path.join(tmp, "bad.h5")), f"model: {model}: no file written")
    tap.done()


if __name__ == "__main__":
    main()
