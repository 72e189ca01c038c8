"""Adapter: an experiment's target and first start → the invariance audit (ngbench.audit) as tables
and as a figure, from one computation of it."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from ngbench.audit import audit_row, spread_slopes, spread_table
from ngbench.io import write_text
from ngbench.plots import invariance_figure, provenance, save_figure
from ngbench.tables import INVARIANCE_SLOPES, to_markdown

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
row = snakemake.params.row
experiment = snakemake.wildcards.experiment
charts = len(row["parameterizations"])
output = snakemake.output
audit, start = audit_row(row)

fitted = spread_slopes(audit, start, experiment, charts)
write_text(spread_table(audit, start, experiment).to_csv(index=False), output.spreads)
write_text(fitted.to_csv(index=False), output.slopes)
write_text(to_markdown(fitted, experiment, INVARIANCE_SLOPES), output.slopes_markdown)

title = f"{experiment}: one step from seed {row['seed']}'s start in {charts} charts"
figure = invariance_figure(audit, title, snakemake.params.preset)
save_figure(figure, output.png, output.pdf, title, provenance(snakemake.params.rows))
