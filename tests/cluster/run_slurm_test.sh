#!/usr/bin/env bash
# The cluster path for real: a one-node SLURM cluster (Debian's slurm-wlm and munge) on this machine,
# a small config run through snakemake-executor-plugin-slurm, and its outputs compared byte for byte
# with a local run of the same config. The daemons are always stopped afterwards.
#
# Needs root and apt-get (it installs and starts system daemons); elsewhere it says so and skips.
# Usage: tests/cluster/run_slurm_test.sh   (from the repository root, after the README's install)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "SKIP cluster test: it needs root and apt-get to install and start slurm-wlm and munge"
    exit 0
fi

python=${PYTHON:-$repo/.venv/bin/python}
echo "+ cluster extra (SLURM and cluster-generic executor plugins)"
"$python" -m pip install --quiet -e ".[cluster]" -c constraints.txt

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "+ apt-get install slurm-wlm munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

host=$(hostname -s)
cpus=$(nproc)
memory=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm \
    /run/munge /var/log/munge /var/lib/munge /etc/munge
chown slurm:slurm /var/spool/slurmctld /var/log/slurm /run/slurm
chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
cat > /etc/slurm/slurm.conf <<EOF
ClusterName=local
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
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
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
MinJobAge=300
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

stop_daemons() {
    for pidfile in /run/slurm/slurmd.pid /run/slurm/slurmctld.pid /run/munge/munged.pid; do
        [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
}
workdir=$(mktemp -d)
cleanup() {
    stop_daemons
    rm -rf "$workdir"
}
trap cleanup EXIT
stop_daemons  # a previous run's daemons, if any
sleep 1
rm -rf /var/spool/slurmctld/* /var/spool/slurmd/*  # and its queue: start from an empty cluster

echo "+ start munged, slurmctld, slurmd"
runuser -u munge -- /usr/sbin/munged --force
/usr/sbin/slurmctld
/usr/sbin/slurmd
for _ in $(seq 60); do
    sinfo --noheader --states=idle 2>/dev/null | grep -q debug && break
    sleep 1
done
sinfo
timeout 60 srun --partition=debug hostname

echo "+ the same small config, locally and through SLURM"
for run in local slurm; do
    mkdir -p "$workdir/$run/config"
    cp tests/cluster/cluster_config.yaml "$workdir/$run/config/config.yaml"
done
"$python" -m snakemake -s Snakefile -d "$workdir/local" --cores 2 --quiet all
mkdir -p "$workdir/slurm/logs"
# With accounting disabled the plugin's default `sacct` status query hangs: ask squeue instead
# (../shared/SLURM.md). `timeout -s KILL` bounds a runaway, which SIGTERM does not stop.
started=$(date +%s)
timeout -s KILL 900 "$python" -m snakemake -s Snakefile -d "$workdir/slurm" \
    --workflow-profile profiles/slurm --cores 2 --resources mem_mb=2000 \
    --slurm-status-command squeue --slurm-no-account --slurm-init-seconds-before-status-checks 2 \
    --slurm-logdir "$workdir/slurm_logs" --slurm-keep-successful-logs \
    --seconds-between-status-checks 2 --quiet all
echo "SLURM run took $(( $(date +%s) - started )) s"

submitted=$(find "$workdir/slurm_logs" -name '*.log' | wc -l)
echo "SLURM log files (one per submitted job): $submitted"
if [ "$submitted" -eq 0 ]; then
    echo "FAIL: no job went through SLURM" >&2
    exit 1
fi

# Wall times (results/timings, results/costs) differ between any two runs by design.
differ=0
while IFS= read -r file; do
    if ! cmp -s "$workdir/local/$file" "$workdir/slurm/$file"; then
        echo "differs: $file" >&2
        differ=1
    fi
done < <(cd "$workdir/local" && find results figures -type f ! -name '.*' ! -path 'results/timings/*' ! -path 'results/costs/*' | sort)
local_count=$(cd "$workdir/local" && find results figures -type f ! -name '.*' ! -path 'results/timings/*' ! -path 'results/costs/*' | wc -l)
slurm_count=$(cd "$workdir/slurm" && find results figures -type f ! -name '.*' ! -path 'results/timings/*' ! -path 'results/costs/*' | wc -l)
if [ "$differ" -ne 0 ] || [ "$local_count" -ne "$slurm_count" ]; then
    echo "FAIL: SLURM outputs differ from the local run ($slurm_count files against $local_count)" >&2
    exit 1
fi
echo "PASS cluster test: $local_count outputs byte-identical between the local run and the SLURM run"
