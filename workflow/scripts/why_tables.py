"""Adapter: a swept row's sub-experiments (summaries, tuned lrs) → its why-tables (ngbench.why)."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

import pandas as pd

from ngbench.io import damaged_inputs_end_the_job, read_summaries, write_text
from ngbench.sweeps import Sweep
from ngbench.tables import SLOPES, to_latex, to_markdown
from ngbench.why import slopes, sweep_table

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
spec = snakemake.params.sweep
row = snakemake.wildcards.row
sweep = Sweep(row, spec["field"], tuple(spec["values"]), tuple(spec["experiments"]))
with damaged_inputs_end_the_job():
    summaries = read_summaries(snakemake.input.summaries)
best = pd.concat([pd.read_csv(path) for path in snakemake.input.best_lr], ignore_index=True)
by_experiment = {e: summaries[summaries["experiment"] == e] for e in sweep.experiments}
best_by_experiment = {e: best[best["experiment"] == e] for e in sweep.experiments}
table = sweep_table(sweep, by_experiment, best_by_experiment, spec["tolerance"], spec["specs"])
fitted = slopes(sweep, by_experiment, best_by_experiment, spec["tolerance"], spec["specs"])
write_text(table.to_csv(index=False), snakemake.output.sweep)
write_text(fitted.to_csv(index=False), snakemake.output.slopes)
write_text(to_markdown(fitted, row, SLOPES), snakemake.output.slopes_markdown)
write_text(to_latex(fitted, row, SLOPES), snakemake.output.slopes_latex)
