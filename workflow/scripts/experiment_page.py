"""Adapter: one experiment's Markdown tables → one HTML page of the report (ngbench.report_page)."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from ngbench.io import write_text
from ngbench.report_page import markdown_to_html, page

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
headings = {
    "iterations": "Iterations to each tolerance, per learning rate",
    "best_lr": "Tuned learning rates (cross-fitted)",
    "paired": "NGD against each other method, seed by seed",
    "claims": "In words",
}
sections = [
    (headings[name], markdown_to_html(Path(path).read_text(encoding="utf-8")))
    for name, path in snakemake.input.items()
]
write_text(page(f"Experiment {snakemake.wildcards.experiment}: tables", sections), snakemake.output[0])
