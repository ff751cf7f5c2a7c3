#!/usr/bin/env bash
# Benchmarks of the sweep machinery (printed, not asserted; see docs/scaling.md):
#   1. master throughput with the `null` model (no model cost): tasks/s,
#      per-task overhead and master CPU share, for chunk = 1 (no chunking),
#      a fixed 64 and 0 (automatic), with 1 worker (mpirun -n 2) and
#      2 workers (mpirun -n 3, one more rank than cores: the master sleeps);
#   2. the share of wall time spent in HDF5 by the writers, the share of the
#      workers' time stalled on output (against the 2 % target) and the file
#      size for jobs/examples/default.yaml and adaptive_sorting.yaml, each
#      with every field, a minimal run.fields and run.compression: deflate,
#      and adaptive_sorting with 10x the lines (with the default checkpoints,
#      with one every 0.5 s, and with 2 writers on 5 ranks), serial and on
#      3 ranks;
#   3. the speed-up of 2 workers over 1 for an ODE job of a few seconds
#      (adaptive_sorting, cold starts), the single-process run for reference,
#      and the same 2-worker run next to a process that spins like a
#      busy-polling master would;
#   4. the master under many workers: the null model with chunk 1 (every
#      line a request) and 16, on 2 to 65 ranks oversubscribed on this
#      machine: requests per second served, the master's CPU per request and
#      the dispatch cost per task, and how they grow with the workers;
#   5. the writers' file blocks per write under many workers: an ODE job of
#      600 lines (adaptive_sorting, phi on 200 points) on 17 ranks
#      oversubscribed, with 1 and 4 writers, each writing whenever its batch
#      has filled its share (run.memory_limit_mb 3.2: about 33 lines), as
#      writers at scale do, rather than at timed checkpoints:
#      writes, the file blocks (hyperslab boxes) they filled and the write
#      calls, from kpsweep's summary line (the blocks per write are what
#      the projection of docs/scaling.md, scripts/project-scaling.py, costs
#      per write), then that projection.
# Every figure comes from one run on this machine; the machine may be shared,
# so repeat runs to judge the noise. Exits 0 whatever the figures are.
#
# usage: scripts/bench-sweep.sh [--quick]
#   KPS_BUILD_DIR=/tmp/b scripts/bench-sweep.sh   # build elsewhere than ./build
#   KPS_BENCH_LINES=200000                        # lines of the null job (chunk 0/64)
#   KPS_BENCH_LINES_C1=2000                       # lines of the null job with chunk 1
#   KPS_BENCH_MANY="2 3 5 9 17 33 65"              # rank counts of section 4
#   KPS_BENCH_SECTIONS="1 2 3 4 5"                # the sections to run
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
QUICK=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) echo "bench-sweep: unknown option $a" >&2; exit 0 ;;
  esac
done

if [ -f "$ROOT/scripts/setup.sh" ]; then
  # installs missing packages, configures and builds $BUILD (default ./build)
  set -e
  export KPS_SETUP_TESTS=1   # the suites' and benchmarks' packages too
  source "$ROOT/scripts/setup.sh" || { echo "[bench] build failed" >&2; exit 0; }
  set +e
