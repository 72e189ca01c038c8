"""Adapter: run summaries of one experiment → statistics and paper tables."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from ngbench.io import damaged_inputs_end_the_job, read_summaries, write_text
from ngbench.tables import experiment_tables

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
experiment = snakemake.wildcards.experiment
with damaged_inputs_end_the_job():
    summaries = read_summaries(snakemake.input)
texts = experiment_tables(
    summaries, experiment, snakemake.params.main_tolerance, snakemake.params.tuning_rule
)
outputs = {
    "": ("stats", "markdown", "latex"),
    "_best_lr": ("best_lr", "best_lr_markdown", "best_lr_latex"),
    "_paired": ("paired", "paired_markdown", "paired_latex"),
}
write_text(texts["_claims"]["md"], snakemake.output.claims)
for suffix, names in outputs.items():
    for extension, name in zip(("csv", "md", "tex"), names, strict=True):
        write_text(texts[suffix][extension], snakemake.output[name])
