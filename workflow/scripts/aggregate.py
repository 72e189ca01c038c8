"""Adapter: run summaries of one experiment → statistics and paper tables."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from ngbench.io import read_summaries, write_text
from ngbench.stats import best_learning_rates, iteration_counts, ngd_against_baselines
from ngbench.tables import BEST_LR, ITERATIONS, PAIRED, to_latex, to_markdown

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
experiment = snakemake.wildcards.experiment
summaries = read_summaries(snakemake.input)
tolerance = snakemake.params.main_tolerance
best = best_learning_rates(summaries, tolerance)
paired = ngd_against_baselines(summaries, tolerance, best=best)
for table, kind, (csv, markdown, latex) in (
    (iteration_counts(summaries), ITERATIONS, ("stats", "markdown", "latex")),
    (best, BEST_LR, ("best_lr", "best_lr_markdown", "best_lr_latex")),
    (paired, PAIRED, ("paired", "paired_markdown", "paired_latex")),
):
    write_text(table.to_csv(index=False), snakemake.output[csv])
    write_text(to_markdown(table, experiment, kind), snakemake.output[markdown])
    write_text(to_latex(table, experiment, kind), snakemake.output[latex])