else
  BUILD="${KPS_BUILD_DIR:-$ROOT/build}"
  [ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$ROOT" --buildtype=release >/dev/null
  ninja -C "$BUILD" >/dev/null || { echo "[bench] build failed" >&2; exit 0; }
  if [ "$(id -u)" -eq 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
  export OMPI_MCA_rmaps_base_oversubscribe=1
fi
set +e +u
KPS="$BUILD/src/kpsweep"
PY="${PYTHON:-/usr/bin/python3}"
[ -x "$KPS" ] || { echo "[bench] $KPS missing" >&2; exit 0; }
command -v mpirun >/dev/null || { echo "[bench] mpirun missing" >&2; exit 0; }

LINES="${KPS_BENCH_LINES:-200000}"
LINES_C1="${KPS_BENCH_LINES_C1:-2000}"
PHI=24
REPS=3
MANY="${KPS_BENCH_MANY:-2 3 5 9 17 33 65}"
MANY_LINES=20000
SECTIONS="${KPS_BENCH_SECTIONS:-1 2 3 4 5}"
want() { [[ " $SECTIONS " == *" $1 "* ]]; }
if [ "$QUICK" = 1 ]; then
  MANY="${KPS_BENCH_MANY:-2 9 33}"
  MANY_LINES=5000
  LINES="${KPS_BENCH_LINES:-50000}"
  LINES_C1="${KPS_BENCH_LINES_C1:-1000}"
  PHI=8
  REPS=1
fi

T="$(mktemp -d /tmp/kps-bench.XXXXXX)"
SPIN=""
cleanup() {
  if [ -n "$SPIN" ]; then kill "$SPIN" 2>/dev/null; fi
  rm -rf "$T"
}
trap cleanup EXIT

# Every rank runs under /usr/bin/time, which writes "user sys elapsed" of
# that process to $T/time.<rank>.
cat > "$T/timed" <<EOF
#!/bin/sh
exec /usr/bin/time -f "%U %S %e" -o "$T/time.\${OMPI_COMM_WORLD_RANK:-0}" "\$@"
EOF
chmod +x "$T/timed"
HAVE_TIME=0
[ -x /usr/bin/time ] && HAVE_TIME=1

echo "[bench] $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
     "$(lscpu | sed -n 's/^Model name: *//p' | head -1)," \
     "revision $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
     "$(mpirun --version 2>/dev/null | head -1), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# run NAME NRANKS CONFIG: runs kpsweep, leaves "wall hdf5pct cpu0 el0 busy lines"
# in $T/NAME.res (cpu0/el0: CPU and elapsed seconds of rank 0 from
# /usr/bin/time; busy: sum of rank_busy_seconds from the file) and
# "stallpct waitpct" in $T/NAME.io (the workers' time stalled on output and
# waiting for work, from the summary line; in-process: the HDF5 share and 0).
run() {
  local name="$1" n="$2" cfg="$3" out="$T/$1.h5" log="$T/$1.log"
  rm -f "$T"/time.*
  local wrap=()
  [ "$HAVE_TIME" = 1 ] && wrap=("$T/timed")
  if [ "$n" -eq 0 ]; then
    "${wrap[@]}" "$KPS" run "$cfg" -o "$out" --force --quiet >"$log" 2>&1
  else
    mpirun -n "$n" "${wrap[@]}" "$KPS" run "$cfg" -o "$out" --force --quiet >"$log" 2>&1
  fi
  local rc=$?
  local line wall pct cpu0="nan" el0="nan" busy="nan"
  line="$(grep -E '^wrote ' "$log" | tail -1)"
  if [ $rc -ne 0 ] || [ -z "$line" ]; then
    echo "[bench] $name: kpsweep failed (rc $rc):" >&2
    tail -5 "$log" >&2
    echo "nan nan nan nan nan nan" > "$T/$name.res"
    echo "nan nan" > "$T/$name.io"
    return
  fi
  wall="$(sed -n 's/.*, \([0-9.]*\) s wall.*/\1/p' <<<"$line")"
  pct="$(sed -n 's/.* s wall, \([0-9.]*\)% in HDF5.*/\1/p' <<<"$line")"
  local stall wait
  stall="$(sed -n 's/.* \([0-9.]*\)% of worker time stalled.*/\1/p' <<<"$line")"
  wait="$(sed -n 's/.* \([0-9.]*\)% waiting for work.*/\1/p' <<<"$line")"
  echo "${stall:-$pct} ${wait:-0}" > "$T/$name.io"
  if [ -f "$T/time.0" ]; then
    read -r u s e < <(tail -1 "$T/time.0")
    cpu0="$(awk -v u="$u" -v s="$s" 'BEGIN{print u + s}')"
    el0="$e"
  fi
  busy="$("$PY" - "$out" 2>/dev/null <<'EOF'
import sys
try:
    import h5py
    with h5py.File(sys.argv[1], "r") as f:
        import numpy
        print(float(numpy.sum(numpy.atleast_1d(f.attrs["rank_busy_seconds"]))))
except Exception:
    print("nan")
EOF
)"
  local lines
  lines="$(sed -n 's/^wrote [^:]*: \([0-9]*\)\/.*/\1/p' <<<"$line")"
  echo "$wall $pct $cpu0 $el0 ${busy:-nan} $lines" > "$T/$name.res"
}

# null job of N lines of one point each, fixed or automatic chunk
null_job() {
  cat > "$T/null_$2.yaml" <<EOF
name: null_bench
model: null
axes:
  c: {linear: [1, 2, $1]}
agonist: {tau: 4.0, L: 4000}
antagonist:
  tau: {values: [1.0]}
  L: 6000
threshold: {tau_c: 3.0}
run: {chunk: $3, checkpoint_every: 3600, progress_every: 3600}
stats: {boundary: false, line_stats: false}
EOF
}

############################################################################
if want 1; then
echo "== 1. Master throughput, null model (1 point per line, no model cost) =="
null_job "$LINES_C1" c1 1
null_job "$LINES" c64 64
null_job "$LINES" c0 0
run null_serial 0 "$T/null_c0.yaml"
for n in 2 3; do
  for c in c1 c64 c0; do run "null_${c}_n$n" "$n" "$T/null_$c.yaml"; done
done
{
  printf "%-7s %2s %5s %7s %7s %7s %7s %8s %9s %9s %9s %10s %7s\n" \
    "layout" "W" "chunk" "lines" "wall" "HDF5" "busy" "tasks/s" "wall/task" "lost/task" "disp/task" "m.cpu/task" "m.cpu%"
  printf "%-7s %2s %5s %7s %7s %7s %7s %8s %9s %9s %9s %10s %7s\n" \
    "" "" "" "" "s" "s" "s" "" "us" "us" "us" "us" "of wall"
  for r in null_serial null_c1_n2 null_c64_n2 null_c0_n2 null_c1_n3 null_c64_n3 null_c0_n3; do
    case "$r" in
      null_serial) lay="serial"; W=1; ch="auto" ;;
      *) n="${r##*_n}"; lay="-n $n"; W=$((n - 1)); ch="${r#null_c}"; ch="${ch%%_*}"; [ "$ch" = 0 ] && ch="auto" ;;
    esac
    read -r wall pct cpu0 el0 busy lines < "$T/$r.res"
    awk -v lay="$lay" -v W="$W" -v ch="$ch" -v wall="$wall" -v pct="$pct" -v cpu0="$cpu0" \
        -v el0="$el0" -v busy="$busy" -v lines="$lines" 'BEGIN {
      if (wall == "nan" || lines + 0 == 0) { printf "%-7s %2s %5s %7s  (failed)\n", lay, W, ch, lines; exit }
      tps = lines / wall; wpt = 1e6 * wall / lines; h5 = wall * pct / 100
      lost = (busy == "nan") ? "n/a" : sprintf("%.2f", 1e6 * (W * wall - busy) / lines)
      disp = (busy == "nan") ? "n/a" : sprintf("%.2f", 1e6 * (W * (wall - h5) - busy) / lines)
      bs = (busy == "nan") ? "n/a" : sprintf("%.3f", busy)
      mcpu = (cpu0 == "nan") ? "n/a" : sprintf("%.2f", 1e6 * cpu0 / lines)
      mshare = (cpu0 == "nan" || el0 + 0 == 0) ? "n/a" : sprintf("%.0f%%", 100 * cpu0 / el0)
      printf "%-7s %2s %5s %7d %7.3f %7.3f %7s %8.0f %9.2f %9s %9s %10s %7s\n", lay, W, ch, lines, wall, h5, bs, tps, wpt, lost, disp, mcpu, mshare
    }'
  done
} | tee "$T/table1"
read -r wall pct cpu0 el0 busy lines < "$T/null_c0_n3.res"
awk -v W=2 -v wall="$wall" -v pct="$pct" -v cpu0="$cpu0" -v busy="$busy" -v lines="$lines" 'BEGIN {
  if (wall == "nan") exit
  if (cpu0 != "nan") { m = 1e6 * cpu0 / lines
    printf "target: master overhead < 5 us/task amortised (auto chunk, 2 workers), master CPU:      %6.2f us/task  %s\n", m, (m < 5 ? "PASS" : "MISS") }
  if (busy != "nan") { d = 1e6 * (W * wall * (1 - pct / 100) - busy) / lines
    printf "target: master overhead < 5 us/task amortised (auto chunk, 2 workers), disp/task:       %6.2f us/task  %s\n", d, (d < 5 ? "PASS" : "MISS") }
}'
cat <<'EOF'
  wall/task  = kpsweep wall seconds / lines (includes file creation and the final flush)
  HDF5       = slowest writer's seconds in HDF5 (kpsweep's "% in HDF5" x wall)
  busy       = sum over ranks of rank_busy_seconds (time inside line computations)
  lost/task  = (W * wall - busy) / lines: worker time per task not spent computing
               (waiting for the master, message latency, HDF5, start-up)
  disp/task  = (W * (wall - HDF5) - busy) / lines: the same without the flushes, i.e. the
               dispatch cost per task (requests, replies, idle-wait latency, start-up)
  m.cpu/task = CPU seconds (user+sys, /usr/bin/time) of rank 0 / lines: the master's service
               time per task, start-up and MPI_Init included
  m.cpu%     = rank 0 CPU seconds / rank 0 elapsed seconds: a busy-polling master shows ~100 %
  chunk 1 uses fewer lines (KPS_BENCH_LINES_C1) because each request costs a full round trip.
