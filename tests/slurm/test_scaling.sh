#!/bin/bash
# The scaling harness (jobs/scaling/scaling.xml through scripts/scaling.sh)
# end to end on a real, private, single-node SLURM (tests/slurm/slurm_lib.sh):
#   (f) strong and weak scaling over 1, 2, 3, 4 and 6 ranks (oversubscribed:
#       the node has 2 CPUs), tiny jobs, 2 repeats, one SLURM job per
#       configuration from the template: one CSV row per configuration with
#       sane numbers (min <= median <= max, efficiencies in (0, 1.5], the
#       reference at 1), the text tables, the plot, and run directories that
#       ran under SLURM with the requested ranks;
#   (g) the local mode (mpirun, no SLURM) of a smaller study;
#   (h) analysis/plot_scaling.py refuses bad tables with a message and a
#       non-zero exit.
# TAP output. Usage: test_scaling.sh BUILD_DIR SOURCE_DIR
# Exit 77 (TAP skip) when SLURM/munge or jube are not installed.
# shellcheck disable=SC2317  # functions run from traps look unreachable
set -uo pipefail

build=$(cd "${1:?usage: test_scaling.sh BUILD_DIR SOURCE_DIR}" && pwd)
src=$(cd "${2:?usage: test_scaling.sh BUILD_DIR SOURCE_DIR}" && pwd)
exe=$build/src/kpsweep
if ! command -v jube >/dev/null 2>&1; then
    echo "1..0 # SKIP jube not installed (scripts/setup.sh installs it)"
    exit 77
fi

# shellcheck source-path=SCRIPTDIR source=slurm_lib.sh
source "$src/tests/slurm/slurm_lib.sh"
py=/usr/bin/python3
export KPS_EXE=$exe KPS_PYTHON=$py

# site_dir DIR MODES RANKS REPEATS: a site directory with a study and a
# platform of its own, each starting from the defaults (init_with)
site_dir() {
    mkdir -p "$1"
    cat >"$1/study.xml" <<EOF
<jube>
  <parameterset name="study" init_with="study-defaults.xml">
    <parameter name="mode">$2</parameter>
    <parameter name="ranks" type="int">$3</parameter>
    <parameter name="repeats" type="int">$4</parameter>
    <parameter name="points" type="int">40</parameter>
    <parameter name="strong_lines" type="int">48</parameter>
    <parameter name="lines_per_worker" type="int">8</parameter>
  </parameterset>
</jube>
EOF
    # The test node has 2 CPUs: up to 6 tasks share them. The site's
    # environment file is sourced by every run.
    echo "echo \"site environment of \$PWD\" >>'$1/env.log'" >"$1/env.sh"
    cat >"$1/platform.xml" <<EOF
<jube>
  <parameterset name="systemParameter" init_with="platform-defaults.xml">
    <parameter name="walltime">00:05:00</parameter>
    <parameter name="sbatch_options">--overcommit</parameter>
    <parameter name="env_script">$1/env.sh</parameter>
  </parameterset>
</jube>
EOF
}

