"""CPU seconds and run-steps of every solver cell of a config, in one process, row by row.

    python benchmarks/solver_time.py [CONFIG]

What the solver jobs of `snakemake` spend, without Snakemake, job starts or writing files, and in
CPU time (BLAS on one thread, as in a job), so two checkouts can be compared on a shared machine.
Reference solves (f* of the mixture and logistic rows) are made first and not counted.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from ngbench.experiments import check_config
from ngbench.solve import reference_solution, solve_chart


def main() -> None:
    config_path = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "config" / "config.yaml"
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    plan = check_config(yaml.safe_load(config_path.read_text()), schema)
    total_seconds = total_steps = 0
    for name, experiment in plan.experiments.items():
        reference = reference_solution(experiment.target) if experiment.needs_reference else None
        started, steps = time.process_time(), 0
        for chart in experiment.parameterizations:
            solved = solve_chart(experiment.chart_params(chart), reference)
            steps += sum(int(cell.result.stop_iter.sum()) for cell in solved.cells.values())
        seconds = time.process_time() - started
        total_seconds, total_steps = total_seconds + seconds, total_steps + steps
        print(f"{name:24s}{seconds:9.1f} s CPU{steps:>13,} run-steps", flush=True)
    print(f"{'total':24s}{total_seconds:9.1f} s CPU{total_steps:>13,} run-steps")


if __name__ == "__main__":
    main()