EOF
echo

fi
############################################################################
if want 2; then
echo "== 2. Output: the writers' HDF5 share, the workers' stall on output, file size =="
# The variants of a job: every field (as shipped), a minimal run.fields (the
# response, the fold change, status and the line statistics), every field
# with run.compression: deflate (level 4, shuffle); for adaptive_sorting also
# 10x the lines (phi on 40 points: 120 lines), with its default checkpoints
# and with one every 0.5 s (writes while the workers compute).
MINIMAL="[O_rel, FC, status, tau_star, tau_star_rel, FC_star, p_edge, tau_infl, regime, edge_class, FC_min]"
variant() {
  local j="$1" v="$2" cfg="$T/${1}_$2.yaml" src="$ROOT/jobs/examples/$1.yaml"
  case "$v" in
    all) cp "$src" "$cfg" ;;
    minimal) sed "s/^run:\$/run:\n  fields: $MINIMAL/" "$src" > "$cfg" ;;
    deflate) sed 's/^run:$/run:\n  compression: deflate/' "$src" > "$cfg" ;;
    x10) sed 's/phi: {log: \[0.01, 0.3, 4\]}/phi: {log: [0.01, 0.3, 40]}/' "$src" > "$cfg" ;;
    x10ckpt) sed -e 's/phi: {log: \[0.01, 0.3, 4\]}/phi: {log: [0.01, 0.3, 40]}/' \
                 -e 's/^run:$/run:\n  checkpoint_every: 0.5/' "$src" > "$cfg" ;;
    x10w2) sed -e 's/phi: {log: \[0.01, 0.3, 4\]}/phi: {log: [0.01, 0.3, 40]}/' \
               -e 's/^run:$/run:\n  writers: 2/' "$src" > "$cfg" ;;
  esac
  echo "$cfg"
}
variants() {
  case "$1" in
    default) echo "all minimal deflate" ;;
    *) echo "all minimal deflate x10 x10ckpt x10w2" ;;
  esac
}
for j in default adaptive_sorting; do
  for v in $(variants "$j"); do
    cfg="$(variant "$j" "$v")"
    # two writers (ranks 1, 2) besides the master and 2 workers: 5 ranks
    if [ "$v" = x10w2 ]; then
      run "${j}_${v}_n5" 5 "$cfg"
    else
      run "${j}_${v}_serial" 0 "$cfg"
      run "${j}_${v}_n3" 3 "$cfg"
    fi
  done
