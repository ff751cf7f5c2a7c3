"""kpsweep's Python reader of results files (layout: docs/output.md).

    import kpsweep
    with kpsweep.Results("results/default.h5") as r:
        print(r.model, r.axes.keys(), r.field("FC").shape)

Installed by `meson install` (as the package `kpsweep`); in the repository
the scripts in analysis/ import it from beside them.
"""

from .results import *  # noqa: F401,F403
from .results import __all__  # noqa: F401
