#!/usr/bin/env bash
# Builds kpsweep, runs bench/bench_solve (C, one core) and bench/bench_scipy.py
# (the scipy reference) in the same run, and prints the ratios against the
# targets of docs/benchmarks.md ("Floor and targets") with PASS/MISS.
# Exits 0 even on MISS (these are measurements, not assertions); non-zero
# only when something could not be built or run. See docs/benchmarks.md.
#
# usage: scripts/bench-solve.sh [--quick] [extra bench_solve options]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
QUICK=0
ARGS=()
for a in "$@"; do
  if [ "$a" = "--quick" ]; then QUICK=1; else ARGS+=("$a"); fi
done

if [ -f "$ROOT/scripts/setup.sh" ]; then
  # installs missing packages, configures and builds $BUILD (default ./build)
  export KPS_SETUP_TESTS=1   # the suites' and benchmarks' packages too
  source "$ROOT/scripts/setup.sh"
else
  BUILD="${KPS_BUILD_DIR:-$ROOT/build}"
  [ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$ROOT" --buildtype=release >/dev/null
  ninja -C "$BUILD" >/dev/null
fi
set +u
PY="${PYTHON:-/usr/bin/python3}"

BENCH="$BUILD/bench/bench_solve"   # built by meson (bench/meson.build)
[ -x "$BENCH" ] || { echo "[bench] $BENCH missing: ninja -C $BUILD failed?" >&2; exit 1; }

echo "[bench] $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
     "$(lscpu | sed -n 's/^Model name: *//p' | head -1), revision $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
C_OUT="$(mktemp)"
PY_OUT="$(mktemp)"
trap 'rm -f "$C_OUT" "$PY_OUT"' EXIT
if [ "$QUICK" = 1 ]; then
  "$BENCH" --reps-cold 1 --reps-warm 5 "${ARGS[@]}" | tee "$C_OUT"
  echo
  "$PY" "$ROOT/bench/bench_scipy.py" --reps 1 --cold-points 10 | tee "$PY_OUT"
else
  "$BENCH" "${ARGS[@]}" | tee "$C_OUT"
  echo
  "$PY" "$ROOT/bench/bench_scipy.py" | tee "$PY_OUT"
fi
echo

# key=value from the RESULT line of the headline model / of scipy
val() { sed -n "$1" "$2" | tr ' ' '\n' | sed -n "s/^$3=//p" | head -1; }
HEAD='/^RESULT model=adaptive_sorting sets=N=5,m=2 /p'
warm=$(val "$HEAD" "$C_OUT" warm_us)
cold=$(val "$HEAD" "$C_OUT" cold_us)
dO=$(val "$HEAD" "$C_OUT" max_rel_dO)
sc=$(val '/^RESULT scipy_/p' "$PY_OUT" scipy_cold_us)
sn=$(val '/^RESULT scipy_/p' "$PY_OUT" scipy_newton_us)
sp=$(val '/^RESULT scipy_/p' "$PY_OUT" scipy_plain_us)
if [ -z "$warm" ] || [ -z "$sc" ]; then
  echo "[bench] could not read the RESULT lines" >&2
  exit 1
fi
awk -v w="$warm" -v c="$cold" -v sc="$sc" -v sn="$sn" -v sp="$sp" -v dO="$dO" 'BEGIN {
  printf "Targets (adaptive_sorting N=5 m=2 K=2, 200-point line, steady state + 4 gradients)\n"
  printf "%-52s %12s %10s %6s\n", "figure", "measured", "target", ""
  r1 = sc / w; r2 = sn / w; r0 = sp / w
  printf "%-52s %11.0fx %10s %6s\n", "scipy cold (vode to steady state) / kpsweep warm line", r0, ">= 1000x", (r0 >= 1000 ? "PASS" : "MISS")
  printf "%-52s %11.0fx %10s %6s\n", "scipy cold (vode + our early Newton polish) / warm", r1, "(info)", ""
  printf "%-52s %11.0fx %10s %6s\n", "scipy Newton continuation / kpsweep warm line", r2, ">= 50x", (r2 >= 50 ? "PASS" : "MISS")
  printf "%-52s %9.2f us %10s %6s\n", "kpsweep warm, amortised per point", w, "< 5 us", (w < 5 ? "PASS" : "MISS")
  printf "%-52s %9.1f us %10s %6s\n", "kpsweep cold per point", c, "< 400 us", (c < 400 ? "PASS" : "MISS")
  printf "%-52s %12s %10s %6s\n", "warm vs cold max relative difference of O", dO, "~1e-12", ((dO + 0) <= 1e-10 ? "PASS" : "MISS")
}'
exit 0