done
printf "%-17s %-8s %-7s %8s %8s %8s %8s %9s %8s\n" "job" "fields" "layout" "wall s" "HDF5 %" \
       "stall %" "wait %" "file MB" "target"
for j in default adaptive_sorting; do
  for v in $(variants "$j"); do
    for l in serial n3 n5; do
      [ -f "$T/${j}_${v}_$l.res" ] || continue
      read -r wall pct cpu0 el0 busy lines < "$T/${j}_${v}_$l.res"
      read -r stall wait < "$T/${j}_${v}_$l.io"
      size="$(stat -c %s "$T/${j}_${v}_$l.h5" 2>/dev/null || echo nan)"
      case "$l" in serial) lay=serial ;; n3) lay="-n 3" ;; n5) lay="-n 5" ;; esac
      awk -v j="$j" -v v="$v" -v l="$lay" -v wall="$wall" -v pct="$pct" -v stall="$stall" \
          -v wait="$wait" -v size="$size" 'BEGIN {
        if (wall == "nan") { printf "%-17s %-8s %-7s  (failed)\n", j, v, l; exit }
        printf "%-17s %-8s %-7s %8.3f %7.1f%% %7.1f%% %7.1f%% %9.3f %8s %s\n", j, v, l, wall, pct,
               stall, wait, size / 1e6, "< 2 %", (stall + 0 < 2 ? "PASS" : "MISS")
      }'
    done
  done
