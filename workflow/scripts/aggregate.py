"""Adapter: run summaries of one experiment → iteration-count statistics and paper tables."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from ngbench.io import read_summaries, write_text
from ngbench.stats import iteration_counts
from ngbench.tables import to_latex, to_markdown

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
experiment = snakemake.wildcards.experiment
stats = iteration_counts(read_summaries(snakemake.input))
write_text(stats.to_csv(index=False), snakemake.output.stats)
write_text(to_markdown(stats, experiment), snakemake.output.markdown)
write_text(to_latex(stats, experiment), snakemake.output.latex)
