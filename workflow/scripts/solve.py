"""Adapter: one solver job (every method of one chart) → its trajectory and summary parquet files."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from ngbench.io import damaged_inputs_end_the_job, read_json, write_json, write_parquet
from ngbench.solve import solve_chart, timing_record

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
with damaged_inputs_end_the_job():
    reference = read_json(snakemake.input.reference) if hasattr(snakemake.input, "reference") else None
solved = solve_chart(snakemake.params.chart, reference)
write_parquet(solved.trajectories, snakemake.output.trajectories)
write_parquet(solved.summaries, snakemake.output.summaries)
write_json(timing_record(snakemake.params.chart, solved), snakemake.output.timing)