# check_tables TABLES_DIR MODES RANKS REPEATS [slurm]: TAP lines from a Python check
check_tables() {
    local line
    while IFS= read -r line; do
        case $line in
            OK\ *) ok 0 "${line#OK }" ;;
            FAIL\ *) ok 1 "${line#FAIL }" "${line#FAIL }" ;;
            *) echo "# $line" ;;
        esac
    done < <("$py" - "$@" <<'EOF' 2>&1
import csv, os, sys
tables, modes, ranks, repeats = sys.argv[1], sys.argv[2].split(","), [int(r) for r in sys.argv[3].split(",")], int(sys.argv[4])
slurm = len(sys.argv) > 5
bench = os.path.dirname(tables)
def check(cond, what, detail=""):
    print(("OK " if cond else "FAIL ") + what + ("" if cond else f": {detail}"))
for mode in modes:
    path = os.path.join(tables, f"{mode}.csv")
    if not os.path.exists(path):
        check(False, f"{mode}.csv exists", path)
        continue
    rows = list(csv.DictReader(open(path)))
    check(sorted(int(r["ranks"]) for r in rows) == ranks,
          f"{mode}: one row per configuration (ranks {sys.argv[3]})", [r["ranks"] for r in rows])
    bad = []
    for r in rows:
        try:
            w = int(r["workers"]); n = int(r["ranks"])
            t = [float(r[f"wall_{q}"]) for q in ("min", "med", "max")]
            b = [float(r[f"busy_{q}"]) for q in ("min", "med", "max")]
            h = [float(r[f"hdf5_{q}"]) for q in ("min", "med", "max")]
            e, s, share = float(r["efficiency"]), float(r["speedup"]), float(r["busy_share"])
            lines = int(r["lines"])
            if r["status"] != "ok": bad.append(f"ranks {n}: status {r['status']}")
            if int(r["repeats"]) != repeats: bad.append(f"ranks {n}: {r['repeats']} repeats")
            if int(r["pieces"]) != 1: bad.append(f"ranks {n}: {r['pieces']} pieces")
            if w != max(1, n - 1): bad.append(f"ranks {n}: workers {w}")
            if not (0 < t[0] <= t[1] <= t[2] < 120): bad.append(f"ranks {n}: wall {t}")
            if not (0 < b[0] <= b[1] <= b[2]): bad.append(f"ranks {n}: busy {b}")
            if not (0 <= h[0] <= h[1] <= h[2] <= t[2] * 1.01): bad.append(f"ranks {n}: hdf5 {h} (wall {t})")
            if not (0 < e <= 1.5): bad.append(f"ranks {n}: efficiency {e}")
            if not (0 < s): bad.append(f"ranks {n}: speed-up {s}")
            if not (0 < share <= 1.05): bad.append(f"ranks {n}: busy share {share}")
            if mode == "strong" and lines != 48: bad.append(f"ranks {n}: {lines} lines, not 48")
            if mode == "weak" and lines != 8 * w: bad.append(f"ranks {n}: {lines} lines, not 8 x {w}")
        except (KeyError, ValueError) as ex:
            bad.append(f"ranks {r.get('ranks')}: {ex!r}")
    check(not bad, f"{mode}: status ok, {repeats} repeats, wall/busy/HDF5 min <= med <= max, efficiency in (0, 1.5], lines as planned", "; ".join(bad))
    try:
        w1 = [float(r["efficiency"]) for r in rows if int(r["workers"]) == 1]
    except ValueError:
        w1 = []
    check(w1 and abs(max(w1) - 1) < 1e-9, f"{mode}: the reference, the faster 1-worker configuration, has efficiency 1", w1)
    txt = os.path.join(tables, f"{mode}.txt")
    ok_txt = os.path.exists(txt) and sum(1 for l in open(txt) if l.startswith("|") and l.strip("|- \n")) == len(ranks) + 1
    check(ok_txt, f"{mode}.txt: a text table with a row per configuration", open(txt).read() if os.path.exists(txt) else "missing")
png = os.path.join(tables, "scaling.png")
check(os.path.exists(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 10000,
      "the plot scaling.png exists", png)
# the run directories
runs = sorted(d for d in os.listdir(bench) if d.endswith("_run"))
check(len(runs) == len(modes) * len(ranks), f"one run directory per configuration ({len(runs)})", runs)
bad = []
for d in runs:
    work = os.path.join(bench, d, "work")
    job = open(os.path.join(work, "scaling.sbatch")).read()
    n = int(job.split("#SBATCH --ntasks=")[1].split()[0])
    for want in ("#SBATCH --exclusive", "#SBATCH --nodes=1", "#SBATCH --time=00:05:00", "#SBATCH --overcommit"):
        if want not in job: bad.append(f"{d}: no '{want}'")
    if "#" + "SBATCH_OPTIONS#" in job or "#RANKS#" in job: bad.append(f"{d}: unsubstituted markers")
    logs = [f for f in os.listdir(work) if f.startswith("slurm-") and f.endswith(".out")]
    if slurm and len(logs) != 1: bad.append(f"{d}: {len(logs)} SLURM logs")
    if not slurm and logs: bad.append(f"{d}: a SLURM log in local mode")
    log = open(os.path.join(work, logs[0] if logs else "local.out")).read()
    if log.count("kpsweep finished (exit 0)") != repeats: bad.append(f"{d}: {log.count('kpsweep finished')} runs finished")
    launcher = "srun --mpi=pmix" if slurm else f"mpirun -n {n}"
    if f"command: {launcher} " not in log: bad.append(f"{d}: no '{launcher}' in the log")
    if open(os.path.join(work, "status.txt")).read().strip() != "ok": bad.append(f"{d}: status.txt")
    if log.count("sourcing ") != repeats: bad.append(f"{d}: the site's env_script was not sourced by every run")
    # srun in an overcommitted job: Open MPI's ranks must yield while idle
    if slurm and log.count("OMPI_MCA_mpi_yield_when_idle=1") != repeats: bad.append(f"{d}: no yield_when_idle")
check(not bad, "every job file from the template, run " + ("by SLURM (srun, yielding when idle)" if slurm else "locally (mpirun)") + f" {repeats} times with the site's env_script", "; ".join(bad))
EOF
)
}

