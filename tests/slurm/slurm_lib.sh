# shellcheck shell=bash
# A private, single-node SLURM for the test scripts of the 'slurm' suite,
# sourced after the script has set `build`, `src` and `exe`:
#
#   source "$src/tests/slurm/slurm_lib.sh"    # TAP helpers, skip check, $tmp
#   slurm_start                               # munged + slurmctld + slurmd
#
# munged, slurmctld and slurmd run from a temporary directory ($tmp; SLURM_CONF
# points there, nothing under /etc is touched) and are stopped, with every job
# still queued on this private cluster, when the script exits
# (KPS_SLURM_KEEP=1 keeps $tmp). Exit 77 (TAP skip) only when the SLURM/munge
# programs are not installed.
# shellcheck disable=SC2317  # functions run from traps look unreachable
# shellcheck disable=SC2154  # build, src and exe come from the sourcing script

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

slurm_cleanup() {
    local pidf pid j all
    if [ -s "$tmp/slurmctld.pid" ] && [ -f "$SLURM_CONF" ]; then
        # Every job of this private cluster is ours.
        all=$(timeout 3 squeue -h -o %i 2>/dev/null | tr '\n' ' ')
        # shellcheck disable=SC2086
        [ -n "${all// /}" ] && timeout 5 scancel $all >/dev/null 2>&1
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
trap slurm_cleanup EXIT
trap 'exit 1' INT TERM HUP

slurm_start() { # starts munged, slurmctld and slurmd; finishes the test if they do not come up
    local ctld_port slurmd_port host cpus mem first_job state
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

    # --- munge ----------------------------------------------------------
    dd if=/dev/urandom of="$tmp/munge.key" bs=1024 count=1 status=none
    chmod 0400 "$tmp/munge.key"
    munged --force --key-file="$tmp/munge.key" --socket="$tmp/munge.sock" \
        --pid-file="$tmp/munged.pid" --log-file="$tmp/munged.log" \
        --seed-file="$tmp/munge.seed" >"$tmp/munged.out" 2>&1
    for _ in $(seq 50); do [ -S "$tmp/munge.sock" ] && break; sleep 0.1; done
    munge -S "$tmp/munge.sock" -n 2>/dev/null | unmunge -S "$tmp/munge.sock" >/dev/null 2>&1
    ok $? "private munged is up (credential round trip)" "$(cat "$tmp/munged.out" "$tmp/munged.log" 2>/dev/null)"

    # --- slurmctld + slurmd -----------------------------------------------
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
}

# --- helpers ----------------------------------------------------------------
field() { # field JOBID NAME: one field of `scontrol show job`
    timeout 5 scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
sbatch_script=$src/jobs/slurm/kpsweep.sbatch
submit() { # submit NAME [sbatch options...] -- [script args...]; prints the job id
    local name=$1
    shift
    local opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    shift
    timeout 10 sbatch --parsable -J "$name" -n 2 --overcommit -t 5 -D "$tmp" \
        -o "$tmp/$name.out" --export=ALL,KPS_EXE="$exe" "${opts[@]}" \
        "${SUBMIT_SCRIPT:-$sbatch_script}" "$@" 2>"$tmp/$name.sbatch.err" | cut -d';' -f1
}
wait_final() { # wait_final JOBID SECONDS: waits for a final state, prints it
    local jid=$1 end=$((SECONDS + $2)) st
    while :; do
        st=$(field "$jid" JobState)
        case $st in
            COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED | SPECIAL_EXIT)
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
