"""Adapter: summaries, tuned lrs and solver timings → profiles on the wall-time axis (machine-dependent,
written under results/costs/, outside the reproducibility contract)."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

import pandas as pd

from ngbench.io import damaged_inputs_end_the_job, read_json, read_summaries, write_text
from ngbench.plots import profile_figure, save_figure
from ngbench.profiles import WALL_TIME, add_wall_time, data_profiles, problem_costs, profile_scores, profiles
from ngbench.tables import PROFILE_SCORES, to_markdown

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
with damaged_inputs_end_the_job():
    summaries = read_summaries(snakemake.input.summaries)
    cells = pd.DataFrame(
        [cell for path in snakemake.input.timings for cell in read_json(path, ("cells",))["cells"]]
    )
best = pd.concat([pd.read_csv(path) for path in snakemake.input.best_lr], ignore_index=True)
costs = add_wall_time(problem_costs(summaries, best, snakemake.params.tolerances), cells)
axes = (WALL_TIME,)
performance, data, scores = profiles(costs, axes), data_profiles(costs, axes), profile_scores(costs, axes)
write_text(performance.to_csv(index=False), snakemake.output.profiles)
write_text(data.to_csv(index=False), snakemake.output.data_profiles)
write_text(scores.to_csv(index=False), snakemake.output.scores)
note = (
    "\n\nWall time on this machine, under its load when the solver jobs ran: a run's time is its "
    "iterations times its (chart, method) cell's seconds per run-step (the cell's runs are one array "
    "program, timed as one). Not reproducible byte for byte; not part of the reproducibility contract.\n"
)
write_text(
    to_markdown(scores, "the whole config", PROFILE_SCORES).rstrip("\n") + note,
    snakemake.output.scores_markdown,
)
title = "Every method across every problem of the config, on wall time"
save_figure(
    profile_figure(performance, data, title, snakemake.params.preset),
    snakemake.output.png,
    snakemake.output.pdf,
    title,
    "config",
)
