"""Read kpsweep results files (layout: docs/output.md).

A results file holds one dataset per result field: point fields under
``/points`` with shape ``(parameter axes..., L2, tau2)``, line fields under
``/lines`` with shape ``(parameter axes..., L2)``, the axes themselves under
``/axes`` as HDF5 dimension scales, and provenance attributes on the root.

Typical use::

    from kpsweep import Results, strongest_antagonist
    with Results("results/default.h5") as r:
        fc = r.field("FC")                    # numpy array, axes in r.axes order
        tau_star = strongest_antagonist(r.tau2, fc[2, 1, 0])

Only Debian's python3-h5py and python3-numpy are needed.
"""

import math
import os
import re
import sys
from typing import NamedTuple, Optional

import h5py
import numpy as np

__all__ = [
    "DEFAULT_STATUS_CODES",
    "DEFAULT_TAU_C",
    "ResultsError",
    "MissingFieldError",
    "decode",
    "parse_status_codes",
    "parse_tau_c",
    "Results",
    "axis_label",
    "Minimum",
    "parabola_vertex",
    "fc_minimum",
    "strongest_antagonist",
    "crossings",
    "subsample",
    "param_points",
    "point_label",
    "cli_error",
    "run_plot",
]

# Status codes of include/kpsweep/status.h, used when a file lacks the
# status_codes attribute.
DEFAULT_STATUS_CODES = {
    -1: ("not_computed", "not computed yet (fill value)"),
    0: ("ok", "converged"),
    1: ("fallback", "converged after the fallback (tight tolerances, longer horizon)"),
    2: ("too_much_work", "CVODE took too many steps"),
    3: ("conv_failure", "CVODE convergence or error-test failure"),
    4: ("negative", "negative concentration or conservation violated"),
    5: ("no_steady_state", "no steady state reached before t_max"),
    6: ("singular", "singular Jacobian at the steady state"),
    7: ("invalid_params", "invalid parameter combination (e.g. m >= N)"),
    8: ("solver_error", "other CVODE failure"),
    9: ("grad_inaccurate", "adjoint (gradient) solve failed its residual check"),
    10: ("non_finite", "state, output or a gradient not finite (overflow at extreme inputs)"),
    11: ("grad_ill_conditioned", "converged; a gradient entry may be off by more than 1e-8 "
         "relative (it cancels between paths: a nearly adapted output)"),
}

DEFAULT_TAU_C = 3.0


class ResultsError(Exception):
    """A file that is missing or is not a readable kpsweep results file."""


class MissingFieldError(ResultsError, KeyError):
    """A field the file does not hold, e.g. one left out by the run.fields
    of its job. A ResultsError (the scripts print it as one line and exit
    with status 2) and, as before, a KeyError."""

    def __str__(self):
        # KeyError's own str() would quote the message.
        return str(self.args[0]) if self.args else ""


