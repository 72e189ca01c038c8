"""Adapter: the ledger, headline, profile scores, why-tables and their figures → the report's first page."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from ngbench.io import write_text
from ngbench.report_page import image, markdown_to_html, page

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
inputs = snakemake.input


def text(path):
    return Path(path).read_text(encoding="utf-8")


sections = []
if inputs.get("ledger"):
    sections.append(("Literature claims, checked by the pipeline", markdown_to_html(text(inputs.ledger))))
else:
    sections.append(("Literature claims", "<p>This config lists no claims (<code>claims:</code>).</p>"))
sections.append(
    (
        "Across every problem: performance and data profiles",
        markdown_to_html(text(inputs.scores)) + image(Path(inputs.profiles).read_bytes(), "profiles"),
    )
)
for slopes, figure in zip(inputs.slopes, inputs.why, strict=True):
    row = Path(figure).name.removesuffix("_sweep.png")
    sections.append(
        (
            f"Why: cost against the swept property ({row})",
            markdown_to_html(text(slopes)) + image(Path(figure).read_bytes(), f"{row} why-figure"),
        )
    )
sections.append(
    ("Headline: every experiment, NGD against each other method", markdown_to_html(text(inputs.headline)))
)
title = "ngbench: when natural-gradient descent beats gradient descent, and why"
write_text(page(title, sections, front=True), snakemake.output[0])
