#!/bin/bash
# The hardening of jobs/slurm/kpsweep.sbatch through a real, private,
# single-node SLURM (tests/slurm/slurm_lib.sh):
#   (c) requeue limit: with KPS_REQUEUE=1 KPS_MAX_REQUEUES=1, a job that is
#       interrupted in every piece (each piece completing new lines) is
#       requeued once, then stops: FAILED, ExitCode=3:0, Restarts=1, the log
#       and the job's Comment say "requeue limit reached";
#   (d) no-progress guard: a piece interrupted before kpsweep started (while
#       its KPS_ENV_SCRIPT loads) completes no new line and is not requeued,
#       although KPS_REQUEUE=1 and the limit allows it; resubmitted, the file
#       completes;
#   (e) environment hook under --export=NONE: a copy of the script with
#       "#KPS_ENV_SCRIPT" and "#KPS_MODULES" lines sources the file and loads
#       the modules (a stand-in `module` function) before it looks for
#       kpsweep on PATH; nothing of the submitting shell's environment leaks;
#   bad KPS_MAX_REQUEUES, an unreadable KPS_ENV_SCRIPT: exit 2.
# TAP output. Usage: test_requeue.sh BUILD_DIR SOURCE_DIR
# Exit 77 (TAP skip) only when the SLURM/munge programs are not installed.
# shellcheck disable=SC2317  # functions run from traps look unreachable
set -uo pipefail

build=$(cd "${1:?usage: test_requeue.sh BUILD_DIR SOURCE_DIR}" && pwd)
src=$(cd "${2:?usage: test_requeue.sh BUILD_DIR SOURCE_DIR}" && pwd)
exe=$build/src/kpsweep

# shellcheck source-path=SCRIPTDIR source=slurm_lib.sh
source "$src/tests/slurm/slurm_lib.sh"

# --- without SLURM: knobs checked before anything runs ---------------------
printf 'name: t\nmodel: ideal\nantagonist: {tau: {values: [1]}, L: 1}\n' >"$tmp/tiny.yaml"
KPS_EXE=$exe KPS_MAX_REQUEUES=lots bash "$sbatch_script" "$tmp/tiny.yaml" "$tmp/tiny.h5" >"$tmp/bad.out" 2>&1
rc=$?
ok "$([ $rc = 2 ] && grep -q 'KPS_MAX_REQUEUES must be a whole number' "$tmp/bad.out"; echo $?)" \
    "KPS_MAX_REQUEUES=lots: exit 2 with a message (got $rc)" "$tmp/bad.out"
KPS_EXE=$exe KPS_ENV_SCRIPT=$tmp/missing.sh bash "$sbatch_script" "$tmp/tiny.yaml" "$tmp/tiny.h5" >"$tmp/bad.out" 2>&1
rc=$?
ok "$([ $rc = 2 ] && grep -q 'missing.sh cannot be read' "$tmp/bad.out" && [ ! -e "$tmp/tiny.h5" ]; echo $?)" \
    "KPS_ENV_SCRIPT that does not exist: exit 2, nothing run (got $rc)" "$tmp/bad.out"

slurm_start

comment() { # the Comment of a job
    timeout 5 scontrol show job "$1" 2>/dev/null | sed -n 's/^ *Comment=//p' | head -n 1
}
# wait_piece LOG K SECONDS: waits until the log shows a progress line of the
# piece with restart count K
wait_piece() {
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt $end ]; do
        awk -v k="(restart $2)" 'index($0, k) { f = 1 } f && /points \(/ { found = 1 } END { exit !found }' \
            "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

cp "$src/tests/slurm/long.yaml" "$tmp/long.yaml"

# --- (c) the requeue limit ---------------------------------------------------
rq=$tmp/limit.h5
jid=$(KPS_REQUEUE=1 KPS_MAX_REQUEUES=1 submit limit -- "$tmp/long.yaml" "$rq")
[ -n "$jid" ] && jobs_submitted+=("$jid")
ok "$([ -n "$jid" ]; echo $?)" "(c) sbatch accepted the job ($jid)" "$tmp/limit.sbatch.err"
for k in 0 1; do
    if wait_piece "$tmp/limit.out" $k 90; then
        timeout 5 scancel --signal=USR1 --batch "$jid" >>"$tmp/limit.scancel" 2>&1
        echo "# (c) piece $k signalled"
    else
        echo "# (c) piece $k: no progress line seen"
    fi
done
st=$(wait_final "$jid" 90)
ec=$(field "$jid" ExitCode)
restarts=$(field "$jid" Restarts)
ok "$([ "$st" = FAILED ] && [ "$ec" = 3:0 ] && [ "$restarts" = 1 ]; echo $?)" \
    "(c) KPS_MAX_REQUEUES=1: requeued once, then stopped (JobState=$st ExitCode=$ec Restarts=$restarts; want FAILED 3:0 1)" \
    "$tmp/limit.out"
check "(c) the log shows the requeue" "$tmp/limit.out" -- \
    bash -c "[ \$(grep -c 'requeued after exit 3 (1 of at most 1' '$tmp/limit.out') = 1 ]"
check "(c) the log says the requeue limit stopped it" "$tmp/limit.out" -- \
    grep -q 'not requeued: requeue limit reached (1 of KPS_MAX_REQUEUES=1' "$tmp/limit.out"
