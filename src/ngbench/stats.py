"""Iteration counts over run summaries, COCO-style: every run counts, failures included.

For a tolerance τ a run succeeds if its gap ever reaches τ; it spends `hit_iter` iterations if it
succeeds and `stop_iter` (its whole budget, or the iteration where it diverged or left the domain)
if not. aRT = (iterations spent by all runs) / successes, ∞ when no run succeeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GROUP_COLUMNS = ["experiment", "target", "parameterization", "method", "lr", "tolerance"]
STAT_COLUMNS = ["runs", "successes", "success_rate", "median_iters", "art"]


def iterations_spent(summaries: pd.DataFrame) -> pd.Series:
    hit = summaries["hit_iter"]
    return hit.where(hit.notna(), summaries["stop_iter"]).astype(float)


def iteration_counts(summaries: pd.DataFrame) -> pd.DataFrame:
    """One row per (experiment, target, parameterization, method, lr, tolerance)."""
    frame = summaries.assign(
        success=summaries["hit_iter"].notna(),
        spent=iterations_spent(summaries),
    )
    grouped = frame.groupby(GROUP_COLUMNS, sort=True, observed=True)
    stats = grouped.agg(
        runs=("success", "size"),
        successes=("success", "sum"),
        total_spent=("spent", "sum"),
    )
    stats["median_iters"] = grouped["hit_iter"].median().astype(float)
    stats["success_rate"] = stats["successes"] / stats["runs"]
    with np.errstate(divide="ignore"):
        stats["art"] = np.where(stats["successes"] > 0, stats["total_spent"] / stats["successes"], np.inf)
    stats = stats.reset_index()
    stats["successes"] = stats["successes"].astype(np.int64)
    stats["runs"] = stats["runs"].astype(np.int64)
    # Descending tolerance within a cell reads as "easy target first".
    stats = stats.sort_values(
        ["experiment", "parameterization", "method", "lr", "tolerance"],
        ascending=[True, True, True, True, False],
        kind="mergesort",
    )
    return stats[GROUP_COLUMNS + STAT_COLUMNS].reset_index(drop=True)