done
cat <<EOT
  HDF5 %  = the slowest writer's time in HDF5 / wall: creating the file, its writes, the
            close (in-process: the one rank's, which computes nothing meanwhile). Under MPI
            the writer is rank 0, the master (run.writers: G >= 2: ranks 1..G).
  stall % = the workers' time lost to output / (workers x wall): waiting for a send buffer,
            for the file to be opened (resume only: a new file is created while the
            workers compute), and for the last write and the close at the end;
            in-process it is the HDF5 share. Target: < 2 %.
  wait %  = the workers' time holding no range / (workers x wall): the first ranges, the
            tail, and replies the master delayed while it wrote.
  file MB = the file's size (st_size) after the run; minimal = run.fields $MINIMAL;
  deflate = every field, run.compression: deflate (level 4, shuffle); x10 = phi on 40
  points (120 lines); x10ckpt = x10 with checkpoint_every: 0.5; x10w2 = x10 with
  run.writers: 2 on 5 ranks (ranks 1, 2 write, ranks 3, 4 compute).
EOT
echo
# The fill at creation, counted: bytes the serial run wrote (the kernel's
# file-system output blocks of 512 B, /usr/bin/time %O) for a null-model
# file of 2000 x 1000 points, run.fill: all against status.
if [ -x /usr/bin/time ]; then
  echo "run.fill     file MB   written MB   written / file"
  for fill in all status; do
    cat > "$T/fill_$fill.yaml" <<EOF
name: fill_bench
model: null
axes:
  c: {linear: [1, 2, 2000]}
agonist: {tau: 4.0, L: 4000}
antagonist:
  tau: {linear: [0.1, 2.9, 1000]}
  L: 6000
threshold: {tau_c: 3.0}
run: {checkpoint_every: 3600, progress_every: 3600, fill: $fill}
stats: {boundary: false, line_stats: false}
EOF
    blocks="$(/usr/bin/time -f "%O" "$KPS" run "$T/fill_$fill.yaml" -o "$T/fill.h5" --force \
              --quiet 2>&1 >/dev/null | tail -1)"
    size="$(stat -c %s "$T/fill.h5" 2>/dev/null || echo 0)"
    awk -v f="$fill" -v b="$blocks" -v s="$size" \
      'BEGIN { r = s > 0 ? b * 512 / s : 0; printf "%-10s %9.1f %12.1f %16.2f\n", f, s / 1e6, b * 512 / 1e6, r }'
  done
  echo "  (all: the creator writes the whole file with its fill values, then the data;"
  echo "   status: only the data and 1 byte a point of status)"
  echo
fi

fi
############################################################################
if want 3; then
echo "== 3. Speed-up of 2 workers over 1: adaptive_sorting, $PHI x 3 lines x 200 points, cold starts, best of $REPS =="
sed -e "s/phi: {log: \[0.01, 0.3, 4\]}/phi: {log: [0.01, 0.3, $PHI]}/" \
    -e 's/^name: .*/name: ode_bench/' -e '/^run:/,$d' \
    "$ROOT/jobs/examples/adaptive_sorting.yaml" > "$T/ode.yaml"
printf 'solver: {warm_start: false}\nrun: {checkpoint_every: 3600, progress_every: 3600}\n' >> "$T/ode.yaml"
# best of REPS runs each, interleaved, since the machine may be shared
best() {
  sort -g -k1,1 "$T"/"$1".r*.res | head -1 > "$T/$1.res"
}
for k in $(seq "$REPS"); do
  run "ode_serial.r$k" 0 "$T/ode.yaml"
  run "ode_n2.r$k" 2 "$T/ode.yaml"
  run "ode_n3.r$k" 3 "$T/ode.yaml"
done
for r in ode_serial ode_n2 ode_n3; do
  best "$r"
  echo "  $r walls over $REPS runs: $(cut -d' ' -f1 "$T"/"$r".r*.res | tr '\n' ' ')s"
done
# A process that spins on one core for the length of the run: what a
# busy-polling master would take from the workers (emulated; kpsweep's own
# master sleeps between probes).
( trap 'exit 0' TERM; while :; do :; done ) &
SPIN=$!
run ode_n3_spin 3 "$T/ode.yaml"
kill "$SPIN" 2>/dev/null; wait "$SPIN" 2>/dev/null; SPIN=""
printf "%-27s %7s %8s %8s %8s %8s %9s %9s\n" "layout" "wall" "speed-up" "speed-up" "lines/s" "busy" "rank0 cpu" "rank0 cpu"
printf "%-27s %7s %8s %8s %8s %8s %9s %9s\n" "" "s" "vs -n 2" "vs serial" "" "s" "s" "% of wall"
read -r w2 _ _ _ _ _ < "$T/ode_n2.res"
read -r w1 _ _ _ _ _ < "$T/ode_serial.res"
for r in ode_serial ode_n2 ode_n3 ode_n3_spin; do
  case "$r" in
    ode_serial) lay="serial (1 process)" ;;
    ode_n2) lay="-n 2 (1 worker)" ;;
    ode_n3) lay="-n 3 (2 workers)" ;;
    ode_n3_spin) lay="-n 3 + 1 spinning proc." ;;
  esac
  read -r wall pct cpu0 el0 busy lines < "$T/$r.res"
  awk -v lay="$lay" -v wall="$wall" -v w2="$w2" -v w1="$w1" -v cpu0="$cpu0" -v el0="$el0" \
      -v busy="$busy" -v lines="$lines" 'BEGIN {
    if (wall == "nan") { printf "%-27s  (failed)\n", lay; exit }
    sp = (w2 == "nan") ? "n/a" : sprintf("%.2fx", w2 / wall)
    sp1 = (w1 == "nan") ? "n/a" : sprintf("%.2fx", w1 / wall)
    b = (busy == "nan") ? "n/a" : sprintf("%.3f", busy)
    c = (cpu0 == "nan") ? "n/a" : sprintf("%.3f", cpu0)
    s = (cpu0 == "nan" || el0 + 0 == 0) ? "n/a" : sprintf("%.1f%%", 100 * cpu0 / el0)
    printf "%-27s %7.3f %8s %8s %8.1f %8s %9s %9s\n", lay, wall, sp, sp1, lines / wall, b, c, s
  }'
