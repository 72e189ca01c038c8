"""Adapter: a swept row's why-tables → its why-figure."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

import pandas as pd

from ngbench.plots import save_figure, why_figure

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
row = snakemake.wildcards.row
title = f"{row}: tuned iterations against the swept property"
figure = why_figure(
    pd.read_csv(snakemake.input.sweep), pd.read_csv(snakemake.input.slopes), title, snakemake.params.preset
)
save_figure(figure, snakemake.output.png, snakemake.output.pdf, title, f"config row experiments.{row}")
