"""The floor: the whole grid through the library in one process, no Snakemake.

Writes what the workflow writes (trajectories, summaries, statistics, tables) for every cell of the
config, one cell after another. Used by run_benchmark.py.

    python benchmarks/library_run.py CONFIG WORKDIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

# This checkout's library, whatever is installed: a benchmark of a clone measures that clone.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ngbench.experiments import check_config
from ngbench.io import read_summaries, write_parquet, write_text
from ngbench.solve import solve_chart
from ngbench.tables import experiment_tables

REPO = Path(__file__).resolve().parents[1]


def run(config: dict, workdir: Path) -> int:
    """Solve every chart of every row and aggregate each row, as the workflow's `results` target does."""
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    plan = check_config(config, schema)
    rows = 0
    for experiment in plan.experiments.values():
        summaries = []
        for chart in experiment.parameterizations:
            solved = solve_chart(experiment.chart_params(chart))
            rows += solved.trajectories.num_rows
            write_parquet(
                solved.trajectories, workdir / "results" / "runs" / experiment.name / f"{chart}.parquet"
            )
            summary_path = workdir / "results" / "summaries" / experiment.name / f"{chart}.parquet"
            write_parquet(solved.summaries, summary_path)
            summaries.append(summary_path)
        texts = experiment_tables(read_summaries(summaries), experiment.name, experiment.main_tolerance)
        for suffix, files in texts.items():  # each statistic as csv, md and tex; the claims as md only
            for extension, text in files.items():
                folder = "stats" if extension == "csv" else "tables"
                write_text(text, workdir / "results" / folder / f"{experiment.name}{suffix}.{extension}")
    return rows


if __name__ == "__main__":
    config_path, workdir = sys.argv[1:3]
    print(run(yaml.safe_load(Path(config_path).read_text()), Path(workdir)))
