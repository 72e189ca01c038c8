#!/usr/bin/env bash
# The cluster path for real: a one-node SLURM cluster (Debian's slurm-wlm and munge) started on this
# machine under a temporary prefix (tests/cluster/one_node_cluster.sh), the README's cluster command
# (profiles/slurm/run) run on a small config, and its outputs compared byte for byte with a local
# run of the same config. Then the two ways a run can hang or leak: a submission larger than the
# node must be cancelled with a message naming the resource, and the jobs of a SIGKILLed Snakemake
# must be cancelled by the next start. The daemons are always stopped afterwards.
#
# It refuses to run where a SLURM installation it did not make exists (a slurm.conf in /etc, SLURM_CONF,
# or a running slurmctld, slurmd, slurmdbd or munged): it is meant for a container or a CI machine.
# Even so it writes nothing outside its prefix, the cluster venv and the apt packages it installs.
# On failure the prefix (daemon logs, SLURM job logs, both runs' outputs) is kept and its path printed.
#
# Needs root and apt-get (it installs slurm-wlm and munge if missing); elsewhere it says so and skips.
# Usage: tests/cluster/run_slurm_test.sh   (from the repository root, after the README's install)
# NGBENCH_TEST_NODE_CPUS and NGBENCH_TEST_NODE_MEMORY_MB make the node smaller than the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "SKIP cluster test: it needs root and apt-get to install and start slurm-wlm and munge"
    exit 0
fi

. tests/cluster/one_node_cluster.sh

found=$(existing_slurm)
if [ -n "$found" ]; then
    echo "REFUSED cluster test: this machine has a SLURM installation the test did not make:" >&2
    echo "$found" | sed 's/^/  /' >&2
    echo "The test starts SLURM and munge daemons of its own; run it in a container or on a CI machine." >&2
    exit 3
fi
for pid in $(leftover_daemons); do
    echo "+ stopping pid $pid, a daemon left by an earlier, killed run of this test"
    kill "$pid" 2>/dev/null || true
done

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "+ apt-get install slurm-wlm munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

python=${PYTHON:-$repo/.venv/bin/python}
# The SLURM plugin lives in a venv of its own: installed next to Snakemake it slows every local
# `snakemake` call (README, "On a SLURM cluster").
cluster_venv=${NGBENCH_CLUSTER_VENV:-$repo/.venv-cluster}
export NGBENCH_CLUSTER_VENV=$cluster_venv
echo "+ cluster venv $cluster_venv (ngbench with the cluster extra)"
[ -x "$cluster_venv/bin/python" ] || python3 -m venv "$cluster_venv"
"$cluster_venv/bin/python" -m pip install --quiet -e ".[cluster]" -c constraints.txt

