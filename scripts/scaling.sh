#!/usr/bin/env bash
# Strong and weak scaling study of kpsweep with JUBE (jobs/scaling/scaling.xml):
# submits one SLURM job per configuration (or runs them with mpirun: local),
# waits for them with `jube continue`, writes the result tables (CSV and text)
# and draws them with analysis/plot_scaling.py. See docs/scaling.md.
#
# usage: scripts/scaling.sh [local] [--site DIR] [--out DIR] [--tag TAG]...
#                           [--poll SECONDS] [--timeout SECONDS]
#   local           no SLURM: every configuration with mpirun, one after the other
#   --site DIR      your copies of jobs/scaling/platform.xml and study.xml
#                   (JUBE include path: a file there wins over the default)
#   --out DIR       JUBE's output directory (default ./scaling-runs); every
#                   call adds a benchmark NNNNNN/ with one run directory per
#                   configuration and the tables in NNNNNN/tables/
#   --tag TAG       a further JUBE tag for your include files
#   --poll S        seconds between `jube continue` (default 30; 2 for local)
#   --timeout S     give up waiting after S seconds (default: wait for ever)
# Environment: KPS_EXE (default: build/src/kpsweep of this checkout, else
# kpsweep on PATH), KPS_PYTHON (a Python with h5py and matplotlib; default
# /usr/bin/python3 when present, else python3).
# Exit status: 0 when every configuration ran and the plot was drawn, 1 when
# a configuration failed or the wait timed out (the tables say which), 2 on
# usage errors.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "scaling.sh: $*" >&2; exit "${2:-1}"; }
say() { echo "[scaling] $*"; }

local_mode=0
site=
out=$PWD/scaling-runs
tags=()
poll=
timeout=0
while [ $# -gt 0 ]; do
    case $1 in
        local) local_mode=1 ;;
        --site) site=${2:?--site needs a directory}; shift ;;
        --out) out=${2:?--out needs a directory}; shift ;;
        --tag) tags+=("${2:?--tag needs a name}"); shift ;;
        --poll) poll=${2:?--poll needs seconds}; shift ;;
        --timeout) timeout=${2:?--timeout needs seconds}; shift ;;
        -h | --help) sed -n '2,25p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" 2 ;;
    esac
    shift
done
case "${poll:-0}${timeout}" in *[!0-9]*) die "--poll and --timeout take whole seconds" 2 ;; esac
[ -n "$site" ] && { [ -d "$site" ] || die "--site $site is not a directory" 2; site=$(cd "$site" && pwd); }
command -v jube >/dev/null 2>&1 || die "jube not found: install Debian's jube (scripts/setup.sh does) or JUBE from its site" 2

if [ -z "${KPS_EXE:-}" ]; then
    if [ -x "$ROOT/build/src/kpsweep" ]; then
        KPS_EXE=$ROOT/build/src/kpsweep
    else
        KPS_EXE=$(command -v kpsweep || true)
    fi
fi
if [ -z "$KPS_EXE" ] || [ ! -x "$KPS_EXE" ]; then die "kpsweep not found: build it (meson) or set KPS_EXE" 2; fi
if [ -z "${KPS_PYTHON:-}" ]; then
    if [ -x /usr/bin/python3 ]; then KPS_PYTHON=/usr/bin/python3; else KPS_PYTHON=python3; fi
fi
export KPS_EXE KPS_PYTHON
if [ "$local_mode" = 1 ]; then
    tags+=(local)
    poll=${poll:-2}
    if [ "$(id -u)" -eq 0 ]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi
else
    poll=${poll:-30}
    command -v sbatch >/dev/null 2>&1 || die "sbatch not found: run on a SLURM login node, or use 'local'" 2
fi

mkdir -p "$out" || die "cannot create $out" 2
out=$(cd "$out" && pwd)
args=(run "$ROOT/jobs/scaling/scaling.xml" --outpath "$out")
[ -n "$site" ] && args+=(--include-path "$site")
[ ${#tags[@]} -gt 0 ] && args+=(--tag "${tags[@]}")
say "jube ${args[*]}"
jube "${args[@]}" >"$out/jube-run.log" 2>&1
rc=$?
id=$(sed -n 's/^# id: *\([0-9][0-9]*\).*/\1/p' "$out/jube-run.log" | head -n 1)
if [ $rc != 0 ] || [ -z "$id" ]; then
    tail -n 30 "$out/jube-run.log" >&2
    die "jube run failed (exit $rc; log $out/jube-run.log)"
fi
bench=$out/$(printf '%06d' "$id")

errors() { # the number of failed workpackages in the status table of a jube log
    awk -F'|' 'NF >= 7 && $2 ~ /[a-z]/ && $6 ~ /^ *[0-9]+ *$/ { e += $6 } END { print e + 0 }' "$1"
}
start=$SECONDS
cp "$out/jube-run.log" "$bench/jube-continue.log"
while :; do
    status=$(jube status "$out" --id "$id" 2>/dev/null | tail -n 1)
    [ "$status" = FINISHED ] && break
    nerr=$(errors "$bench/jube-continue.log")
    if [ "$status" = ERROR ] || [ "$nerr" -gt 0 ]; then
        tail -n 20 "$bench/jube-continue.log" >&2
        die "$nerr JUBE workpackage(s) failed: see 'jube log $out --id $id' and the run directories under $bench"
    fi
    if [ "$timeout" -gt 0 ] && [ $((SECONDS - start)) -ge "$timeout" ]; then
        jube continue "$out" --id "$id" --hide-animation 2>&1 | tail -n 12 >&2
        die "still $status after ${timeout} s; continue later with: jube continue $out --id $id"
    fi
    sleep "$poll"
    jube continue "$out" --id "$id" --hide-animation >"$bench/jube-continue.log" 2>&1
done
say "all configurations done after $((SECONDS - start)) s"

jube result "$out" --id "$id" >"$bench/jube-result.log" 2>&1 || {
    cat "$bench/jube-result.log" >&2
    die "jube result failed"
}
tables=$bench/tables
mkdir -p "$tables"
plot_in=()
for t in strong weak; do
    [ -f "$bench/result/$t.dat" ] || continue
    cp "$bench/result/$t.dat" "$tables/$t.csv"
    [ -f "$bench/result/${t}_txt.dat" ] && cp "$bench/result/${t}_txt.dat" "$tables/$t.txt"
    # a mode that was not studied leaves a table with its header only
    [ "$(wc -l <"$tables/$t.csv")" -gt 1 ] && plot_in+=("$tables/$t.csv")
done
for t in strong weak; do
    [ -f "$tables/$t.txt" ] && [ "$(wc -l <"$tables/$t.csv")" -gt 1 ] && { echo "$t scaling:"; cat "$tables/$t.txt"; echo; }
done
rc=0
if [ ${#plot_in[@]} -gt 0 ]; then
    "$KPS_PYTHON" "$ROOT/analysis/plot_scaling.py" "${plot_in[@]}" -o "$tables/scaling.png" || rc=1
else
    echo "scaling.sh: no result rows to plot" >&2
    rc=1
fi
bad=$(awk -F, 'FNR > 1 && $NF != "ok" { n++ } END { print n + 0 }' "${plot_in[@]:-/dev/null}")
if [ "$bad" -gt 0 ]; then
    echo "scaling.sh: $bad configuration(s) did not run cleanly (see the status column)" >&2
    rc=1
fi
say "tables: $tables/{strong,weak}.{csv,txt}; plot: $tables/scaling.png"
exit $rc
