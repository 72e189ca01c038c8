"""Adapter: the config's performance and data profiles → one figure."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

import pandas as pd

from ngbench.plots import profile_figure, save_figure

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
title = "Every method across every (experiment, chart, seed) problem of the config"
performance = pd.read_csv(snakemake.input.profiles)
data = pd.read_csv(snakemake.input.data_profiles)
save_figure(
    profile_figure(performance, data, title, snakemake.params.preset),
    snakemake.output.png,
    snakemake.output.pdf,
    title,
    "config",
)
