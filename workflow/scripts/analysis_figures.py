"""Adapter: one experiment's trajectories and statistics → convergence, lr-sensitivity and ECDF figures."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

import pandas as pd

from ngbench.io import damaged_inputs_end_the_job, read_summaries, read_trajectories
from ngbench.plots import convergence_figure, ecdf_figure, lr_sensitivity_figure, provenance, save_figure

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
experiment, steps = snakemake.wildcards.experiment, snakemake.params.steps
tolerance = snakemake.params.main_tolerance
panels, single = snakemake.params.panels, snakemake.params.single
source = provenance(snakemake.params.rows)
best = pd.read_csv(snakemake.input.best_lr)
columns = ["parameterization", "method", "lr", "seed", "iter", "gap", "status"]
with damaged_inputs_end_the_job():
    trajectories = read_trajectories(snakemake.input.trajectories, columns)
    summaries = read_summaries(snakemake.input.summaries)
output = snakemake.output

title = f"{experiment}: gap, median and 25–75 % over seeds (cross-fitted lr)"
figure = convergence_figure(trajectories, best, steps, tolerance, title, panels)
save_figure(figure, output.convergence_png, output.convergence_pdf, title, source)
title = f"{experiment}: aRT against learning rate"
figure = lr_sensitivity_figure(pd.read_csv(snakemake.input.stats), tolerance, title, panels)
save_figure(figure, output.sensitivity_png, output.sensitivity_pdf, title, source)
title = f"{experiment}: runtime ECDF"
figure = ecdf_figure(summaries, best, steps, title, single)
save_figure(figure, output.ecdf_png, output.ecdf_pdf, title, source)
