"""Adapter: one solver job (every method of one chart) → its trajectory and summary parquet files."""

import logging
import sys
import time
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from ngbench.io import damaged_inputs_end_the_job, read_json, write_json, write_parquet
from ngbench.solve import solve_chart, timing_record

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
with damaged_inputs_end_the_job():
    reference = read_json(snakemake.input.reference) if hasattr(snakemake.input, "reference") else None
# Where the user looks: Snakemake's own output says only how many jobs are done, which for a long
# solver job stays the same for minutes. A quick job prints nothing (PROGRESS_AFTER).
PROGRESS_AFTER = 10.0  # seconds
started = time.perf_counter()


def progress(line):
    logging.info(line)
    if time.perf_counter() - started >= PROGRESS_AFTER:
        print(line, file=sys.stderr, flush=True)


solved = solve_chart(snakemake.params.chart, reference, progress)
write_parquet(solved.trajectories, snakemake.output.trajectories)
write_parquet(solved.summaries, snakemake.output.summaries)
write_json(timing_record(snakemake.params.chart, solved), snakemake.output.timing)
