"""Adapter: one experiment's trajectories and statistics → convergence, lr-sensitivity and ECDF figures."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

import pandas as pd

from ngbench.io import damaged_inputs_end_the_job, read_summaries, read_trajectories
from ngbench.plots import convergence_figure, ecdf_figure, lr_sensitivity_figure, save_figure

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
experiment, steps = snakemake.wildcards.experiment, snakemake.params.steps
tolerance = snakemake.params.main_tolerance
best = pd.read_csv(snakemake.input.best_lr)
columns = ["parameterization", "method", "lr", "seed", "iter", "gap", "status"]
with damaged_inputs_end_the_job():
    trajectories = read_trajectories(snakemake.input.trajectories, columns)
    summaries = read_summaries(snakemake.input.summaries)
title = f"{experiment}: gap, median and 25–75 % over seeds (cross-fitted lr)"
figure = convergence_figure(trajectories, best, steps, tolerance, title)
save_figure(figure, snakemake.output.convergence_png, snakemake.output.convergence_pdf)
figure = lr_sensitivity_figure(pd.read_csv(snakemake.input.stats), tolerance, f"{experiment}: aRT against lr")
save_figure(figure, snakemake.output.sensitivity_png, snakemake.output.sensitivity_pdf)
figure = ecdf_figure(summaries, best, steps, f"{experiment}: runtime ECDF")
save_figure(figure, snakemake.output.ecdf_png, snakemake.output.ecdf_pdf)
