"""The results file has exactly the documented layout: every field of
include/kpsweep/results.h is a dataset of the documented shape in a file the
engine wrote, every one is listed in docs/output.md, dimension scales are
attached, and h5dump -H reads the file."""
import os
import re
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from kps_testlib import Tap, kpsweep, write  # noqa: E402

JOB = """model: adaptive_sorting
params: {N: 3, m: 1}
axes:
  phi: {values: [0.05, 0.09]}
  delta: {values: [1, 2, 3]}
antagonist:
  tau: {linear: [0.5, 2.5, 7]}
  L: {values: [1000, 6000]}
attacks: {enabled: true, descent: false}
"""


def main():
    build, src = sys.argv[1], sys.argv[2]
    tap = Tap()
    header = open(os.path.join(src, "include", "kpsweep", "results.h")).read()
    fields = re.findall(r'X\(F_\w+, "(\w+)", KPS_\w+, KPS_(POINT|LINE_BIN|LINE_LIGAND|LINE_LAND|LINE),',
                        header)
    tap.ok(len(fields) >= 20, f"{len(fields)} fields in KPS_FIELD_LIST")
    doc = open(os.path.join(src, "docs", "output.md")).read()
    tmp = tempfile.mkdtemp(prefix="kps-layout-")
    out = os.path.join(tmp, "layout.h5")
    r = kpsweep(build, ["run", write(os.path.join(tmp, "job.yaml"), JOB), "-o", out, "--quiet"], ranks=2)
    tap.ok(r.returncode == 0, "run on 2 ranks", r.stderr)
    with h5py.File(out, "r") as f:
        for name, scope in fields:
            path = f"/{'points' if scope == 'POINT' else 'lines'}/{name}"
            # Without descent and landscape their own dimensions have length 1.
            want = {"POINT": (2, 3, 2, 7), "LINE": (2, 3, 2), "LINE_BIN": (2, 3, 2, 1),
                    "LINE_LIGAND": (2, 3, 2, 1), "LINE_LAND": (2, 3, 2, 1, 1)}[scope]
            ok = path in f and f[path].shape == want
            tap.ok(ok, f"{path} has shape {want}", f[path].shape if path in f else "missing")
            tap.ok(f"`{path}`" in doc, f"{path} is documented in docs/output.md")
        listed = {f"/points/{k}" for k in f["points"]} | {f"/lines/{k}" for k in f["lines"]}
        # The coordinates, hard-linked into each group (docs/output.md).
        coords = {f"/points/{a}" for a in ("phi", "delta", "L2", "tau2")} | \
                 {f"/lines/{a}" for a in ("phi", "delta", "L2", "bin", "ligand", "land_u", "land_v")}
        expected = {f"/{'points' if s == 'POINT' else 'lines'}/{n}" for n, s in fields} | coords
        tap.ok(listed == expected, "no undocumented datasets", listed ^ expected)
        tap.ok(all(f[c].id == f[f"axes/{c.rsplit('/', 1)[1]}"].id for c in coords),
               "the coordinates in /points and /lines are the /axes datasets (hard links)")
        for a in ("phi", "delta", "L2", "tau2", "bin", "ligand", "land_u", "land_v"):
            d = f[f"axes/{a}"]
            tap.ok(isinstance(d.attrs.get("units"), str) and isinstance(d.attrs.get("long_name"), str)
                   and d.attrs["long_name"], f"axis {a} has units ({d.attrs.get('units')!r}) and a long_name")
        tap.ok(f["axes/phi"].attrs["units"] == "1/s" and f["axes/L2"].attrs["units"] == "molecules"
               and f["axes/tau2"].attrs["units"] == "s", "axis units from the model's parameter table")
        tap.ok(f["axes/ligand"].attrs["units"] == "s" and f["axes/land_u"].attrs["units"] == "molecules"
               and f["axes/land_v"].attrs["units"] == "molecules"
               and all(np.isnan(f[f"axes/{a}"][...]).all() for a in ("ligand", "land_u", "land_v")),
               "ligand (s), land_u, land_v (molecules) scales: length 1, NaN when off")
        land = [d[0].name.rsplit("/", 1)[-1] for d in f["lines/landscape"].dims]
        lig = [d[0].name.rsplit("/", 1)[-1] for d in f["lines/descent_ligand_tau"].dims]
        tap.ok(land == ["phi", "delta", "L2", "land_u", "land_v"] and lig[-1] == "ligand"
               and f["lines/landscape_u"].dims[3][0].name.rsplit("/", 1)[-1] == "bin",
               "landscape has the scales land_u, land_v; descent_ligand_tau ligand; landscape_u bin",
               (land, lig))
        bad_fill = []
        for name, scope in fields:
            d = f[f"/{'points' if scope == 'POINT' else 'lines'}/{name}"]
            fv = d.attrs.get("_FillValue")
            if fv is None or np.asarray(fv).dtype != d.dtype or not (
                    (np.isnan(fv) and np.isnan(d.fillvalue)) or fv == d.fillvalue):
                bad_fill.append(name)
        tap.ok(not bad_fill, "every field has a _FillValue of its own type equal to its HDF5 fill value",
               bad_fill)
        tap.ok(all(isinstance(f.attrs[k], str) for k in ("config", "model", "kpsweep_version", "status_codes")),
               "string attributes are variable-length UTF-8 (str in h5py)")
        tap.ok(h5py.check_string_dtype(f.attrs.get_id("model").dtype).encoding == "utf-8",
               "with UTF-8 character set")
        num = {k: f.attrs.get(k) for k in ("param_N", "param_m", "param_R", "tau_c", "agonist_tau",
                                           "agonist_L")}
        tap.ok(num["param_N"] == 3 and num["param_m"] == 1 and num["tau_c"] == 3.0
               and num["agonist_tau"] == 4.0 and num["agonist_L"] == 4000.0
               and f.attrs["param_R_units"] == "molecules" and "param_phi" not in f.attrs,
               "fixed parameters, tau_c and the agonist as numeric root attributes (swept ones not)", num)
        for name in ("decision", "status", "pgd_flipped"):
            d = f[f"points/{name}"]
            ok = "flag_values" in d.attrs and len(d.attrs["flag_values"]) == len(
                d.attrs["flag_meanings"].split()) and d.attrs["flag_values"].dtype == d.dtype
            tap.ok(ok, f"/points/{name} has CF flag_values and flag_meanings of its own type")
        for name, meanings in (("regime", "unknown none edge critical beyond"),
                               ("edge_class", "unknown steep flat"),
                               ("descent_flipped", "not_applicable no yes")):
            d = f[f"lines/{name}"]
            ok = d.attrs.get("flag_meanings", "") == meanings and \
                list(d.attrs["flag_values"]) == list(range(-1, len(meanings.split()) - 1))
            tap.ok(ok, f"/lines/{name}: flag_meanings '{meanings}'", dict(d.attrs))
        dims = [d.label or (d[0].name if len(d) else "") for d in f["points/O"].dims]
        tap.ok([d.split("/")[-1] for d in dims] == ["phi", "delta", "L2", "tau2"],
               "dimension scales phi, delta, L2, tau2 attached to /points/O", dims)
        for attr in ("kpsweep_version", "git_revision", "config", "config_hash", "n_ranks",
                     "start_time", "end_time", "rank_lines", "rank_busy_seconds", "complete"):
            tap.ok(attr in f.attrs, f"provenance attribute {attr}")
        tap.ok(list(f.attrs["rank_lines"]) == [0.0, 12.0], "per-rank line counts (master 0, worker 12)",
               f.attrs["rank_lines"])
    import xarray as xr
    pts = xr.open_dataset(out, engine="h5netcdf", group="points")
    tap.ok(pts["O"].dims == ("phi", "delta", "L2", "tau2") and pts["O"].shape == (2, 3, 2, 7),
           "xarray (h5netcdf) opens /points with named dimensions", pts["O"].dims)
    tap.ok(set(pts["O"].coords) == {"phi", "delta", "L2", "tau2"}
           and pts["O"].coords["tau2"].attrs.get("units") == "s"
           and abs(float(pts["O"].coords["tau2"][-1]) - 2.5) < 1e-12,
           "xarray attaches the coordinates (with units) without assign_coords", pts["O"].coords)
    tap.ok(pts["O"].attrs.get("units") == "molecules" and "long_name" in pts["O"].attrs,
           "xarray sees units and long_name", pts["O"].attrs)
    lines = xr.open_dataset(out, engine="h5netcdf", group="lines")
    tap.ok(lines["tau_star"].dims == ("phi", "delta", "L2"), "xarray opens /lines", lines["tau_star"].dims)
    root = xr.open_dataset(out, engine="h5netcdf")
    tap.ok(list(root["tau2"].values) == [0.5 + k / 3 for k in range(7)] or
           max(abs(a - b) for a, b in zip(root["tau2"].values, [0.5 + k / 3 for k in range(7)])) < 1e-15,
           "the axis values are readable as coordinates at the root", root["tau2"].values)
    h = subprocess.run(["h5dump", "-H", out], capture_output=True, text=True)
    tap.ok(h.returncode == 0 and 'DATASET "tau_star"' in h.stdout, "h5dump -H reads the file", h.stderr)
    tap.done()


if __name__ == "__main__":
    main()
