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
from ngbench.solve import solve_cell
from ngbench.stats import iteration_counts
from ngbench.tables import to_latex, to_markdown

REPO = Path(__file__).resolve().parents[1]


def run(config: dict, workdir: Path) -> int:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    plan = check_config(config, schema)
    rows = 0
    for experiment in plan.experiments.values():
        summaries = []
        for chart, method in experiment.cells():
            cell = solve_cell(experiment.cell_params(chart, method, experiment.tolerances))
            rows += cell.trajectories.num_rows
            write_parquet(
                cell.trajectories,
                workdir / "results" / "runs" / experiment.name / chart / f"{method}.parquet",
            )
            summary_path = workdir / "results" / "summaries" / experiment.name / chart / f"{method}.parquet"
            write_parquet(cell.summaries, summary_path)
            summaries.append(summary_path)
        stats = iteration_counts(read_summaries(summaries))
        write_text(stats.to_csv(index=False), workdir / "results" / "stats" / f"{experiment.name}.csv")
        write_text(
            to_markdown(stats, experiment.name), workdir / "results" / "tables" / f"{experiment.name}.md"
        )
        write_text(
            to_latex(stats, experiment.name), workdir / "results" / "tables" / f"{experiment.name}.tex"
        )
    return rows


if __name__ == "__main__":
    config_path, workdir = sys.argv[1:3]
    print(run(yaml.safe_load(Path(config_path).read_text()), Path(workdir)))
