# A one-node SLURM cluster (Debian's slurm-wlm 22.05 and munge) that keeps to itself: its own
# slurm.conf, munge key and socket, ports, state, spool, logs and PID files, all under one prefix
# directory. Nothing under /etc, /run, /var is read or written, so a SLURM installation already on
# the machine is not touched; the test refuses to start next to one anyway (`existing_slurm`).
# Sourced by run_slurm_test.sh; needs root (slurmd runs jobs as their submitting user).
#
#   cluster_start PREFIX [CPUS [MEMORY_MB]]   configure and start munged, slurmctld, slurmd
#   cluster_env PREFIX                       point SLURM commands at it (SLURM_CONF, PATH)
#   cluster_stop PREFIX                      stop the three daemons by their PID files
#
# The node's size defaults to this machine's (`slurmd -C`); smaller values emulate a smaller node.

# Every daemon's command line names the prefix, and the prefix's name starts with this marker: a
# daemon whose command line has it is a leftover of this test (e.g. the test was SIGKILLed), which
# the next run may stop; any other slurmctld, slurmd, slurmdbd or munged belongs to someone else.
CLUSTER_MARKER=ngbench-slurm-test.

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Prints one line per sign of a SLURM installation this test did not make; prints nothing if none.
existing_slurm() {
    local conf pid daemon cmdline
    for conf in /etc/slurm/slurm.conf /etc/slurm-llnl/slurm.conf; do
        [ -e "$conf" ] && echo "$conf exists"
    done
    [ -n "${SLURM_CONF:-}" ] && echo "SLURM_CONF is set ($SLURM_CONF)"
    for daemon in slurmctld slurmd slurmdbd munged; do
        for pid in $(pgrep -x "$daemon" || true); do
            cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
            case "$cmdline" in
                *"/$CLUSTER_MARKER"*) ;;
                *) echo "$daemon is running (pid $pid: $cmdline)" ;;
            esac
        done
    done
}

# PIDs of daemons left running by an earlier run of this test (their command line names a prefix).
leftover_daemons() {
    local daemon pid
    for daemon in slurmctld slurmd munged; do
        for pid in $(pgrep -x "$daemon" || true); do
            tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "/$CLUSTER_MARKER" && echo "$pid"
        done
    done
    return 0
}

cluster_env() {
    export SLURM_CONF=$1/etc/slurm.conf
    # Inside a job, the SLURM plugin's job step runs `srun` with every SLURM_* variable removed,
    # SLURM_CONF included, and srun would look for /etc/slurm/slurm.conf: this srun on the PATH
    # (jobs inherit it) puts the variable back.
    export PATH=$1/bin:$PATH
}

cluster_start() {
    local prefix=$1 host cpus memory ctld_port slurmd_port
    host=$(hostname -s)
    cpus=${2:-$(nproc)}
    memory=${3:-$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')}
    # Another SLURM may listen on the default ports 6817/6818: take two free ones.
    ctld_port=$(free_port)
    slurmd_port=$(free_port)
    while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done

    chmod 755 "$prefix"
    mkdir -p "$prefix"/{bin,etc,munge,state,spool,log,run}
    printf '#!/bin/sh\nSLURM_CONF=%s exec /usr/bin/srun "$@"\n' "$prefix/etc/slurm.conf" >"$prefix/bin/srun"
    chmod 755 "$prefix/bin/srun"
    chown slurm:slurm "$prefix/state" "$prefix/log" "$prefix/run"
    chmod 777 "$prefix/log" # slurmd (root) and slurmctld (slurm) both write their logs here
    chown munge:munge "$prefix/munge"
    chmod 700 "$prefix/munge"
    mkdir -p "$prefix/munge-socket"
    chown munge:munge "$prefix/munge-socket"
    chmod 755 "$prefix/munge-socket"
    dd if=/dev/urandom bs=1 count=1024 of="$prefix/munge/munge.key" status=none
    chown munge:munge "$prefix/munge/munge.key"
    chmod 400 "$prefix/munge/munge.key"

    cat >"$prefix/etc/slurm.conf" <<EOF
ClusterName=ngbenchtest
SlurmctldHost=$host
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$prefix/munge-socket/munge.socket
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
StateSaveLocation=$prefix/state
SlurmdSpoolDir=$prefix/spool
SlurmctldPidFile=$prefix/run/slurmctld.pid
SlurmdPidFile=$prefix/run/slurmd.pid
SlurmctldLogFile=$prefix/log/slurmctld.log
SlurmdLogFile=$prefix/log/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
# The SLURM plugin reads job states from squeue only if finished jobs stay listed long enough.
MinJobAge=300
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    cluster_env "$prefix"
    echo "+ one-node cluster under $prefix: $cpus CPUs, $memory MB, ports $ctld_port/$slurmd_port"
    runuser -u munge -- /usr/sbin/munged --key-file="$prefix/munge/munge.key" \
        --socket="$prefix/munge-socket/munge.socket" --pid-file="$prefix/munge/munged.pid" \
        --log-file="$prefix/munge/munged.log" --seed-file="$prefix/munge/munged.seed"
    /usr/sbin/slurmctld -f "$SLURM_CONF"
    /usr/sbin/slurmd -f "$SLURM_CONF"
    local _
    for _ in $(seq 60); do
        sinfo --noheader --states=idle 2>/dev/null | grep -q debug && return 0
        sleep 1
    done
    echo "the test cluster's node did not become idle within 60 s" >&2
    return 1
}

cluster_stop() {
    local prefix=$1 pidfile pid _
    for pidfile in "$prefix/run/slurmd.pid" "$prefix/run/slurmctld.pid" "$prefix/munge/munged.pid"; do
        [ -s "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 20); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -9 "$pid" 2>/dev/null || true
    done
}
