"""Adapter: an experiment's summaries and solver timings → its wall-time table (machine-dependent)."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from ngbench.io import damaged_inputs_end_the_job, read_json, read_summaries, write_text
from ngbench.stats import wall_times

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
with damaged_inputs_end_the_job():
    timings = [cell for path in snakemake.input.timings for cell in read_json(path, ("cells",))["cells"]]
    summaries = read_summaries(snakemake.input.summaries)
table = wall_times(summaries, timings, snakemake.params.main_tolerance)
write_text(table.to_csv(index=False), snakemake.output.csv)
caption = (
    f"Wall time of the solver jobs of {snakemake.wildcards.experiment} on this machine (not reproducible "
    "byte for byte): µs per run-step, and the median time of a run to the smallest tolerance."
)
write_text(f"**{caption}**\n\n{table.to_markdown(index=False, floatfmt='.4g')}\n", snakemake.output.markdown)