done
echo "  busy: sum of rank_busy_seconds (line computations); when it differs between layouts the"
echo "  cores were not equally fast during the runs (shared machine), and so is the speed-up."
echo "  rank0 cpu: in the serial run rank 0 computes every line; under mpirun it is the master."
echo "  The spinning process stands in for a busy-polling master (3 busy processes on $(nproc) cores)."
fi
############################################################################
if want 4; then
echo "== 4. The master under many workers: null model, $MANY_LINES lines, chunk 1 and 16, ranks: $MANY =="
echo "   ($(nproc) cores: beyond $(($(nproc) + 1)) ranks the workers time-share them)"
null_job "$MANY_LINES" m1 1
null_job "$MANY_LINES" m16 16
{
  printf "%5s %4s %5s %7s %7s %9s %9s %10s %9s\n" \
    "ranks" "W" "chunk" "wall" "HDF5" "req/s" "disp/task" "m.cpu/req" "m.cpu%"
  printf "%5s %4s %5s %7s %7s %9s %9s %10s %9s\n" "" "" "" "s" "s" "" "us" "us" "of wall"
  for n in $MANY; do
    for c in 1 16; do
      run "many_c${c}_n$n" "$n" "$T/null_m$c.yaml"
      read -r wall pct cpu0 el0 busy lines < "$T/many_c${c}_n$n.res"
      awk -v n="$n" -v c="$c" -v wall="$wall" -v pct="$pct" -v cpu0="$cpu0" -v el0="$el0" \
          -v busy="$busy" -v lines="$lines" 'BEGIN {
        W = n - 1
        if (wall == "nan" || lines + 0 == 0) { printf "%5d %4d %5d  (failed)\n", n, W, c; exit }
        h5 = wall * pct / 100; req = lines / c
        rps = req / (wall - h5)
        disp = (busy == "nan") ? "n/a" : sprintf("%.2f", 1e6 * (W * (wall - h5) - busy) / lines)
        mcpu = (cpu0 == "nan") ? "n/a" : sprintf("%.2f", 1e6 * cpu0 / req)
        mshare = (cpu0 == "nan" || el0 + 0 == 0) ? "n/a" : sprintf("%.0f%%", 100 * cpu0 / el0)
        printf "%5d %4d %5d %7.3f %7.3f %9.0f %9s %10s %9s\n", n, W, c, wall, h5, rps, disp, mcpu, mshare
      }'
    done
  done
} | tee "$T/table4"
cat <<'EOT'
  req/s     = requests (lines / chunk) / (wall - HDF5): the rate the master served work requests
  disp/task = (W * (wall - HDF5) - busy) / lines: worker time per task lost to dispatch (requests,
              replies, waiting for the master or for a core, start-up)
  m.cpu/req = CPU seconds of rank 0 (MPI_Init and file creation included) / requests
  With more ranks than cores these figures measure the time-sharing of the cores as much as the
  master: a worker waiting for its reply holds no core only while Open MPI yields it.