# --- (f) strong and weak scaling through SLURM -------------------------------
slurm_start
site_dir "$tmp/site" strong,weak 1,2,3,4,6 2
t0=$SECONDS
"$src/scripts/scaling.sh" --site "$tmp/site" --out "$tmp/bench" --poll 3 --timeout 170 >"$tmp/scaling.out" 2>&1
rc=$?
ok $rc "(f) scripts/scaling.sh on SLURM: 10 configurations x 2 repeats ($((SECONDS - t0)) s)" "$tmp/scaling.out"
tables=$(ls -d "$tmp"/bench/000000/tables 2>/dev/null)
if [ -n "$tables" ]; then
    check_tables "$tables" strong,weak 1,2,3,4,6 2 slurm
    sed -n '/^strong scaling:/,$p' "$tmp/scaling.out" | sed 's/^/# /'
else
    ok 1 "(f) the tables directory exists" "$tmp/scaling.out"
fi

# --- (g) local mode ----------------------------------------------------------
site_dir "$tmp/site-local" strong 1,3 1
t0=$SECONDS
"$src/scripts/scaling.sh" local --site "$tmp/site-local" --out "$tmp/local" --poll 1 --timeout 60 >"$tmp/local.out" 2>&1
rc=$?
ok $rc "(g) scripts/scaling.sh local: 2 configurations, mpirun, no SLURM job ($((SECONDS - t0)) s)" "$tmp/local.out"
jobs_after=$(timeout 3 squeue -h -o %i 2>/dev/null | wc -l)
if [ -d "$tmp/local/000000/tables" ]; then
    check_tables "$tmp/local/000000/tables" strong 1,3 1
else
    ok 1 "(g) the tables directory exists" "$tmp/local.out"
fi
ok "$([ "$jobs_after" = 0 ]; echo $?)" "(g) nothing queued in SLURM by the local mode"

# --- (h) plot_scaling.py on bad input ------------------------------------------
plot=$src/analysis/plot_scaling.py
good=$tmp/local/000000/tables/strong.csv
printf 'a,b\n1,2\n' >"$tmp/other.csv"
[ -f "$good" ] && sed '2s/,1,1,/,1,x,/' "$good" >"$tmp/garbage.csv"
[ -f "$good" ] && head -n 1 "$good" >"$tmp/header.csv"
: >"$tmp/empty.csv"
for case_ in "missing:$tmp/none.csv:cannot be read" "other:$tmp/other.csv:missing column" \
    "garbage:$tmp/garbage.csv:is 'x', not a number" "header only:$tmp/header.csv:no row to plot" \
    "empty:$tmp/empty.csv:empty file"; do
    what=${case_%%:*}
    rest=${case_#*:}
    file=${rest%%:*}
    msg=${rest#*:}
    "$py" "$plot" "$file" -o "$tmp/bad.png" >"$tmp/plot.out" 2>&1
    rc=$?
    ok "$([ $rc = 1 ] && grep -qF "$msg" "$tmp/plot.out" && grep -qF "$file" "$tmp/plot.out" && [ ! -e "$tmp/bad.png" ]; echo $?)" \
        "(h) plot_scaling.py, $what table: exit 1 naming the file, '$msg' (got $rc)" "$tmp/plot.out"
done

finish
