"""Where the time goes: the pipeline against its own floor and against a blog-style loop.

    python benchmarks/run_benchmark.py [--quick] [--runs 3] [--config config/bench.yaml] [--scaling]
    python benchmarks/run_benchmark.py --no-op [--repeats 5]

`--default-grid` ends with the default config's whole workflow from clean (benchmarks/default_grid.py:
wall and CPU seconds against issue 18's 120 s, job-seconds per rule; ~5 minutes on 2 cores).

`--scaling` adds how (1) and (3) grow with trajectories, steps, and d (gaussian_nd). `--quick` runs
the figures below once, and the step costs at d = 100 only (a few minutes on 2 cores).

First, the cost per run-step of the d-dimensional targets, each as a ratio to the floor of its own
arithmetic measured in the same process (benchmarks/step_costs.py).

Each run measures, as whole processes (wall seconds, peak resident memory from wait4):
  1. library    the in-process vectorized library run of the whole grid, no Snakemake (the floor)
  2. blog loop  a per-trajectory pure-Python loop of the same grid, written like the blog's code
  3. snakemake  `snakemake --cores 2 results` from clean (trajectories, statistics, tables)
  4. no-op      the same command again, with nothing to do
  5. one more lr  after adding one learning rate to the row, and how many jobs that ran
  6. aggregate  peak memory of the aggregation step, on the grid's summaries and on 10⁵ runs
and the ratios between them within the run; the report gives the median of each over the runs.
The machine is shared and noisy: quote medians and ratios, not single times.

`--no-op` times only Snakemake start-ups, each against Snakemake's own no-op of a one-rule workflow
measured in turn with it (medians of `--repeats` runs each): the no-op of the benchmark grid once it
is up to date (built with 10 steps: the same jobs, sooner), and the dry run (`-n`) of the default
config, after an earlier start has left its startup cache entry (ngbench.startup_cache) as a no-op
finds it, and again without it, as the first start after an edit of the config or the library
(the check runs: every row, every target built once).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def timed(command: list[str], cwd: Path | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB of the process tree's largest process, stdout+stderr)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{output[-3000:]}")
    return wall, usage.ru_maxrss / 1024, output


def snakemake(workdir: Path, *args: str) -> list[str]:
    """The pipeline's `results` target: the same work as the floor (trajectories, statistics, tables)."""
    command = [PYTHON, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2"]
    return [*command, *args, "results"]


ONE_RULE_WORKFLOW = 'rule done:\n    output:\n        "done.txt",\n    shell:\n        "touch {output}"\n'


def no_op_figures(repeats: int) -> dict[str, list[float]]:
    """Wall seconds of each start-up, `repeats` times, each round timing the three in turn (the
    machine's load then weighs on all of them alike)."""
    with tempfile.TemporaryDirectory(prefix="ngbench-noop-") as scratch:
        scratch = Path(scratch)
        one_rule = scratch / "one_rule"
        one_rule.mkdir()
        (one_rule / "Snakefile").write_text(ONE_RULE_WORKFLOW)
        baseline = [
            PYTHON,
            "-m",
            "snakemake",
            "-s",
            str(one_rule / "Snakefile"),
            "-d",
            str(one_rule),
            "--cores",
            "1",
        ]
        timed(baseline)  # makes done.txt: every later call is a no-op
        grid = yaml.safe_load((REPO / "config" / "bench.yaml").read_text())
        for row in grid["experiments"].values():
            row["steps"] = 10
        bench = scratch / "bench"
        (bench / "config").mkdir(parents=True)
        (bench / "config" / "config.yaml").write_text(yaml.safe_dump(grid))
        timed(snakemake(bench))
        full = scratch / "full"
        shutil.copytree(REPO / "config", full / "config")
        # Data files a row names relative to the working directory (a glm_vi row's CSV).
        (full / "src").symlink_to(REPO / "src")
        dry_run = [
            PYTHON,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "-d",
            str(full),
            "--cores",
            "2",
            "-n",
        ]
        timed(dry_run)  # leaves the startup cache's entry, as any earlier start would have
        entry = full / ".snakemake" / "ngbench" / "checked_start.pickle"
        if not entry.is_file():
            raise RuntimeError(f"the dry run left no startup cache entry at {entry}")
        times: dict[str, list[float]] = {key: [] for key, _ in NO_OP_FIGURES}
        for _ in range(repeats):
            times["one-rule no-op"].append(timed(baseline)[0])
            wall, _, output = timed(snakemake(bench))
            if jobs_run(output) != 0:
                raise RuntimeError("a rerun of the benchmark grid with nothing changed ran jobs")
            times["bench no-op"].append(wall)
            times["full dry run"].append(timed(dry_run)[0])
            # A first start after the config or the library changed: no entry, the check runs.
            entry.unlink()
            times["full dry run, checked"].append(timed(dry_run)[0])
        return times


NO_OP_FIGURES = (
    ("one-rule no-op", "Snakemake no-op, one-rule workflow"),
    ("bench no-op", "ngbench no-op, benchmark grid up to date"),
    ("full dry run", "ngbench dry run (-n), default config"),
    ("full dry run, checked", "the same, config just edited (check runs)"),
)


def report_no_op(times: dict[str, list[float]]) -> None:
    baseline = statistics.median(times["one-rule no-op"])
    print(
        f"\nstart-up, medians of {len(times['one-rule no-op'])} runs each, taken in turn "
        "(issue 18, target 6: ≤ 1.2×)"
    )
    print(f"{NO_OP_FIGURES[0][1]:<52}{baseline:>8.2f} s")
    for key, label in NO_OP_FIGURES[1:]:
        median = statistics.median(times[key])
        print(f"{label:<52}{median:>8.2f} s  {median / baseline:.2f}x")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print(
            "(PYTHONDONTWRITEBYTECODE is set: Python compiles the library's modules on every start,"
            " where it would otherwise read them from __pycache__)"
        )


def jobs_run(output: str) -> int:
    """Jobs Snakemake ran, from its closing 'N of M steps' line (0 when it had nothing to do)."""
    done = re.findall(r"(\d+) of (\d+) steps", output)
    return int(done[-1][1]) if done else 0


def one_more_learning_rate(config: dict) -> dict:
    """The config with one learning rate added to its first row (an explicit list afterwards)."""
    sys.path.insert(0, str(REPO / "src"))
    from ngbench.experiments import learning_rate_grid

    changed = yaml.safe_load(yaml.safe_dump(config))
    row = next(iter(changed["experiments"].values()))
    rates = list(learning_rate_grid(row["learning_rates"]))
    row["learning_rates"] = rates + [rates[-1] * 1.05]
    return changed


def aggregate_memory(summaries_dir: Path, copies: int) -> tuple[float, int]:
    """Peak MiB of iteration_counts over the summaries, replicated `copies` times (as distinct seeds)."""
    code = f"""
import sys; sys.path.insert(0, {str(REPO / "src")!r})
import pandas as pd
from pathlib import Path
from ngbench.io import read_summaries
from ngbench.stats import iteration_counts
one = read_summaries(sorted(Path({str(summaries_dir)!r}).rglob('*.parquet')))
frames = [one.assign(seed=one['seed'] + k * 1_000_000) for k in range({copies})]
summaries = pd.concat(frames, ignore_index=True)
iteration_counts(summaries)
print(summaries.groupby(['experiment', 'parameterization', 'method', 'lr', 'seed']).ngroups)
"""
    _, peak, output = timed([PYTHON, "-c", code])
    return peak, int(output.strip().splitlines()[-1])


def trajectories(config: dict) -> int:
    sys.path.insert(0, str(REPO / "src"))
    from ngbench.experiments import parse_config

    plan = parse_config(config)
    return sum(len(e.cells()) * len(e.learning_rates) * len(e.seeds) for e in plan.experiments.values())


def measure(config_path: Path, config: dict, with_baseline: bool = True) -> dict:
    with tempfile.TemporaryDirectory(prefix="ngbench-bench-") as scratch:
        scratch = Path(scratch)
        figures = {"trajectories": trajectories(config)}
        figures["library"], _, rows = timed(
            [PYTHON, str(REPO / "benchmarks" / "library_run.py"), str(config_path), str(scratch / "library")]
        )
        figures["rows"] = int(rows.strip().splitlines()[-1])
        if with_baseline:
            figures["blog loop"], _, blog_rows = timed(
                [
                    PYTHON,
                    str(REPO / "benchmarks" / "blog_loop.py"),
                    str(config_path),
                    str(scratch / "blog.parquet"),
                ]
            )
            if int(blog_rows.strip().splitlines()[-1]) != figures["rows"]:
                raise RuntimeError("the blog loop and the library wrote different numbers of rows")
        workdir = scratch / "snakemake"
        (workdir / "config").mkdir(parents=True)
        shutil.copy(config_path, workdir / "config" / "config.yaml")
        figures["snakemake"], _, output = timed(snakemake(workdir))
        figures["jobs"] = jobs_run(output)
        figures["no-op"], _, output = timed(snakemake(workdir))
        if jobs_run(output) != 0:
            raise RuntimeError("a rerun with nothing changed ran jobs")
        (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(one_more_learning_rate(config)))
        figures["one more lr"], _, output = timed(snakemake(workdir))
        figures["one more lr jobs"] = jobs_run(output)
        figures["aggregate MiB"], figures["aggregate runs"] = aggregate_memory(
            workdir / "results" / "summaries", 1
        )
        figures["aggregate 1e5 MiB"], figures["aggregate 1e5 runs"] = aggregate_memory(
            workdir / "results" / "summaries", -(-100_000 // figures["aggregate runs"])
        )
        return figures


def report(runs: list[dict]) -> None:
    def median(key):
        return statistics.median(run[key] for run in runs)

    def median_ratio(a, b):
        return statistics.median(run[a] / run[b] for run in runs)

    first = runs[0]
    print(
        f"\ngrid: {first['trajectories']:,} trajectories, {first['rows']:,} trajectory rows, "
        f"{first['jobs']} Snakemake jobs; medians of {len(runs)} run(s)\n"
    )
    print(f"{'figure':<44}{'median':>12}{'  ratio (median of per-run ratios)'}")
    print(f"{'1. library, in process (the floor)':<44}{median('library'):>10.2f} s")
    if "blog loop" in first:
        print(
            f"{'2. blog-style per-trajectory loop':<44}{median('blog loop'):>10.2f} s"
            f"  (2)/(3) = {median_ratio('blog loop', 'snakemake'):.1f}x faster with snakemake"
            f"  (2)/(1) = {median_ratio('blog loop', 'library'):.1f}x"
        )
    print(
        f"{'3. snakemake --cores 2 results, from clean':<44}{median('snakemake'):>10.2f} s"
        f"  (3)/(1) = {median_ratio('snakemake', 'library'):.2f}"
    )
    print(
        f"{'4. no-op rerun':<44}{median('no-op'):>10.2f} s"
        f"  (4)/(3) = {100 * median_ratio('no-op', 'snakemake'):.1f} %"
    )
    print(
        f"{'5. rerun after adding one learning rate':<44}{median('one more lr'):>10.2f} s"
        f"  {first['one more lr jobs']} of {first['jobs']} jobs ran (the first row's)"
    )
    print(
        f"{'6. aggregate peak memory, this grid':<44}{median('aggregate MiB'):>10.0f} MiB"
        f"  ({first['aggregate runs']} runs)"
    )
    print(
        f"{'   aggregate peak memory, 1e5 runs':<44}{median('aggregate 1e5 MiB'):>10.0f} MiB"
        f"  ({first['aggregate 1e5 runs']} runs)"
    )


def scaling(config: dict) -> None:
    """How (1) and (3) grow with trajectories and with steps: ×1, ×4, ×16 of a small base grid."""
    base = yaml.safe_load(yaml.safe_dump(config))
    name, row = next(iter(base["experiments"].items()))
    base["experiments"] = {name: row}
    row["seeds"], row["steps"] = 8, 250
    print("\nscaling (one run each): base = 12 cells × 14 lr × 8 seeds = 1,344 trajectories × 250 steps")
    print(f"{'grid':<28}{'(1) library s':>14}{'(3) snakemake s':>17}{'(3)/(1)':>9}")
    for axis in ("seeds", "steps"):
        for factor in (1, 4, 16):
            grid = yaml.safe_load(yaml.safe_dump(base))
            grid_row = next(iter(grid["experiments"].values()))
            grid_row[axis] *= factor
            with tempfile.TemporaryDirectory(prefix="ngbench-scale-") as scratch:
                path = Path(scratch) / "grid.yaml"
                path.write_text(yaml.safe_dump(grid))
                figures = measure(path, grid, with_baseline=False)
            label = f"{axis} x{factor}"
            print(
                f"{label:<28}{figures['library']:>14.2f}{figures['snakemake']:>17.2f}"
                f"{figures['snakemake'] / figures['library']:>9.2f}"
            )


def dimension_scaling() -> None:
    """How (1) and (3) grow with d for gaussian_nd: a step is O(d³) (inverses, Cholesky) per run."""
    print("\nscaling with d (one run each): gaussian_nd, charts natural and mean_chol, gd and ngd,")
    print("4 learning rates × 8 seeds = 64 trajectories × 100 steps")
    print(f"{'d':<28}{'(1) library s':>14}{'(3) snakemake s':>17}{'(3)/(1)':>9}")
    for dim in (25, 50, 100, 200):
        grid = {
            "tolerances": [1.0e-2, 1.0e-4, 1.0e-6, 1.0e-8],
            "experiments": {
                "scale_d": {
                    "target": {"name": "gaussian_nd", "dim": dim, "condition_number": 100.0, "seed": 0},
                    "init": {"mean": {"uniform": [-2.0, 2.0]}, "var": 0.1},
                    "parameterizations": ["natural", "mean_chol"],
                    "methods": ["gd", "ngd"],
                    "learning_rates": [0.01, 0.1, 0.3, 1.0],
                    "seeds": 8,
                    "steps": 100,
                }
            },
        }
        with tempfile.TemporaryDirectory(prefix="ngbench-scale-") as scratch:
            path = Path(scratch) / "grid.yaml"
            path.write_text(yaml.safe_dump(grid))
            figures = measure(path, grid, with_baseline=False)
        print(
            f"{dim:<28}{figures['library']:>14.2f}{figures['snakemake']:>17.2f}"
            f"{figures['snakemake'] / figures['library']:>9.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--config", type=Path, default=REPO / "config" / "bench.yaml")
    parser.add_argument("--scaling", action="store_true", help="also print the scaling table")
    parser.add_argument("--quick", action="store_true", help="one run, step costs at d = 100 only")
    parser.add_argument("--no-op", action="store_true", help="only the start-up figures, then stop")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each start-up (median)")
    parser.add_argument(
        "--default-grid", action="store_true", help="also the default grid from clean (default_grid.py)"
    )
    args = parser.parse_args()
    if args.no_op:
        report_no_op(no_op_figures(args.repeats))
        return
    step_costs = [PYTHON, str(REPO / "benchmarks" / "step_costs.py")] + (["--quick"] if args.quick else [])
    # Its own process: it pins BLAS to one thread before numpy loads, as Snakemake does for a job.
    subprocess.run(step_costs, check=True)
    config = yaml.safe_load(args.config.read_text())
    runs = []
    for index in range(1 if args.quick else args.runs):
        print(f"\nrun {index + 1} of {1 if args.quick else args.runs} ...", flush=True)
        runs.append(measure(args.config.resolve(), config))
    report(runs)
    report_no_op(no_op_figures(args.repeats))
    if args.scaling:
        scaling(config)
        dimension_scaling()
    if args.default_grid:
        subprocess.run([PYTHON, str(REPO / "benchmarks" / "default_grid.py")], check=True)


if __name__ == "__main__":
    main()
