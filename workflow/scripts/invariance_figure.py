"""Adapter: an experiment's target and first start → the invariance-audit figure."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from ngbench.audit import audit_row
from ngbench.plots import invariance_figure, provenance, save_figure

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
row = snakemake.params.row
audit, _ = audit_row(row)
charts = len(row["parameterizations"])
title = f"{snakemake.wildcards.experiment}: one step from seed {row['seed']}'s start in {charts} charts"
figure = invariance_figure(audit, title, snakemake.params.preset)
save_figure(figure, snakemake.output.png, snakemake.output.pdf, title, provenance(snakemake.params.rows))