prefix=$(mktemp -d "${TMPDIR:-/tmp}/${CLUSTER_MARKER}XXXXXX")
work=$prefix/work
passed=0
finish() {
    cluster_stop "$prefix"
    if [ "$passed" = 1 ]; then
        rm -rf "$prefix"
        return
    fi
    echo "FAIL cluster test; kept for inspection: $prefix (daemon logs in log/, runs and SLURM job logs in work/)" >&2
    local log
    for log in "$prefix"/log/*.log $(find "$work" -path '*slurm_logs*' -name '*.log' 2>/dev/null | sort); do
        echo "--- last lines of $log" >&2
        tail -n 15 "$log" >&2
    done
}
trap finish EXIT

cluster_start "$prefix" "${NGBENCH_TEST_NODE_CPUS:-}" "${NGBENCH_TEST_NODE_MEMORY_MB:-}"
sinfo
timeout 60 srun --partition=debug hostname

echo "+ the same small config, locally and through SLURM with the README's command"
for run in local slurm; do
    mkdir -p "$work/$run/config"
    cp tests/cluster/cluster_config.yaml "$work/$run/config/config.yaml"
done
"$python" -m snakemake -s Snakefile -d "$work/local" --cores 2 --quiet all
started=$(date +%s)
# `timeout -s KILL` bounds a runaway (SIGTERM does not stop the plugin's wait); it kills the whole
# process group, Snakemake included.
timeout -s KILL 900 profiles/slurm/run -s Snakefile -d "$work/slurm" \
    --slurm-logdir "$work/slurm/slurm_logs" --slurm-keep-successful-logs --quiet all
echo "SLURM run took $(($(date +%s) - started)) s"

submitted=$(find "$work/slurm/slurm_logs" -name '*.log' | wc -l)
echo "SLURM log files (one per submitted job): $submitted"
if [ "$submitted" -eq 0 ]; then
    echo "FAIL: no job went through SLURM" >&2
    exit 1
fi

# Wall times (results/timings, results/costs) differ between any two runs by design.
compared() {
    (cd "$1" && find results figures -type f ! -name '.*' ! -path 'results/timings/*' ! -path 'results/costs/*' | sort)
}
differ=0
while IFS= read -r file; do
    if ! cmp -s "$work/local/$file" "$work/slurm/$file"; then
        echo "differs: $file" >&2
        differ=1
    fi
done < <(compared "$work/local")
local_count=$(compared "$work/local" | wc -l)
slurm_count=$(compared "$work/slurm" | wc -l)
if [ "$differ" -ne 0 ] || [ "$local_count" -ne "$slurm_count" ]; then
    echo "FAIL: SLURM outputs differ from the local run ($slurm_count files against $local_count)" >&2
    exit 1
fi
echo "ok: $local_count outputs byte-identical between the local run and the SLURM run"

# A solver job asking for one CPU more than the node has: SLURM accepts it and leaves it PENDING
# (reason PartitionConfig) forever.
cpus=$(sinfo --noheader --format=%c | head -n 1)
too_big=(--set-resources "solve:cpus_per_task=$((cpus + 1))")
in_dir() { squeue --me --noheader --format='%i %Z' | awk -v d="$1" '$2 == d {print $1}'; }
mkdir -p "$work/oversized/config"
cp tests/cluster/cluster_config.yaml "$work/oversized/config/config.yaml"

echo "+ Snakemake killed (SIGKILL) while its oversized job waits in the queue"
setsid "$cluster_venv/bin/snakemake" --workflow-profile profiles/slurm -s Snakefile -d "$work/oversized" \
    "${too_big[@]}" --quiet all >"$work/killed.out" 2>&1 &
killed=$!
for _ in $(seq 60); do
    [ -n "$(in_dir "$work/oversized")" ] && break
    sleep 1
done
kill -KILL -- "-$killed"
wait "$killed" 2>/dev/null || true
orphan=$(in_dir "$work/oversized")
if [ -z "$orphan" ]; then
    echo "FAIL: the killed run left no job in the queue to test with" >&2
    exit 1
fi
echo "left in the queue: SLURM job $orphan"

echo "+ the README's command in the same directory: cancels that job, then its own oversized one"
status=0
timeout -s KILL 300 profiles/slurm/run -s Snakefile -d "$work/oversized" "${too_big[@]}" --quiet all \
    >"$work/oversized.out" 2>&1 || status=$?
cat "$work/oversized.out"
if ! grep -q "left behind when it was killed: $orphan" "$work/oversized.out"; then
    echo "FAIL: the rerun did not cancel job $orphan of the killed run" >&2
    exit 1
fi
if [ "$status" -eq 0 ] || [ "$status" -eq 137 ] \
    || ! grep -q "can never start.*too many CPUs ($((cpus + 1)); the largest node has $cpus)" "$work/oversized.out"; then
    echo "FAIL: an oversized submission did not end the run (status $status) with a message naming CPUs" >&2
    exit 1
fi
left=$(in_dir "$work/oversized")
if [ -n "$left" ]; then
    echo "FAIL: jobs still queued for the oversized runs: $left" >&2
    exit 1
fi
echo "ok: the killed run's job was cancelled, the oversized one cancelled with a message naming CPUs"

passed=1
echo "PASS cluster test: $local_count outputs byte-identical between the local run and the SLURM run;" \
    "orphaned and oversized jobs cancelled"