c=$(comment "$jid")
ok "$(grep -q 'requeue limit reached' <<<"$c"; echo $?)" "(c) the job's Comment says so: '$c'"
check "(c) the results file is partial" "$tmp/inspect.txt" -- inspect_has "$rq" partial

# --- (d) the no-progress guard ----------------------------------------------
# A site environment file that takes a while (module loads on a busy file
# system); the test signals the batch shell while it runs.
cat >"$tmp/slow-env.sh" <<EOF
touch "$tmp/slow-env.started"
sleep 3
EOF
before=$("$exe" inspect "$rq" | sed -n 's/^progress .*; \([0-9]*\)\/.*/\1/p')
jid=$(KPS_REQUEUE=1 KPS_ENV_SCRIPT=$tmp/slow-env.sh submit guard -- "$tmp/long.yaml" "$rq")
[ -n "$jid" ] && jobs_submitted+=("$jid")
for _ in $(seq 300); do [ -e "$tmp/slow-env.started" ] && break; sleep 0.1; done
timeout 5 scancel --signal=USR1 --batch "$jid" >"$tmp/guard.scancel" 2>&1
st=$(wait_final "$jid" 60)
ec=$(field "$jid" ExitCode)
restarts=$(field "$jid" Restarts)
ok "$([ "$st" = FAILED ] && [ "$ec" = 3:0 ] && [ "$restarts" = 0 ]; echo $?)" \
    "(d) interrupted before any new line: not requeued (JobState=$st ExitCode=$ec Restarts=$restarts; want FAILED 3:0 0)" \
    "$tmp/guard.out"
check "(d) the signal came before kpsweep started, which was not started" "$tmp/guard.out" -- \
    bash -c "grep -q 'SIGUSR1 came before kpsweep started: not starting it' '$tmp/guard.out' && ! grep -q '^\[kpsweep\]' '$tmp/guard.out'"
check "(d) the log names the guard and the unchanged line count ($before)" "$tmp/guard.out" -- \
    grep -q "not requeued: this piece completed no new line ($before -> $before lines done)" "$tmp/guard.out"
c=$(comment "$jid")
ok "$(grep -q 'completed no new line' <<<"$c"; echo $?)" "(d) the job's Comment says so: '$c'"
jid=$(submit resume -- "$tmp/long.yaml" "$rq")
[ -n "$jid" ] && jobs_submitted+=("$jid")
st=$(wait_final "$jid" 120)
ok "$([ "$st" = COMPLETED ]; echo $?)" "(d) resubmitted, the file of (c) and (d) completes (JobState=$st)" "$tmp/resume.out"
check "(d) kpsweep inspect: complete" "$tmp/inspect.txt" -- inspect_has "$rq" "(complete)"

# --- (e) environment hook under --export=NONE ---------------------------------
mkdir -p "$tmp/bin"
ln -sf "$exe" "$tmp/bin/kpsweep"
cat >"$tmp/site-env.sh" <<EOF
# what a site's environment file does: set up the module command and paths
echo "marker=\${KPS_TEST_MARKER:-unset} kps_exe=\${KPS_EXE:-unset}" >"$tmp/site-env.seen"
module() { echo "module \$*" >>"$tmp/modules.log"; [ "\$1" = load ] && export PATH="$tmp/bin:\$PATH"; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
EOF
sed -e "s|^#KPS_ENV_SCRIPT\$|#KPS_ENV_SCRIPT $tmp/site-env.sh|" \
    -e 's|^#KPS_MODULES$|#KPS_MODULES gcc/12 kpsweep/0.1|' "$sbatch_script" >"$tmp/site.sbatch"
jid=$(KPS_TEST_MARKER=leaked SUBMIT_SCRIPT=$tmp/site.sbatch submit site --export=NONE -- \
    "$src/jobs/examples/default.yaml" "$tmp/site.h5")
[ -n "$jid" ] && jobs_submitted+=("$jid")
st=$(wait_final "$jid" 120)
ec=$(field "$jid" ExitCode)
ok "$([ "$st" = COMPLETED ] && [ "$ec" = 0:0 ]; echo $?)" \
    "(e) --export=NONE with #KPS_ENV_SCRIPT and #KPS_MODULES lines: JobState=$st ExitCode=$ec" "$tmp/site.out"
check "(e) the environment file saw none of the submitting environment" "$tmp/site-env.seen" -- \
    grep -qx 'marker=unset kps_exe=unset' "$tmp/site-env.seen"
check "(e) modules loaded after the environment file, in one call" "$tmp/modules.log" -- \
    grep -qx 'module load gcc/12 kpsweep/0.1' "$tmp/modules.log"
check "(e) the log shows both, and kpsweep found on the PATH the modules set" "$tmp/site.out" -- \
    bash -c "grep -q 'sourcing $tmp/site-env.sh' '$tmp/site.out' && grep -q 'module load gcc/12 kpsweep/0.1' '$tmp/site.out' && grep -q 'command: .*$tmp/bin/kpsweep run' '$tmp/site.out'"
check "(e) kpsweep inspect: complete" "$tmp/inspect.txt" -- inspect_has "$tmp/site.h5" "(complete)"

finish
