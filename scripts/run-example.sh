#!/usr/bin/env bash
# One command on a fresh machine: install what is missing, build, run the
# default job (jobs/examples/default.yaml) under MPI, and plot its regime
# phase diagram next to the results file. Rank 0 only hands out work (and
# sleeps while idle), so the job runs on one rank more than the cores: two
# workers on a two-core machine (KPS_RANKS overrides).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh"
cd "$ROOT"
JOB="${1:-jobs/examples/default.yaml}"
NAME="$(basename "$JOB" .yaml)"
OUT="results/$NAME.h5"
mkdir -p results
RANKS="${KPS_RANKS:-$(($(nproc) + 1))}"
mpirun -n "$RANKS" --oversubscribe "$BUILD/src/kpsweep" run "$JOB" -o "$OUT" --force
"$PYTHON" analysis/plot_phase.py "$OUT" -o "results/$NAME-phase.png" >/dev/null
"$PYTHON" analysis/plot_antagonism.py "$OUT" -o "results/$NAME-antagonism.png" >/dev/null
"$PYTHON" analysis/plot_boundary.py "$OUT" -o "results/$NAME-boundary.png" >/dev/null || true
echo
echo "results:            $ROOT/$OUT"
echo "phase diagram:      $ROOT/results/$NAME-phase.png"
echo "antagonism curves:  $ROOT/results/$NAME-antagonism.png"
echo "decision boundary:  $ROOT/results/$NAME-boundary.png"
echo "inspect with:       $BUILD/src/kpsweep inspect $OUT"
