#!/bin/bash
# jobs/slurm/kpsweep.sbatch through a real, private, single-node SLURM:
# munged + slurmctld + slurmd started from a temporary directory (SLURM_CONF
# points there; nothing under /etc is touched), then
#   (a) a small job completes (srun and mpirun launchers) and is complete;
#   (b) a longer job, signalled with `scancel --signal=USR1 --batch`, exits 3
#       with a partial file; resubmitted, it completes with /points and /lines
#       identical to an uninterrupted mpirun run; with KPS_REQUEUE=1 the
#       interrupted job requeues itself and completes on its own.
# TAP output. Usage: test_slurm.sh BUILD_DIR SOURCE_DIR
# Exit 77 (TAP skip) only when the SLURM/munge programs are not installed.
# shellcheck disable=SC2317  # functions run from traps look unreachable
set -uo pipefail

build=$(cd "${1:?usage: test_slurm.sh BUILD_DIR SOURCE_DIR}" && pwd)
src=$(cd "${2:?usage: test_slurm.sh BUILD_DIR SOURCE_DIR}" && pwd)
exe=$build/src/kpsweep

# TAP helpers, the skip check, $tmp and the private SLURM (tests/slurm/slurm_lib.sh).
# shellcheck source-path=SCRIPTDIR source=slurm_lib.sh
source "$src/tests/slurm/slurm_lib.sh"
slurm_start

# --- (a) a small job, both launchers ---------------------------------------
for launcher in srun mpirun; do
    name=small-$launcher
    jid=$(KPS_LAUNCHER=$launcher submit "$name" -- "$src/jobs/examples/default.yaml" "$tmp/$name.h5")
    [ -n "$jid" ] && jobs_submitted+=("$jid")
    ok "$([ -n "$jid" ]; echo $?)" "(a/$launcher) sbatch accepted the job ($jid)" "$tmp/$name.sbatch.err"
    st=$(wait_final "$jid" 120)
    ec=$(field "$jid" ExitCode)
    ok "$([ "$st" = COMPLETED ] && [ "$ec" = 0:0 ]; echo $?)" \
        "(a/$launcher) JobState=$st ExitCode=$ec (want COMPLETED 0:0)" "$tmp/$name.out"
    check "(a/$launcher) the log shows the resolved command line" "$tmp/$name.out" -- \
        grep -q "command: $launcher .*kpsweep run .*default.yaml -o .*$name.h5 --resume" "$tmp/$name.out"
    check "(a/$launcher) kpsweep inspect: the results file is complete" "$tmp/inspect.txt" -- \
        inspect_has "$tmp/$name.h5" "(complete)"
done
same=1
h5diff "$tmp/small-srun.h5" "$tmp/small-mpirun.h5" /points /points >"$tmp/h5diff.txt" 2>&1 && same=0
ok $same "(a) srun and mpirun runs give identical /points" "$tmp/h5diff.txt"

# --- (b) interrupt, resume, requeue ---------------------------------------
cp "$src/tests/slurm/long.yaml" "$tmp/long.yaml"
t0=$SECONDS
mpirun -n 2 "$exe" run "$tmp/long.yaml" -o "$tmp/ref.h5" --quiet >"$tmp/ref.out" 2>&1
ok $? "(b) uninterrupted reference run with mpirun -n 2 ($((SECONDS - t0)) s)" "$tmp/ref.out"

# interrupt_job NAME [sbatch opts] -- [args]: submits, waits for >= 15 %
# progress, sends USR1 to the batch shell; prints the job id.
interrupt_job() {
    local name=$1 jid pct="" end
    shift
    jid=$(submit "$name" "$@")
    [ -n "$jid" ] || return 1
    end=$((SECONDS + 60))
    while [ $SECONDS -lt $end ]; do
        pct=$(progress_pct "$tmp/$name.out")
        [ -n "$pct" ] && [ "$pct" -ge 15 ] && break
        sleep 0.1
    done
    echo "# $name: job $jid at ${pct:-?}% when signalled" >&2
    timeout 5 scancel --signal=USR1 --batch "$jid" >"$tmp/$name.scancel" 2>&1
    echo "$jid"
}

