"""Adapter: an experiment's target and first start → the invariance-audit figure."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

import numpy as np

from ngbench.audit import one_step_spread
from ngbench.plots import invariance_figure, provenance, save_figure
from ngbench.targets import make_target

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
row = snakemake.params.row
target = make_target(row["target"])
target.set_gradient(row["gradient"])  # the row's deterministic estimator (the workflow audits no other)
start = target.initial_states(row["init"], (row["seed"],))[0]
audit = one_step_spread(target, start, row["parameterizations"], row["methods"], np.logspace(-5, -0.5, 19))
charts = len(row["parameterizations"])
title = f"{snakemake.wildcards.experiment}: one step from seed {row['seed']}'s start in {charts} charts"
figure = invariance_figure(audit, title, snakemake.params.preset)
save_figure(figure, snakemake.output.png, snakemake.output.pdf, title, provenance(snakemake.params.rows))
