"""The default grid from clean, as a researcher runs it: `snakemake --cores 2 all` on config/config.yaml.

    python benchmarks/default_grid.py [--cores 2] [--target-seconds 120]

Copies the checkout's working tree (without .git, .venv, outputs or caches) to a scratch folder, so
nothing of this checkout is touched and nothing is reused, and runs the whole workflow there once.
Prints the wall seconds against the target (issue 18 asks for ≤ 120 s on this 2-core machine), the
CPU seconds of the whole process tree (from wait4), and per rule the job count and job-seconds: the
wall time of each job from Snakemake's own start and finish lines (one-second resolution), summed.
With two jobs at a time, job-seconds / cores is about the wall time; a rule's share of it is what
shortening that rule would buy. One run: the machine is shared, so compare runs made under the same
load, and quote the load average this prints alongside.

CPU seconds per rule too, which load moves far less than wall time: every Python process of the run
imports a `sitecustomize` (on PYTHONPATH in the scratch copy only) that, at exit, appends its own
CPU time (user + sys) to a file, named by the rule of the job script it
ran (Snakemake's `.snakemake/scripts/tmpXXXX.RULE.py`) or as Snakemake's own process. Per rule:
the sum, and the median of one job, whose floor is the job's fixed cost (interpreter, Snakemake's
script preamble, imports).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOT_COPIED = {".git", ".venv", ".venv-cluster", ".snakemake", "mutants", "figures", "results", "logs"}
NOT_COPIED_ANYWHERE = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info")

STAMP = re.compile(r"\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]")
JOB = re.compile(r"Job (\d+): ")
FINISHED = re.compile(r"Finished jobid: (\d+) \(Rule: (\w+)\)")


def fresh_copy(destination: Path) -> None:
    """The working tree without what a run makes or caches: the run starts from nothing."""
    for entry in REPO.iterdir():
        if entry.name in NOT_COPIED:
            continue
        if entry.is_dir():
            shutil.copytree(entry, destination / entry.name, ignore=NOT_COPIED_ANYWHERE)
        else:
            shutil.copy2(entry, destination / entry.name)


# Appends "RULE CPU-SECONDS" at the exit of each Python process: a job script's rule, else "snakemake".
CPU_HOOK = """
import atexit, os, resource, sys


def _record_cpu():
    script = sys.argv[0] if sys.argv else ""  # at exit: under `python -m` it is '-m' at startup
    name = os.path.basename(script)
    parts = name.split(".")
    is_job = "/.snakemake/scripts/" in script.replace(os.sep, "/") and len(parts) >= 3
    kind = parts[-2] if is_job else "snakemake" if "snakemake" in " ".join(sys.argv) else None
    if kind is None:
        return
    own = resource.getrusage(resource.RUSAGE_SELF)  # not its children: Snakemake's are the jobs
    seconds = own.ru_utime + own.ru_stime
    with open({log!r}, "a") as handle:
        handle.write(f"{{kind}} {{seconds:.3f}}\\n")


atexit.register(_record_cpu)
"""


def cpu_by_rule(lines: str) -> dict[str, list[float]]:
    """CPU seconds of each process by rule, from the hook's "RULE SECONDS" lines."""
    by_rule: dict[str, list[float]] = collections.defaultdict(list)
    for line in lines.splitlines():
        if line.strip():
            rule, seconds = line.split()
            by_rule[rule].append(float(seconds))
    return by_rule


def job_seconds(log: str) -> dict[str, list[float]]:
    """Wall seconds of each finished job, by rule, from Snakemake's `[date]` / `Job N:` / `Finished
    jobid: N (Rule: R)` lines."""
    started: dict[str, datetime.datetime] = {}
    by_rule: dict[str, list[float]] = collections.defaultdict(list)
    stamp = None
    for line in log.splitlines():
        if match := STAMP.match(line):
            stamp = datetime.datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
        elif match := JOB.match(line):
            started[match.group(1)] = stamp
        elif (match := FINISHED.match(line)) and match.group(1) in started and stamp is not None:
            by_rule[match.group(2)].append((stamp - started[match.group(1)]).total_seconds())
    return by_rule


def run(cores: int) -> tuple[float, float, str, str]:
    """(wall seconds, CPU seconds of the process tree, Snakemake's output, the CPU hook's lines) of
    one run from clean."""
    with tempfile.TemporaryDirectory(prefix="ngbench-default-grid-") as scratch:
        workdir = Path(scratch) / "checkout"
        workdir.mkdir()
        fresh_copy(workdir)
        hook = Path(scratch) / "cpu_hook"
        hook.mkdir()
        cpu_log = Path(scratch) / "cpu_by_process.txt"
        cpu_log.touch()
        (hook / "sitecustomize.py").write_text(CPU_HOOK.format(log=str(cpu_log)))
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), str(workdir / "src")])}
        command = [sys.executable, "-m", "snakemake", "--cores", str(cores), "all"]
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=workdir, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{output[-3000:]}")
        return wall, usage.ru_utime + usage.ru_stime, output, cpu_log.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--target-seconds", type=float, default=120.0)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    wall, cpu, output, cpu_lines = run(args.cores)
    by_rule = job_seconds(output)
    cpu_of = cpu_by_rule(cpu_lines)
    total = sum(sum(times) for times in by_rule.values())
    print(f"default grid from clean, `snakemake --cores {args.cores} all`")
    print(f"  load average before: {load_before:.1f}, after: {os.getloadavg()[0]:.1f}")
    target = args.target_seconds
    print(f"  wall {wall:.0f} s against the target {target:.0f} s: {wall / target:.2f}×")
    per_core = total / args.cores
    print(f"  CPU of the process tree {cpu:.0f} s; job-seconds {total:.0f} ({per_core:.0f} s per core)")
    print(f"  {'rule':<22}{'jobs':>6}{'job-seconds':>13}{'share':>8}{'CPU s':>9}{'CPU s/job':>11}")
    for rule, times in sorted(by_rule.items(), key=lambda item: -sum(item[1])):
        if rule != "all":
            seconds = cpu_of.get(rule, [])
            cpu_columns = f"{sum(seconds):>9.1f}{statistics.median(seconds):>11.2f}" if seconds else ""
            print(f"  {rule:<22}{len(times):>6}{sum(times):>13.0f}{sum(times) / total:>8.0%}{cpu_columns}")
    if "snakemake" in cpu_of:
        print(f"  Snakemake's own process: {sum(cpu_of['snakemake']):.1f} CPU s")


if __name__ == "__main__":
    main()
