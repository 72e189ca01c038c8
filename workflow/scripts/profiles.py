"""Adapter: every experiment's summaries and tuned lrs → performance and data profiles (ngbench.profiles)."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

import pandas as pd

from ngbench.io import damaged_inputs_end_the_job, read_summaries, write_text
from ngbench.profiles import data_profiles, problem_costs, profile_scores, profiles
from ngbench.tables import PROFILE_SCORES, to_latex, to_markdown

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
with damaged_inputs_end_the_job():
    summaries = read_summaries(snakemake.input.summaries)
best = pd.concat([pd.read_csv(path) for path in snakemake.input.best_lr], ignore_index=True)
costs = problem_costs(summaries, best, snakemake.params.tolerances)
scores = profile_scores(costs)
write_text(profiles(costs).to_csv(index=False), snakemake.output.profiles)
write_text(data_profiles(costs).to_csv(index=False), snakemake.output.data_profiles)
write_text(scores.to_csv(index=False), snakemake.output.scores)
write_text(to_markdown(scores, "the whole config", PROFILE_SCORES), snakemake.output.scores_markdown)
write_text(to_latex(scores, "all", PROFILE_SCORES, source="every experiment"), snakemake.output.scores_latex)