def decode(value):
    """Returns an HDF5 attribute value as plain Python data (bytes -> str)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return decode(value[()])
        if value.dtype.kind in "SO":
            return [decode(v) for v in value]
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def parse_status_codes(text):
    """Parses the ``status_codes`` attribute ("code name: description" lines)."""
    codes = {}
    for line in text.splitlines():
        match = re.match(r"\s*(-?\d+)\s+(\w+):\s*(.*)$", line)
        if match:
            codes[int(match.group(1))] = (match.group(2), match.group(3).strip())
    return codes


def parse_tau_c(canonical, config):
    """The critical binding time tau_c (s) of a job.

    Read from the canonical config text (``threshold.tau_c=...``), else from
    the job's YAML text (``tau_c: ...``), else DEFAULT_TAU_C.
    """
    patterns = ((canonical, r"^threshold\.tau_c=(\S+)\s*$"),
                (config, r"\btau_c\s*:\s*([-+0-9.eE]+)"))
    for text, pattern in patterns:
        match = re.search(pattern, text or "", re.MULTILINE)
        if match:
            try:
                value = float(match.group(1))
            except ValueError:
                continue
            if math.isfinite(value) and value > 0:
                return value
    return DEFAULT_TAU_C


class Results:
    """An open results file (read-only). Use as a context manager or close().

    Attributes:
        path: the file name.
        attrs: the root attributes, decoded (str, float, int, numpy arrays).
        model: the model name.
        axes: dict axis name -> values, in dataset dimension order
            (parameter axes..., "L2", "tau2"). The dimensions some line
            fields have of their own (bin, ligand, land_u, land_v): see
            field_dims() and coord().
        param_axes: the names of the swept model parameters, in order.
        status_codes: dict code -> (name, description).
        axis_units: dict axis name -> its units attribute ('' when dimensionless).
        tau_c: the critical binding time (s) of the threshold.
    """

    def __init__(self, path):
        self.path = path
        if not os.path.isfile(path):
            raise ResultsError(f"{path}: no such file")
        try:
            self._file = h5py.File(path, "r")
        except OSError as exc:
            raise ResultsError(f"{path}: not an HDF5 file ({exc})") from exc
        try:
            self._load()
        except ResultsError:
            self._file.close()
            raise
        except (KeyError, OSError, ValueError) as exc:
            self._file.close()
            raise ResultsError(f"{path}: not a kpsweep results file ({exc})") from exc

    def _load(self):
        f = self._file
        for group in ("axes", "points", "lines"):
            if not isinstance(f.get(group), h5py.Group):
                raise ResultsError(f"{self.path}: not a kpsweep results file (no /{group})")
        # status is in every file (run.fields cannot leave it out); O is not.
        if "status" not in f["points"]:
            raise ResultsError(f"{self.path}: not a kpsweep results file (no /points/status)")
        self.attrs = {k: decode(v) for k, v in f.attrs.items()}
        self.model = str(self.attrs.get("model", "unknown"))
        names = self._axis_order(f["points/status"])
        self.axes = {name: np.asarray(f["axes"][name][...], dtype=float) for name in names}
        self.param_axes = names[:-2]
        codes = parse_status_codes(str(self.attrs.get("status_codes", "")))
        self.status_codes = codes or dict(DEFAULT_STATUS_CODES)
        self.axis_units = {name: self._unit(f["axes"][name]) for name in names}
        tau_c = self.attrs.get("tau_c")
        # Files before the numeric settings attributes: read the job text.
        self.tau_c = float(tau_c) if isinstance(tau_c, (int, float, np.floating)) and tau_c > 0 \
            else parse_tau_c(self.attrs.get("config_canonical"), self.attrs.get("config"))

    @staticmethod
    def _unit(dset):
        unit = decode(dset.attrs.get("units", ""))
        return "" if unit in ("1", "") else str(unit)

    def _axis_order(self, dset):
        """Axis names in dimension order: attached scales, else the config."""
        names = []
        for dim in dset.dims:
            if len(dim) == 0:
                break
            names.append(dim[0].name.rsplit("/", 1)[-1])
        if len(names) != dset.ndim:
            canonical = str(self.attrs.get("config_canonical", ""))
            names = re.findall(r"^axis\.([^=]+)=", canonical, re.MULTILINE) + ["L2", "tau2"]
        shape = tuple(self._file["axes"][n].shape[0] if n in self._file["axes"] else -1
                      for n in names)
        if shape != dset.shape:
            raise ResultsError(f"{self.path}: cannot match /axes to the shape "
                               f"{dset.shape} of /points/status")
        return names

    def close(self):
        """Closes the file."""
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def tau2(self):
        """The antagonist binding-time axis (s)."""
        return self.axes["tau2"]

    @property
    def L2(self):
        """The antagonist dose axis (molecules)."""
        return self.axes["L2"]

    @property
    def complete(self):
        """Whether the run that wrote the file finished every line."""
        return bool(self.attrs.get("complete", 0))

    def _dataset(self, name):
        for group in ("points", "lines"):
            if name in self._file[group]:
                return self._file[group][name]
        return None

    def has(self, name):
        """Whether a field exists (in /points or /lines)."""
        return self._dataset(name) is not None

    def is_point_field(self, name):
        """Whether a field is a point field (has the tau2 dimension)."""
        return name in self._file["points"]

    def _missing(self, name):
        """The error for a field the file lacks, naming the dataset."""
        return MissingFieldError(
            f"{self.path}: no dataset /points/{name} or /lines/{name} (the field {name!r} is "
            f"not in this file: its job's run.fields left it out, or it is not a kpsweep field)")

    def field(self, name):
        """The whole field as a numpy array; MissingFieldError (a ResultsError
        and a KeyError) when absent."""
        dset = self._dataset(name)
        if dset is None:
            raise self._missing(name)
        values = dset[...]
        if dset.id.get_create_plist().get_fill_time() != h5py.h5d.FILL_TIME_NEVER:
            return values
        # A file created with run.fill: status holds undefined values (0)
        # where no line is done yet: give them the fill values ("not
        # computed") that other files hold there.
        done = self.line_done().astype(bool).reshape(values.shape[:len(self.param_axes) + 1])
        if values.dtype.kind == "f":
            values[~done] = np.nan
        else:
            values[~done] = -1
        return values

    def field_dims(self, name):
        """The dimension names of a field, in order, from its attached scales:
        the parameter axes and L2, then tau2 for point fields or the field's
        own dimensions (bin, ligand, land_u and land_v for the landscape).
        MissingFieldError (a KeyError) when the field is absent."""
        dset = self._dataset(name)
        if dset is None:
            raise self._missing(name)
        names = []
        for k, dim in enumerate(dset.dims):
            if len(dim) > 0:
                names.append(dim[0].name.rsplit("/", 1)[-1])
            elif k < len(self.param_axes) + 1:
                names.append((self.param_axes + ["L2"])[k])
            else:
                names.append("tau2" if self.is_point_field(name) else f"dim_{k}")
        return names

    def coord(self, name):
        """The values of the dimension scale /axes/<name> (any dimension: a
        parameter axis, L2, tau2, bin, ligand, land_u, land_v) as floats;
        KeyError when the file has none."""
        if name not in self._file["axes"]:
            raise KeyError(f"{self.path}: no axis {name!r}")
        return np.asarray(self._file["axes"][name][...], dtype=float)

    def coords(self, name):
        """{dimension name: its values} for every dimension of a field, in order."""
        return {d: (self.coord(d) if d in self._file["axes"] else None)
                for d in self.field_dims(name)}

    def units(self, name):
        """The units attribute of a field ('' when absent)."""
        dset = self._dataset(name)
        return decode(dset.attrs.get("units", "")) if dset is not None else ""

    def description(self, name):
        """The description attribute of a field ('' when absent)."""
        dset = self._dataset(name)
        return decode(dset.attrs.get("description", "")) if dset is not None else ""

    def flags(self, name):
        """{code: meaning} of a categorical field from its CF flag_values and
        flag_meanings attributes ({} when it has none)."""
        dset = self._dataset(name)
        if dset is None or "flag_values" not in dset.attrs:
            return {}
        values = [int(v) for v in np.atleast_1d(dset.attrs["flag_values"])]
        meanings = decode(dset.attrs.get("flag_meanings", "")).split()
        return dict(zip(values, meanings))

    def fields(self):
        """The names of every point and line field."""
        return sorted(self._file["points"]) + sorted(self._file["lines"])

    def status_code(self, name):
        """The numeric status code of a status name (e.g. "invalid_params")."""
        for code, (code_name, _) in self.status_codes.items():
            if code_name == name:
                return code
        raise KeyError(f"unknown status {name!r}")

    def line_done(self):
        """The progress map: one uint8 per line (row-major over axes..., L2)."""
        return self._file["progress/line_done"][...]


def axis_label(name, units=None):
    """An axis label with its unit from the file, e.g. 'tau2 (s)' (units:
    Results.axis_units)."""
    unit = (units or {}).get(name, "")
    return f"{name} ({unit})" if unit else name


class Minimum(NamedTuple):
    """The minimum of a sampled curve.

    index: grid index (into the given arrays) of the smallest finite value;
    tau, fc: its location and value, refined by a parabola when interior;
    position: "interior", "lower_edge" (at the smallest tau2) or
    "upper_edge" (at the largest tau2: the true minimum is there or beyond).
    """

    index: int
    tau: float
    fc: float
    position: str


def parabola_vertex(x, y):
    """Vertex (x, y) of the parabola through three points, or None if not convex."""
    (x0, x1, x2), (y0, y1, y2) = x, y
    denom = (x0 - x1) * (x0 - x2) * (x1 - x2)
    if denom == 0:
        return None
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denom
    b = (x2 * x2 * (y0 - y1) + x1 * x1 * (y2 - y0) + x0 * x0 * (y1 - y2)) / denom
    c = (x1 * x2 * (x1 - x2) * y0 + x2 * x0 * (x2 - x0) * y1 + x0 * x1 * (x0 - x1) * y2) / denom
    if not a > 0:
        return None
    xv = -b / (2 * a)
    return xv, c - b * b / (4 * a)


def fc_minimum(tau2, fc) -> Optional[Minimum]:
    """The minimum of an antagonism curve FC(tau2); None when nothing is finite.

    Non-finite values (not computed, failed points) are ignored; tau2 may be
    in any order. An interior grid minimum is refined by the parabola through
    it and its two neighbours.
    """
    tau2 = np.asarray(tau2, dtype=float)
    fc = np.asarray(fc, dtype=float)
    order = np.argsort(tau2, kind="stable")
    order = order[np.isfinite(fc[order]) & np.isfinite(tau2[order])]
    if order.size == 0:
        return None
    k = int(np.argmin(fc[order]))
    index = int(order[k])
    if k == 0:
        return Minimum(index, float(tau2[index]), float(fc[index]), "lower_edge")
    if k == order.size - 1:
        return Minimum(index, float(tau2[index]), float(fc[index]), "upper_edge")
    around = order[k - 1:k + 2]
    vertex = parabola_vertex(tau2[around], fc[around])
    if vertex is None:
        return Minimum(index, float(tau2[index]), float(fc[index]), "interior")
    tau = min(max(vertex[0], tau2[around[0]]), tau2[around[2]])
    return Minimum(index, float(tau), float(min(vertex[1], fc[index])), "interior")


def strongest_antagonist(tau2, fc):
    """tau* (s): where the antagonism curve FC(tau2) is lowest.

    The grid minimum refined by a parabola through the 3 points around it.
    None when the minimum sits at the lower edge of the axis (the "edge"
    regime: the weakest ligands antagonise most) or nothing is finite. A
    minimum at the upper edge returns that grid value: tau* is there or
    beyond the axis.
    """
    minimum = fc_minimum(tau2, fc)
    if minimum is None or minimum.position == "lower_edge":
        return None
    return minimum.tau


def crossings(x, y, level=1.0):
    """The x where the sampled curve y(x) crosses `level` (linear interpolation).

    Returns a list of (x, direction) with direction -1 for a downward and +1
    for an upward crossing; non-finite samples break the curve.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float) - level
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    found = []
    for i in range(len(x) - 1):
        y0, y1 = y[i], y[i + 1]
        if np.isfinite(y0) and np.isfinite(y1) and (y0 > 0) != (y1 > 0):
            t = y0 / (y0 - y1)
            found.append((float(x[i] + t * (x[i + 1] - x[i])), -1 if y1 < y0 else 1))
    return found