EOT
fi

############################################################################
if want 5; then
echo
echo "== 5. The writers' file blocks per write under many workers (17 ranks, oversubscribed) =="
n_phi=200; ((QUICK)) && n_phi=50
for g in 1 4; do
  sed -e "s/phi: {log: \[0.01, 0.3, 4\]}/phi: {log: [0.01, 0.3, $n_phi]}/" -e '/output:/d' \
    jobs/examples/adaptive_sorting.yaml > "$T/blocks_$g.yaml"
  printf '  checkpoint_every: 3600\n  memory_limit_mb: 3.2\n  progress_every: 3600\n  writers: %s\n' \
    "$g" >> "$T/blocks_$g.yaml"
  mpirun -n 17 "$KPS" run "$T/blocks_$g.yaml" -o "$T/blocks_$g.h5" --force --quiet \
    > "$T/blocks_$g.out" 2> "$T/blocks_$g.err"
done
{
  printf "%7s %7s %7s %7s %7s %9s %8s %8s\n" "writers" "lines" "wall s" "writes" "blocks" "a writer" "HDF5 %" "stall %"
  for g in 1 4; do
    line="$(grep '^wrote' "$T/blocks_$g.out")"
    if [ -z "$line" ]; then printf "%7s  (failed: %s)\n" "$g" "$(tail -1 "$T/blocks_$g.err")"; continue; fi
    sed -E 's/^wrote [^:]*: ([0-9]+)\/.* ([0-9.]+) s wall, ([0-9.]+)% in HDF5 on [0-9]+ writers? \(([0-9]+) writes?, ([0-9]+) file blocks.*, ([0-9.]+)% of worker time stalled.*/\1 \2 \4 \5 \3 \6/' <<<"$line" |
      awk -v g="$g" '{ printf "%7s %7s %7.3f %7s %7s %9.2f %7.1f%% %7.1f%%\n", g, $1, $2, $3, $4, ($3 > 0 ? $4 / ($3 * g) : 0), $5, $6 }'
  done
} | tee "$T/table5"
cat <<'EOT'
  blocks    = hyperslab boxes of the file the writers' rows filled, over all writers ("a writer":
              per writer and write); each costs
              one H5Dwrite per field (fewer, larger ones are one selection). Every writer's
              workers draw their lines from a block of its own, and a write takes the rows below
              the lowest line those workers still compute: a write is a run of lines, a few
              blocks, however many ranges it holds. (Before, ranges went out in turn to every
              worker: about a block per range; 142 blocks in 18 writes for 1 writer and 516 in 7
              for 4 on this job, measured in docs/scaling.md.)
EOT
echo
"$PY" scripts/project-scaling.py
fi
exit 0
