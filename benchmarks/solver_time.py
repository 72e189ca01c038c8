"""CPU seconds and run-steps of the solver cells of a config, row by row, or against another checkout.

    python benchmarks/solver_time.py [CONFIG] [--rows PATTERN] [--skip A,B] [--charts C,D]
                                     [--against CHECKOUT] [--job-start]

What the solver jobs of `snakemake` spend, without Snakemake, job starts or writing files, and in
CPU time (BLAS on one thread, as in a job), so two checkouts can be compared on a shared machine.
Reference solves (f* of the mixture and logistic rows) are made first and not counted.

`--rows` keeps the rows whose name contains PATTERN, `--skip` leaves out those containing A or B,
`--charts` solves only those parameterizations of each row (one solver job each).
`--against CHECKOUT` solves each row with that checkout's library too, back to back with this
one's (each row in a fresh process per checkout, which goes first alternating from row to row),
and prints both and their ratio: the load of a shared machine then weighs on both alike.
`--job-start` adds, per checkout, the CPU time of what a solver job does besides solving: starting
Python, importing what `workflow/scripts/solve.py` imports (Snakemake's script preamble included)
and writing a small cell's files.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _plan(checkout: Path, config_path: Path):
    """The experiments of `config_path` as `checkout`'s library reads them."""
    import yaml

    sys.path.insert(0, str(checkout / "src"))
    from ngbench.experiments import check_config

    schema = yaml.safe_load((checkout / "workflow" / "schemas" / "config.schema.yaml").read_text())
    return check_config(yaml.safe_load(config_path.read_text()), schema)


def solve_row(checkout: Path, config_path: Path, name: str, charts: tuple[str, ...] = ()) -> dict:
    """CPU seconds and run-steps of one row's cells (of `charts` only, if given), solved by
    `checkout`'s library in this process."""
    experiment = _plan(checkout, config_path).experiments[name]
    from ngbench.solve import reference_solution, solve_chart

    reference = reference_solution(experiment.target) if experiment.needs_reference else None
    started, steps = time.process_time(), 0
    for chart in experiment.parameterizations:
        if charts and chart not in charts:
            continue
        solved = solve_chart(experiment.chart_params(chart), reference)
        steps += sum(int(cell.result.stop_iter.sum()) for cell in solved.cells.values())
    return {"seconds": time.process_time() - started, "steps": steps}


# A solver job's own work besides the solve, as workflow/scripts/solve.py does it: Snakemake's
# preamble imports, the library's, and writing the files of a one-run, one-step cell.
JOB_START = """
import sys, tempfile
sys.path.insert(0, {src!r})
from snakemake.logging import logger
from snakemake.iocontainers import Snakemake
from ngbench.io import write_json, write_parquet
from ngbench.solve import solve_chart, timing_record
target = {{"name": "quadratic", "eigenvalues": [1.0, 10.0], "optimum": [0.0, 0.0]}}
params = {{"experiment": "start", "target": target,
    "init": {{"theta_0": 1.0, "theta_1": 1.0}}, "parameterization": "identity", "methods": ["gd", "ngd"],
    "learning_rates": [0.1], "seeds": [0], "steps": 1, "divergence_factor": 1e8, "tolerances": [1e-6]}}
solved = solve_chart(params)
with tempfile.TemporaryDirectory() as out:
    write_parquet(solved.trajectories, out + "/t.parquet")
    write_parquet(solved.summaries, out + "/s.parquet")
    write_json(timing_record(params, solved), out + "/t.json")
"""


def job_start_seconds(checkout: Path, repeats: int = 5) -> float:
    """Median CPU seconds (user + system) of a process doing a solver job's work besides solving."""
    seconds = []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [sys.executable, "-c", JOB_START.format(src=str(checkout / "src"))], check=True, cwd=checkout
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return sorted(seconds)[len(seconds) // 2]


def _in_fresh_process(checkout: Path, config_path: Path, name: str, charts: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, str(config_path), "--worker", name, "--checkout", str(checkout)]
        + (["--charts", charts] if charts else []),
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", type=Path, default=REPO / "config" / "config.yaml")
    parser.add_argument("--rows", default="", help="keep the rows whose name contains this")
    parser.add_argument(
        "--skip", default="", help="leave out the rows whose name contains one of these (a,b)"
    )
    parser.add_argument("--charts", default="", help="solve only these parameterizations (a,b)")
    parser.add_argument("--against", type=Path, help="another checkout, solved back to back with this one")
    parser.add_argument("--job-start", action="store_true", help="also time a solver job's fixed cost")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--checkout", type=Path, default=REPO, help=argparse.SUPPRESS)
    args = parser.parse_args()
    config_path = args.config.resolve()
    charts = tuple(part for part in args.charts.split(",") if part)
    os.chdir(REPO)  # data files a config names are relative to where snakemake runs: the checkout's root
    if args.worker:
        print(json.dumps(solve_row(args.checkout.resolve(), config_path, args.worker, charts)))
        return

    skipped = [part for part in args.skip.split(",") if part]
    names = [
        name
        for name in _plan(REPO, config_path).experiments
        if args.rows in name and not any(part in name for part in skipped)
    ]
    if args.against is None:
        total_seconds = total_steps = 0
        for name in names:
            row = solve_row(REPO, config_path, name, charts)
            total_seconds, total_steps = total_seconds + row["seconds"], total_steps + row["steps"]
            print(f"{name:40s}{row['seconds']:9.1f} s CPU{row['steps']:>13,} run-steps", flush=True)
        print(f"{'total':40s}{total_seconds:9.1f} s CPU{total_steps:>13,} run-steps")
    else:
        other = args.against.resolve()
        print(f"{'row':40s}{'this':>9s}{'against':>10s}{'ratio':>7s}{'run-steps':>12s}  (CPU seconds)")
        totals = {"this": 0.0, "against": 0.0}
        for index, name in enumerate(names):
            order = [("this", REPO), ("against", other)]
            measured = {
                label: _in_fresh_process(path, config_path, name, args.charts)
                for label, path in order[:: 1 - 2 * (index % 2)]
            }
            for label in totals:
                totals[label] += measured[label]["seconds"]
            if measured["this"]["steps"] != measured["against"]["steps"]:
                steps = measured["this"]["steps"], measured["against"]["steps"]
                print(f"  {name}: run-steps differ: {steps[0]} here, {steps[1]} there")
            this, against = measured["this"]["seconds"], measured["against"]["seconds"]
            print(
                f"{name:40s}{this:9.2f}{against:10.2f}{this / against:7.2f}{measured['this']['steps']:>12,}",
                flush=True,
            )
        ratio = totals["this"] / totals["against"]
        print(f"{'total':40s}{totals['this']:9.2f}{totals['against']:10.2f}{ratio:7.2f}")
    if args.job_start:
        checkouts = [("this", REPO)] + ([("against", args.against.resolve())] if args.against else [])
        for label, path in checkouts:
            print(f"a solver job's fixed cost ({label}): {job_start_seconds(path):.2f} s CPU (median of 5)")


if __name__ == "__main__":
    main()