def subsample(items, max_items=None):
    """At most max_items evenly spaced elements of a list (all when None)."""
    if max_items is None or len(items) <= max_items:
        return list(items)
    keep = np.unique(np.linspace(0, len(items) - 1, max_items).round().astype(int))
    return [items[i] for i in keep]


def param_points(results, axes=None, max_points=None):
    """Index tuples over the parameter axes `axes` (default: all), row-major.

    With max_points, an evenly spaced subset of at most that many.
    """
    names = results.param_axes if axes is None else list(axes)
    shape = tuple(len(results.axes[n]) for n in names)
    return subsample(list(np.ndindex(*shape)), max_points)


def point_label(results, names, index):
    """A label such as 'N=3, m=1' for parameter indices `index` of axes `names`."""
    return ", ".join(f"{n}={results.axes[n][i]:.4g}" for n, i in zip(names, index))


def cli_error(prog, message):
    """Prints 'prog: error: message' to stderr and returns exit status 2."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def run_plot(path, output, suffix, draw):
    """The common tail of the plot scripts: draw(out) into `output` (default
    PATH without .h5 + suffix), print the path written; a ResultsError
    becomes a one-line message and exit status 2."""
    prog = os.path.basename(sys.argv[0])
    out = output or os.path.splitext(path)[0] + suffix
    try:
        draw(out)
    except ResultsError as exc:
        return cli_error(prog, str(exc))
    print(out)
    return 0
