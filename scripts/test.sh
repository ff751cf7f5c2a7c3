#!/usr/bin/env bash
# One command on a fresh machine: install what is missing, build, and run
# every meson test suite (unit, mpi, e2e, scipy, slurm). Ends with the line
# "N passed, M failed"; exits non-zero on any failure.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup.sh" || { echo "0 passed, 1 failed"; exit 1; }
set +e
meson test -C "$BUILD" --print-errorlogs "$@"
status=$?
python3_json="$BUILD/meson-logs/testlog.json"
passed=$(grep -c '"result": "OK"' "$python3_json" 2>/dev/null || true)
failed=$(grep -c -E '"result": "(FAIL|ERROR|TIMEOUT|UNEXPECTEDPASS)"' "$python3_json" 2>/dev/null || true)
skipped=$(grep -c '"result": "SKIP"' "$python3_json" 2>/dev/null || true)
if [ "$status" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
exit $status
