#!/usr/bin/env bash
# Cost of the per-point searches (dose boundaries L2*, L1*; FGSM in counts
# and in binding times; PGD), before and after: for ideal (the default job),
# adaptive_sorting and shp1 (jobs/examples), each job is run on one rank
#   with:    stats {boundary, line_stats} and attacks {fgsm_L, fgsm_tau, pgd
#            (pgd_steps 20)}, no descent
#   without: no statistics, no attacks
# by this tree's build and by a build of the base revision (default 6882abf,
# the code before the path searches), alternating, several times. Printed
# (not asserted): steady-state evaluations per point and the busy time the
# results file records (sum of rank_busy_seconds, median of the repetitions)
# with and without, and their ratio. See docs/benchmarks.md.
#
# Evaluations per point: after = the mean of /points/n_solves (the threshold,
# one evaluation per parameter point, is outside it); before = every
# kps_evaluate call of the run divided by the points, counted by a one-line
# counter the script adds to its copy of the base (which has no n_solves).
#
# usage: scripts/bench-search.sh [--quick] [--reps N]
#   KPS_BUILD_DIR=/tmp/b        build this tree elsewhere than ./build
#   KPS_BASE_REV=6882abf        revision compared with
#   KPS_BASE_DIR=/tmp/kps-...   where its copy is unpacked and built (kept for reruns)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REPS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) REPS=1 ;;
    --reps) shift; REPS="${1:-3}" ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "bench-search: unknown option $1" >&2; exit 0 ;;
  esac
  shift
done

set -e
export KPS_SETUP_TESTS=1   # the suites' and benchmarks' packages too
source "$ROOT/scripts/setup.sh" || { echo "[bench] build failed" >&2; exit 0; }
set +e +u
KPS="$BUILD/src/kpsweep"
PY="${PYTHON:-/usr/bin/python3}"
BASE_REV="${KPS_BASE_REV:-6882abf}"
BASE_DIR="${KPS_BASE_DIR:-/tmp/kps-bench-base-$BASE_REV}"
BASE="$BASE_DIR/build/src/kpsweep"

# The base: its files at BASE_REV (git archive: no worktree is registered),
# plus a counter of kps_evaluate calls printed at exit when KPS_BENCH_COUNT is set.
if [ ! -x "$BASE" ]; then
  echo "[bench] building $BASE_REV in $BASE_DIR"
  rm -rf "$BASE_DIR" && mkdir -p "$BASE_DIR" || exit 0
  git -C "$ROOT" archive "$BASE_REV" | tar -x -C "$BASE_DIR" || { echo "[bench] no revision $BASE_REV" >&2; exit 0; }
  "$PY" - "$BASE_DIR/src/solver.c" <<'EOF' || { echo "[bench] could not add the counter" >&2; exit 0; }
import re, sys
p = sys.argv[1]
s = open(p).read()
head = ('#include <stdio.h>\n'
        'static long bench_evaluations;\n'
        'static void bench_report(void) __attribute__((destructor));\n'
        'static void bench_report(void) {\n'
        '  if (getenv("KPS_BENCH_COUNT")) fprintf(stderr, "kps-bench-evaluations %ld\\n", bench_evaluations);\n'
        '}\n')
s = s.replace('#include "linalg.h"\n', '#include "linalg.h"\n' + head, 1)
s, n = re.subn(r'(int kps_evaluate\([^)]*\) \{\n)', r'\1  ++bench_evaluations;\n', s, count=1)
if n != 1 or head not in s:
    sys.exit(1)
open(p, 'w').write(s)
EOF
  (meson setup "$BASE_DIR/build" "$BASE_DIR" --buildtype=release >/dev/null &&
   ninja -C "$BASE_DIR/build" src/kpsweep >/dev/null) || { echo "[bench] base build failed" >&2; exit 0; }
fi

T="$(mktemp -d /tmp/kps-bench-search.XXXXXX)"
trap 'rm -rf "$T"' EXIT

# variant EXAMPLE with|without > job: the example without its stats/attacks
# blocks, then ours.
variant() {
  awk 'BEGIN{skip=0} /^[^ #]/{skip=($0 ~ /^(stats|attacks):/)} !skip{print}' "$1"
  if [ "$2" = with ]; then
    echo "stats: {boundary: true, line_stats: true}"
    echo "attacks: {enabled: true, descent: false, fgsm_L: true, fgsm_tau: true, pgd: true, pgd_steps: 20}"
  else
    echo "stats: {boundary: false, line_stats: false}"
    echo "attacks: {enabled: false}"
  fi
}

