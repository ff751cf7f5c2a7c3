#!/usr/bin/env bash
# One command on a fresh machine: install what is missing, build, and run
# the meson test suites. Ends with the line "N passed, M failed, K skipped"
# (over every lane run); exits non-zero on any failure.
#
#   scripts/test.sh [MESON TEST ARGS]             every suite of ./build (gcc):
#                                                 unit, mpi, e2e, scipy, slurm, ...
#   scripts/test.sh --sanitize [MESON TEST ARGS]  the sanitize lane: kpsweep built
#                                                 again with clang, ASan + UBSan
#                                                 (+ LSan) in ./build-sanitize, and
#                                                 its suites headers, unit, mpi,
#                                                 sanitize and fuzz (the fuzzers run
#                                                 KPS_FUZZ_SECONDS each, default 60,
#                                                 both at once)
#   scripts/test.sh --all                         both lanes, one summary (.ci/run)
#
# MESON TEST ARGS (e.g. --suite unit) replace a lane's default suite list.
# docs/testing.md describes the lanes.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

lanes=(normal)
case "${1:-}" in
  --sanitize) lanes=(sanitize); shift ;;
  --all) lanes=(normal sanitize); shift ;;
esac
if [ "${lanes[*]}" = "normal sanitize" ] && (($#)); then
  echo "scripts/test.sh: --all takes no meson test arguments" >&2
  echo "0 passed, 1 failed, 0 skipped"
  exit 2
fi

export KPS_SETUP_TESTS=1   # the suites' and benchmarks' packages too
source "$ROOT/scripts/setup.sh" || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }
set +e

SAN_BUILD="${KPS_SANITIZE_BUILD_DIR:-$ROOT/build-sanitize}"
# The sanitize lane's compiler flags. UB is fatal (-fno-sanitize-recover);
# frame pointers give LeakSanitizer's fast unwinder our frames; the ignore
# list holds the known findings in code this lane may not change
# (tests/sanitize/ubsan.ignorelist says which, and why).
SAN_CFLAGS="-fsanitize=float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer"
SAN_CFLAGS+=" -fsanitize-ignorelist=$ROOT/tests/sanitize/ubsan.ignorelist"
SAN_LDFLAGS="-fsanitize=float-cast-overflow -fno-sanitize-recover=all"

build_sanitize() {
  kps_ensure_packages clang-14 libclang-rt-14-dev llvm-14 || return 1
  # (b_lundef=false: meson's advice for clang sanitizer builds; kpsweep links
  # no shared library of its own, so it changes nothing but the warning.)
  local opts=(-Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true
              "-Dc_args=$SAN_CFLAGS" "-Dc_link_args=$SAN_LDFLAGS")
  if [ ! -f "$SAN_BUILD/build.ninja" ]; then
    CC=clang-14 meson setup "$SAN_BUILD" "$ROOT" --buildtype=debugoptimized "${opts[@]}" \
      >/dev/null || return 1
  else
    meson configure "$SAN_BUILD" "${opts[@]}" >/dev/null || return 1
  fi
  ninja -C "$SAN_BUILD" >/dev/null || { ninja -C "$SAN_BUILD" | tail -40; return 1; }
  echo "[test] built $SAN_BUILD (clang-14, address,undefined sanitizers, fuzzers)"
}

total_passed=0 total_failed=0 total_skipped=0 status=0
# count BUILD_DIR STATUS LABEL: adds the lane's results to the totals.
count() {
  local json="$1/meson-logs/testlog.json" rc="$2" p f s
  p=$(grep -c '"result": "OK"' "$json" 2>/dev/null || true)
  f=$(grep -c -E '"result": "(FAIL|ERROR|TIMEOUT|UNEXPECTEDPASS)"' "$json" 2>/dev/null || true)
  s=$(grep -c '"result": "SKIP"' "$json" 2>/dev/null || true)
  if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then f=1; fi
  echo "[test] $3: ${p:-0} passed, ${f:-0} failed, ${s:-0} skipped"
  total_passed=$((total_passed + ${p:-0}))
  total_failed=$((total_failed + ${f:-0}))
  total_skipped=$((total_skipped + ${s:-0}))
  if [ "$rc" -ne 0 ]; then status=$rc; fi
}

for lane in "${lanes[@]}"; do
  start=$SECONDS
  if [ "$lane" = normal ]; then
    # One test more than cores: the slurm suite's tests mostly wait for
    # SLURM (a requeued job's restart) beside the e2e tests. The mpi tests
    # are is_parallel: false (their kills and timings) and still run alone.
    MESON_TESTTHREADS="${MESON_TESTTHREADS:-$(($(nproc) + 1))}" \
      meson test -C "$BUILD" --print-errorlogs "$@"
    count "$BUILD" $? "normal lane ($((SECONDS - start)) s)"
  else
    if ! build_sanitize; then
      echo "[test] the sanitize build failed"
      total_failed=$((total_failed + 1)); status=1
      continue
    fi
    rm -f "$SAN_BUILD/meson-logs/testlog.json"
    # Not the suite normal-lane (output_path, hardkill, fields, defence_sweep: see
    # tests/mpi/meson.build), to keep CI within 15 minutes.
    suites=(--suite headers --suite unit --suite mpi --suite sanitize --suite fuzz
            --no-suite normal-lane)
    if (($#)); then suites=("$@"); fi
    # KPS_QUICK: the mpi suite's slow tests shrink their jobs and trials
    # (same checks) so that the lane stays within minutes under ASan.
    KPS_QUICK=1 meson test -C "$SAN_BUILD" --print-errorlogs "${suites[@]}"
    rc=$?
    # The fuzz tests' closing lines: executions, coverage, corpus.
    grep -h -E '^fuzz_[a-z]+: ' "$SAN_BUILD/meson-logs/testlog.txt" 2>/dev/null | sed 's/^/[test] /'
    count "$SAN_BUILD" $rc "sanitize lane ($((SECONDS - start)) s)"
  fi
done
echo "${total_passed} passed, ${total_failed} failed, ${total_skipped} skipped"
exit $status