part=$tmp/part.h5
jid=$(interrupt_job interrupted -- "$tmp/long.yaml" "$part" 2>>"$tmp/diag.txt")
[ -n "$jid" ] && jobs_submitted+=("$jid")
st=$(wait_final "$jid" 120)
ec=$(field "$jid" ExitCode)
ok "$([ "$ec" = 3:0 ]; echo $?)" "(b) scancel --signal=USR1 --batch: job ends with ExitCode=$ec (want 3:0, state $st)" \
    "$(cat "$tmp/interrupted.scancel" "$tmp/interrupted.out" 2>/dev/null)"
check "(b) the batch shell trapped SIGUSR1 and forwarded it" "$tmp/interrupted.out" -- \
    grep -q "received SIGUSR1, forwarding" "$tmp/interrupted.out"
check "(b) kpsweep inspect: the results file is partial" "$tmp/inspect.txt" -- inspect_has "$part" partial
same=1
h5diff "$tmp/ref.h5" "$part" /points /points >/dev/null 2>&1 || same=0
ok $same "(b) the partial file differs from the reference before resuming"

jid=$(KPS_LAUNCHER=mpirun submit resumed -- "$tmp/long.yaml" "$part")
[ -n "$jid" ] && jobs_submitted+=("$jid")
st=$(wait_final "$jid" 120)
ec=$(field "$jid" ExitCode)
ok "$([ "$st" = COMPLETED ] && [ "$ec" = 0:0 ]; echo $?)" \
    "(b) resubmitted job (mpirun launcher) JobState=$st ExitCode=$ec" "$tmp/resumed.out"
check "(b) the resubmitted job resumed finished lines" "$tmp/resumed.out" -- \
    grep -Eq '\([1-9][0-9]* resumed\)' "$tmp/resumed.out"
check "(b) kpsweep inspect: complete after resuming" "$tmp/inspect.txt" -- inspect_has "$part" "(complete)"
for g in /points /lines; do
    h5diff "$tmp/ref.h5" "$part" "$g" "$g" >"$tmp/h5diff.txt" 2>&1
    ok $? "(b) $g identical to the uninterrupted run" "$tmp/h5diff.txt"
done

# Requeue: the interrupted job puts itself back into the queue and, rerun
# with --resume, completes on its own (SLURM_RESTART_COUNT 1).
rq=$tmp/requeue.h5
jid=$(KPS_REQUEUE=1 interrupt_job requeue -- "$tmp/long.yaml" "$rq" 2>>"$tmp/diag.txt")
[ -n "$jid" ] && jobs_submitted+=("$jid")
st=$(wait_final "$jid" 150)
ec=$(field "$jid" ExitCode)
restarts=$(field "$jid" Restarts)
ok "$([ "$st" = COMPLETED ] && [ "$ec" = 0:0 ] && [ "${restarts:-0}" -ge 1 ]; echo $?)" \
    "(b) KPS_REQUEUE=1: interrupted job requeued itself and completed (JobState=$st ExitCode=$ec Restarts=$restarts)" \
    "$tmp/requeue.out"
check "(b) KPS_REQUEUE=1: the log shows exit 3, the requeue and the resumed run" "$tmp/requeue.out" -- \
    bash -c "grep -q 'requeued after exit 3 (1 of at most 20' '$tmp/requeue.out' && grep -q 'restart 1' '$tmp/requeue.out'"
for g in /points /lines; do
    h5diff "$tmp/ref.h5" "$rq" "$g" "$g" >"$tmp/h5diff.txt" 2>&1
    ok $? "(b) KPS_REQUEUE=1: $g identical to the uninterrupted run" "$tmp/h5diff.txt"
done
sed 's/^/#   /' "$tmp/diag.txt" 2>/dev/null

finish