# busy EXE JOB OUT: runs the job on one rank; prints the busy seconds (or nan).
busy() {
  "$1" run "$2" -o "$3" --force --quiet >"$T/log" 2>&1 || { echo nan; return; }
  "$PY" -c 'import sys, h5py, numpy
with h5py.File(sys.argv[1], "r") as f: print(float(numpy.sum(f.attrs["rank_busy_seconds"])))' "$3" 2>/dev/null || echo nan
}

median() { "$PY" -c 'import sys, statistics; v=[float(x) for x in sys.argv[1:] if x != "nan"]; print(statistics.median(v) if v else "nan")' "$@"; }

echo "[bench] $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
     "$(lscpu | sed -n 's/^Model name: *//p' | head -1)," \
     "revision $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown) against $BASE_REV," \
     "$REPS repetition(s), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "                           |     evals/pt      |    busy with (s)    |  busy without (s)   |   with/without  |  busy with"
printf "%-18s %7s | %8s %8s | %9s %9s | %9s %9s | %7s %7s | %8s\n" \
  "model (job)" "points" "before" "after" "before" "after" "before" "after" "before" "after" "speed-up"
for spec in "ideal:default" "adaptive_sorting:adaptive_sorting" "shp1:shp1"; do
  model="${spec%%:*}" job="${spec#*:}"
  label="$model"
  [ "$job" != "$model" ] && label="$model ($job)"
  ex="$ROOT/jobs/examples/$job.yaml"
  variant "$ex" with > "$T/$job-with.yaml"
  variant "$ex" without > "$T/$job-without.yaml"
  bw=() aw=() bo=() ao=()
  for ((r = 0; r < REPS; ++r)); do
    bw+=("$(busy "$BASE" "$T/$job-with.yaml" "$T/b.h5")")
    aw+=("$(busy "$KPS" "$T/$job-with.yaml" "$T/a.h5")")
    bo+=("$(busy "$BASE" "$T/$job-without.yaml" "$T/bo.h5")")
    ao+=("$(busy "$KPS" "$T/$job-without.yaml" "$T/ao.h5")")
  done
  # Evaluations: the base's counter over the whole run; ours from the file.
  KPS_BENCH_COUNT=1 "$BASE" run "$T/$job-with.yaml" -o "$T/b.h5" --force --quiet >/dev/null 2>"$T/count"
  "$KPS" run "$T/$job-with.yaml" -o "$T/a.h5" --force --quiet >/dev/null 2>&1
  "$PY" - "$T/b.h5" "$T/a.h5" "$(sed -n 's/^kps-bench-evaluations //p' "$T/count")" \
        "$(median "${bw[@]}")" "$(median "${aw[@]}")" "$(median "${bo[@]}")" "$(median "${ao[@]}")" \
        "$label" <<'EOF'
import sys
import h5py
import numpy as np
b, a, count = sys.argv[1], sys.argv[2], sys.argv[3]
bw, aw, bo, ao = (float(x) for x in sys.argv[4:8])
with h5py.File(a, "r") as f:
    n = f["points/n_solves"][...]
    points = int(np.count_nonzero(n >= 0))  # invalid parameter cells make no evaluation
    after = float(n[n >= 0].mean())
with h5py.File(b, "r") as f:
    st = f["points/status"][...]
    before = float(count) / max(1, int(np.count_nonzero(st != 7))) if count else float("nan")
r = lambda x, y: x / y if y > 0 else float("nan")  # noqa: E731
print(f"{sys.argv[8]:<18s} {points:7d} | {before:8.1f} {after:8.1f} | {bw:9.3f} {aw:9.3f} | "
      f"{bo:9.4f} {ao:9.4f} | {r(bw, bo):6.1f}x {r(aw, ao):6.1f}x | {r(bw, aw):7.1f}x")
EOF
done
cat <<'EOF'

  points      = sweep points that make evaluations (ideal's m >= N cells are invalid_params)
  evals/pt    = steady-state evaluations per point (after: mean of /points/n_solves)
  busy        = sum of rank_busy_seconds in the results file (compute time of the lines),
                median over the repetitions; "without" is the same job without statistics
                and attacks
  with/without = the cost of statistics and attacks as a multiple of the bare sweep
  speed-up    = busy with, before / after
targets (adaptive_sorting): at most 40 evaluations per point, with/without at most 30x
EOF
exit 0
