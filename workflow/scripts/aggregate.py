"""Adapter: run summaries and solver timings of one experiment → statistics, paper tables, the
wall-time table (machine-dependent) and the report page of the tables."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from ngbench.io import damaged_inputs_end_the_job, read_json, read_summaries, write_text
from ngbench.report_page import markdown_to_html, page
from ngbench.stats import wall_times
from ngbench.tables import experiment_tables

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
experiment = snakemake.wildcards.experiment
tolerance = snakemake.params.main_tolerance
with damaged_inputs_end_the_job():
    summaries = read_summaries(snakemake.input.summaries)
    timings = [cell for path in snakemake.input.timings for cell in read_json(path, ("cells",))["cells"]]
texts = experiment_tables(summaries, experiment, tolerance, snakemake.params.tuning_rule)
outputs = {
    "": ("stats", "markdown", "latex"),
    "_best_lr": ("best_lr", "best_lr_markdown", "best_lr_latex"),
    "_paired": ("paired", "paired_markdown", "paired_latex"),
}
write_text(texts["_claims"]["md"], snakemake.output.claims)
for suffix, names in outputs.items():
    for extension, name in zip(("csv", "md", "tex"), names, strict=True):
        write_text(texts[suffix][extension], snakemake.output[name])

costs = wall_times(summaries, timings, tolerance)
write_text(costs.to_csv(index=False), snakemake.output.costs)
caption = (
    f"Wall time of the solver jobs of {experiment} on this machine (not reproducible "
    "byte for byte): µs per run-step, and the median time of a run to the smallest tolerance."
)
write_text(
    f"**{caption}**\n\n{costs.to_markdown(index=False, floatfmt='.4g')}\n", snakemake.output.costs_markdown
)

# The report page: the Markdown tables just written, in reading order (the results in words, the
# tuned lrs, the paired tests, then every lr).
sections = [
    ("In words", markdown_to_html(texts["_claims"]["md"])),
    ("Tuned learning rates (cross-fitted)", markdown_to_html(texts["_best_lr"]["md"])),
    ("NGD against each other method, seed by seed", markdown_to_html(texts["_paired"]["md"])),
    ("Iterations to each tolerance, per learning rate", markdown_to_html(texts[""]["md"])),
]
write_text(page(f"Experiment {experiment}: tables", sections), snakemake.output.page)
