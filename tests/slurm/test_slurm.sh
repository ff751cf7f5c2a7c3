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
sbatch_script=$src/jobs/slurm/kpsweep.sbatch

n=0
failed=0
ok() { # ok COND-STATUS DESCRIPTION [DETAIL-FILE-OR-TEXT]
    n=$((n + 1))
    if [ "$1" = 0 ]; then
        echo "ok $n - $2"
    else
        failed=$((failed + 1))
        echo "not ok $n - $2"
        if [ $# -ge 3 ]; then
            if [ -f "$3" ]; then tail -n 30 "$3"; else printf '%s\n' "$3" | tail -n 30; fi | sed 's/^/#   /'
        fi
    fi
}
check() { # check DESCRIPTION DETAIL -- test-command...
    local what=$1 detail=$2
    shift 3
    "$@" >/dev/null 2>&1
    ok $? "$what" "$detail"
}
finish() {
    echo "1..$n"
    echo "# $((n - failed)) passed, $failed failed"
    [ "$failed" = 0 ]
    exit
}

for prog in munged munge unmunge slurmctld slurmd sbatch squeue scontrol scancel sinfo srun; do
    if ! command -v "$prog" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$prog" ]; then
        echo "1..0 # SKIP $prog not installed (scripts/setup.sh installs slurm-wlm and munge)"
        exit 77
    fi
done
PATH=$PATH:/usr/sbin
if [ ! -x "$exe" ]; then
    echo "not ok 1 - $exe is not built"
    echo "1..1"
    exit 1
fi

# Run outside any SLURM allocation the caller may be in.
for v in $(compgen -v SLURM_); do unset "$v"; done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

tmp=$(mktemp -d /tmp/kps-slurm.XXXXXX)
export SLURM_CONF=$tmp/slurm.conf
jobs_submitted=()

cleanup() {
    local pidf pid j
    if [ ${#jobs_submitted[@]} -gt 0 ] && [ -f "$SLURM_CONF" ]; then
        timeout 5 scancel "${jobs_submitted[@]}" >/dev/null 2>&1
        # Give slurmd a moment to end what it started before it stops.
        for _ in $(seq 20); do
            [ -z "$(timeout 3 squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.25
        done
    fi
    for pidf in slurmd.pid slurmctld.pid munged.pid; do
        [ -s "$tmp/$pidf" ] || continue
        pid=$(cat "$tmp/$pidf")
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    for j in "${jobs_submitted[@]}"; do
        rm -rf /tmp/spmix_appdir_*_"$j".* /tmp/spmix_appdir_"$j".* 2>/dev/null
    done
    if [ -n "${KPS_SLURM_KEEP:-}" ]; then
        echo "# kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# Two free TCP ports (6817/6818 may be held by another instance).
read -r ctld_port slurmd_port < <(/usr/bin/python3 - <<'EOF' 2>/dev/null || echo "6817 6818"
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)

host=$(hostname -s)
cpus=$(nproc)
mem=$(slurmd -C 2>/dev/null | grep -o 'RealMemory=[0-9]*' | cut -d= -f2)
mem=${mem:-1000}
mkdir -p "$tmp/state" "$tmp/spool" "$tmp/run"

# --- munge --------------------------------------------------------------
dd if=/dev/urandom of="$tmp/munge.key" bs=1024 count=1 status=none
chmod 0400 "$tmp/munge.key"
munged --force --key-file="$tmp/munge.key" --socket="$tmp/munge.sock" \
    --pid-file="$tmp/munged.pid" --log-file="$tmp/munged.log" \
    --seed-file="$tmp/munge.seed" >"$tmp/munged.out" 2>&1
for _ in $(seq 50); do [ -S "$tmp/munge.sock" ] && break; sleep 0.1; done
munge -S "$tmp/munge.sock" -n 2>/dev/null | unmunge -S "$tmp/munge.sock" >/dev/null 2>&1
ok $? "private munged is up (credential round trip)" "$(cat "$tmp/munged.out" "$tmp/munged.log" 2>/dev/null)"

# --- slurmctld + slurmd ---------------------------------------------------
first_job=$(((RANDOM % 9000 + 1000) * 100))
cat >"$SLURM_CONF" <<EOF
ClusterName=kpstest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire also delays a requeued job's restart (default 120 s).
AuthInfo=socket=$tmp/munge.sock,cred_expire=5
CredType=cred/munge
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MailProg=/bin/true
ReturnToService=2
FirstJobId=$first_job
JobRequeue=1
KillWait=10
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -f "$SLURM_CONF" -i >"$tmp/slurmctld.out" 2>&1
slurmd -f "$SLURM_CONF" >"$tmp/slurmd.out" 2>&1
state=
for _ in $(seq 100); do
    state=$(timeout 3 sinfo -h -o %T 2>/dev/null | head -n 1)
    [ "$state" = idle ] && break
    sleep 0.2
done
ok "$([ "$state" = idle ]; echo $?)" "slurmctld + slurmd up, node idle (got '${state}')" \
    "$(tail -n 15 "$tmp/slurmctld.log" "$tmp/slurmd.log" "$tmp/slurmctld.out" "$tmp/slurmd.out" 2>/dev/null)"
if [ "$state" != idle ]; then finish; fi

# --- helpers ----------------------------------------------------------
field() { # field JOBID NAME: one field of `scontrol show job`
    timeout 5 scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
submit() { # submit NAME [sbatch options...] -- [script args...]; prints the job id
    local name=$1
    shift
    local opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    timeout 10 sbatch --parsable -J "$name" -n 2 --overcommit -t 5 -D "$tmp" \
        -o "$tmp/$name.out" "${opts[@]}" \
        --export=ALL,KPS_EXE="$exe" "$sbatch_script" "$@" 2>"$tmp/$name.sbatch.err" | cut -d';' -f1
}
wait_final() { # wait_final JOBID SECONDS: waits for a final state, prints it
    local jid=$1 end=$((SECONDS + $2)) st
    while :; do
        st=$(field "$jid" JobState)
        case $st in
            COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
                if [ -z "$(timeout 3 squeue -h -j "$jid" -o %i 2>/dev/null)" ]; then
                    echo "$st"
                    return 0
                fi
                ;;
        esac
        if [ $SECONDS -ge $end ]; then
            echo "${st:-unknown}(timeout)"
            return 1
        fi
        sleep 0.2
    done
}
inspect_has() { # inspect_has FILE WORD
    "$exe" inspect "$1" >"$tmp/inspect.txt" 2>&1 && grep -q "$2" "$tmp/inspect.txt"
}
progress_pct() { # the last progress percentage in a job's log, as an integer
    grep -o 'points ([0-9.]*%' "$1" 2>/dev/null | tail -n 1 | sed 's/points (//; s/\..*//; s/%//'
}

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
cat >"$tmp/long.yaml" <<'EOF'
name: slurm_long
model: adaptive_sorting
params: {N: 5, m: 2}
axes:
  phi: {log: [0.01, 0.3, 12]}
  delta: {values: [0.5, 1, 2, 4, 8]}
antagonist:
  tau: {linear: [0.1, 2.9, 160]}
  L: {values: [1000, 6000]}
solver: {warm_start: false}
run: {checkpoint_every: 0.5, progress_every: 0.25}
EOF
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
    bash -c "grep -q 'scontrol requeue' '$tmp/requeue.out' && grep -q 'restart 1' '$tmp/requeue.out'"
for g in /points /lines; do
    h5diff "$tmp/ref.h5" "$rq" "$g" "$g" >"$tmp/h5diff.txt" 2>&1
    ok $? "(b) KPS_REQUEUE=1: $g identical to the uninterrupted run" "$tmp/h5diff.txt"
done
sed 's/^/#   /' "$tmp/diag.txt" 2>/dev/null

finish
