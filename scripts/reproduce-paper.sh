#!/usr/bin/env bash
# Reproduces the figures of the PRX paper (Rademaker, Bengio & Francois 2019)
# with kpsweep: installs what is missing and builds (scripts/setup.sh, as
# run-example.sh does), runs every job of jobs/paper/ under MPI, draws every
# figure (PNG and PDF) and writes results/paper/index.html (figures,
# captions, the numbers checked against closed forms) and
# results/paper/tables.json (the same tables, machine-readable).
#
#   scripts/reproduce-paper.sh [--quick] [--out DIR] [--no-setup]
#                              [--defence | --defence-file FILE.h5]
#
#   --quick     the jobs of jobs/paper/quick/ instead: the same figures at a
#               lower resolution (each quick job's header says what differs)
#   --out DIR   write there instead of results/paper (results in DIR/data)
#   --no-setup  use the kpsweep already built in $KPS_BUILD_DIR (default
#               ./build) and install nothing (the e2e test does this)
#   --defence   also the section "The biomimetic defence": runs
#               jobs/defence/grid.yaml (about 8 minutes on 2 cores; with
#               --quick jobs/defence/quick.yaml, seconds) into
#               DIR/data/defence.h5 (needs Fashion-MNIST, installed unless
#               --no-setup; docs/defence.md)
#   --defence-file FILE.h5  the same section from an existing results file
#               of `kpsweep defence sweep` (nothing is run)
#
# KPS_RANKS sets the MPI ranks (default: cores + 1; rank 0 only schedules).
# Figures and jobs are described in docs/paper.md. Exit status: 0 when every
# figure was drawn and every table entry passed; 1 otherwise (a job the
# engine refused, a figure that could not be drawn, a failed check: the
# report and the last lines printed say which).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QUICK=0 OUT="" SETUP=1 DEFENCE=0 DEFENCE_FILE=""
while (($#)); do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) OUT="${2:?--out needs a directory}"; shift ;;
    --out=*) OUT="${1#--out=}" ;;
    --no-setup) SETUP=0 ;;
    --defence) DEFENCE=1 ;;
    --defence-file) DEFENCE_FILE="${2:?--defence-file needs a results file}"; shift ;;
    --defence-file=*) DEFENCE_FILE="${1#--defence-file=}" ;;
    -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "reproduce-paper.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if ((DEFENCE)) && [ -n "$DEFENCE_FILE" ]; then
  echo "reproduce-paper.sh: --defence and --defence-file exclude each other" >&2
  exit 2
fi
if [ -n "$DEFENCE_FILE" ]; then
  [ -f "$DEFENCE_FILE" ] || { echo "reproduce-paper.sh: no file $DEFENCE_FILE" >&2; exit 2; }
  DEFENCE_FILE="$(cd "$(dirname "$DEFENCE_FILE")" && pwd)/$(basename "$DEFENCE_FILE")"
fi
START=$(date +%s.%N)
if ((SETUP)); then
  source "$ROOT/scripts/setup.sh"
  if ((DEFENCE)); then kps_ensure_packages dataset-fashion-mnist; fi
else
  BUILD="${KPS_BUILD_DIR:-$ROOT/build}"
  PYTHON="${PYTHON:-/usr/bin/python3}"
  if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
  export OMPI_MCA_rmaps_base_oversubscribe=1
fi
KPSWEEP="$BUILD/src/kpsweep"
if [ ! -x "$KPSWEEP" ]; then
  echo "reproduce-paper.sh: no kpsweep at $KPSWEEP (build it, or drop --no-setup)" >&2
  exit 1
fi
cd "$ROOT"
OUT="${OUT:-results/paper}"
JOBS="jobs/paper"
((QUICK)) && JOBS="jobs/paper/quick"
DATA="$OUT/data"
mkdir -p "$DATA"
rm -f "$DATA"/*.h5 "$DATA"/*.log
RANKS="${KPS_RANKS:-$(($(nproc) + 1))}"
export MPLBACKEND=Agg

# One line per job in $DATA/jobs.tsv: name, status (ok, refused, failed),
# seconds, job file, the first line of the engine's message.
JOBLIST="$DATA/jobs.tsv"
: > "$JOBLIST"
for job in "$JOBS"/*.yaml; do
  name="$(basename "$job" .yaml)"
  log="$DATA/$name.log"
  if ! "$KPSWEEP" validate "$job" -o "$DATA/$name.h5" > "$log" 2>&1; then
    msg="$(grep -m1 -v '^\s*$' "$log" | tr '\t' ' ')"
    printf '%s\trefused\t0\t%s\t%s\n' "$name" "$job" "$msg" >> "$JOBLIST"
    echo "[paper] $name: the engine refuses the job: $msg"
    continue
  fi
  t0=$(date +%s.%N)
  if mpirun -n "$RANKS" --oversubscribe "$KPSWEEP" run "$job" -o "$DATA/$name.h5" --force \
       > "$log" 2>&1; then
    status=ok msg=""
  else
    status=failed msg="$(tail -n 1 "$log" | tr '\t' ' ')"
  fi
  t1=$(date +%s.%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$secs" "$job" "$msg" >> "$JOBLIST"
  echo "[paper] $name: $status in $secs s${msg:+ ($msg)}"
done

# The biomimetic defence (docs/defence.md): its own verb and job, one
# results file for the report's last section.
DEFENCE_ARGS=()
if ((DEFENCE)); then
  djob=jobs/defence/grid.yaml
  ((QUICK)) && djob=jobs/defence/quick.yaml
  log="$DATA/defence.log"
  t0=$(date +%s.%N)
  if mpirun -n "$RANKS" --oversubscribe "$KPSWEEP" defence sweep "$djob" -o "$DATA/defence.h5" \
       --force > "$log" 2>&1; then
    status=ok msg=""
  else
    status=failed msg="$(tail -n 1 "$log" | tr '\t' ' ')"
  fi
  t1=$(date +%s.%N)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  printf '%s\t%s\t%s\t%s\t%s\n' defence "$status" "$secs" "$djob" "$msg" >> "$JOBLIST"
  echo "[paper] defence: $status in $secs s${msg:+ ($msg)}"
  DEFENCE_ARGS=(--defence "$DATA/defence.h5")
elif [ -n "$DEFENCE_FILE" ]; then
  DEFENCE_ARGS=(--defence "$DEFENCE_FILE")
fi

mode=full
((QUICK)) && mode=quick
set +e
"$PYTHON" analysis/paper_report.py "$DATA" -o "$OUT" --mode "$mode" --jobs "$JOBLIST" \
  --started "$START" "${DEFENCE_ARGS[@]}"
rc=$?
set -e
END=$(date +%s.%N)
total=$(awk -v a="$START" -v b="$END" 'BEGIN { printf "%.1f", b - a }')
OUTABS="$(cd "$OUT" && pwd)"
echo "[paper] report:  $OUTABS/index.html"
echo "[paper] tables:  $OUTABS/tables.json"
echo "[paper] total time ($mode, $RANKS ranks): $total s"
exit $rc
