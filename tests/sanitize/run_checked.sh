#!/usr/bin/env bash
# Test wrapper of the sanitize build (the exe_wrapper of its default meson
# test setup, tests/meson.build): runs one test with the AddressSanitizer,
# LeakSanitizer and UndefinedBehaviorSanitizer reports of every process it
# starts (kpsweep ranks under mpirun included) written to a private directory,
# and fails the test when any process reported, even if the test itself
# accepted that process's exit status (a leak on an error path exits non-zero
# and would otherwise pass for the expected failure).
#
# Usage: run_checked.sh COMMAND [ARGS...]
set -u
dir="$(mktemp -d "${TMPDIR:-/tmp}/kps-sanitize-XXXXXX")"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$dir/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$dir/ubsan"
# (tests/fuzz/run_fuzz.py drops log_path again: a fuzzer's reports belong on
# stderr, next to libFuzzer's name of the reproducer.)
"$@"
rc=$?
reports=()
for f in "$dir"/*; do
  [ -f "$f" ] || continue
  if grep -q -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|UndefinedBehaviorSanitizer' "$f"; then
    reports+=("$f")
  fi
done
if ((${#reports[@]})); then
  echo "# sanitizer reports (${#reports[@]} processes; kept in $dir):"
  for f in "${reports[@]}"; do
    echo "# ---- $f"
    sed 's/^/# /' "$f"
  done
  echo "# the test's own exit status was $rc"
  [ "$rc" -ne 0 ] || rc=1
  exit "$rc"
fi
rm -rf "$dir"
exit "$rc"
