"""Statistics over run summaries, COCO-style: every run counts, failures included.

For a tolerance τ a run succeeds if its gap ever reaches τ; it spends `hit_iter` iterations if it
succeeds and its whole budget if not, whether it ran out of steps or failed early (diverged, left the
domain): a failure at step 1 would have to be restarted, and when an unstable run blows up moves
with the last bit of its arithmetic from one CPU to another. aRT = (iterations spent by all runs) /
successes, ∞ when no run succeeds.

Learning rates are tuned honestly: `best_learning_rates` picks each method's learning rate on one
half of the seeds and reports it on the other half; `paired_comparison` compares two methods at
those learning rates, seed by seed, on the reporting half.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from ngbench.runner import FAILURE_STATUSES

GROUP_COLUMNS = ["experiment", "target", "parameterization", "method", "lr", "tolerance"]
STAT_COLUMNS = [
    "runs",
    "successes",
    "success_rate",
    "median_iters",
    "q25_iters",
    "q75_iters",
    "median_grad_evals",
    "median_solves",
    "median_final_test_log_loss",
    "art",
    "art_low",
    "art_high",
]
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_LEVEL = 0.90


def iterations_spent(summaries: pd.DataFrame) -> pd.Series:
    """Iterations charged to each row: `hit_iter` where the run got there, else its whole budget."""
    hit = summaries["hit_iter"]
    return hit.where(hit.notna(), summaries["budget"]).astype(float)


def _art(spent: np.ndarray, success: np.ndarray) -> np.ndarray:
    """aRT along the last axis: total spent / successes, ∞ without a success."""
    successes = success.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(successes > 0, spent.sum(axis=-1) / np.maximum(successes, 1), np.inf)


def bootstrap_art_interval(spent: np.ndarray, success: np.ndarray, key: str) -> tuple[float, float]:
    """A 90 % percentile-bootstrap interval for aRT over runs, resampled with replacement.

    The generator is keyed by the group's name, so an interval does not move when other groups are
    added to the table; quantiles are taken as sample values, so ∞ (no success in a resample) is kept.
    """
    rng = np.random.default_rng([zlib.crc32(key.encode()), len(spent)])
    picks = rng.integers(0, len(spent), size=(BOOTSTRAP_RESAMPLES, len(spent)))
    resampled = _art(spent[picks], success[picks])
    tail = (1 - BOOTSTRAP_LEVEL) / 2
    low, high = np.quantile(resampled, [tail, 1 - tail], method="inverted_cdf")
    return float(low), float(high)


def settled_metric(summaries: pd.DataFrame, column: str) -> np.ndarray:
    """A last-iterate metric where the run settled (the summaries' `settled`, see
    `ngbench.solve.settled_runs`), NaN elsewhere: where an unsettled run ends is chaos, a number that
    moves with the last bit of the arithmetic from one CPU to another."""
    if column not in summaries:
        return np.full(len(summaries), np.nan)
    values = summaries[column].to_numpy(dtype=float, na_value=np.nan)
    return np.where(summaries["settled"].to_numpy(dtype=bool), values, np.nan)


def iteration_counts(summaries: pd.DataFrame) -> pd.DataFrame:
    """One row per (experiment, target, parameterization, method, lr, tolerance)."""
    success = summaries["hit_iter"].notna().to_numpy()
    spent = iterations_spent(summaries).to_numpy()
    hit_iter = summaries["hit_iter"].to_numpy(dtype=float, na_value=np.nan)
    cost_columns = [summaries[c].to_numpy(dtype=float) for c in ("grad_evals", "solves")]
    test_loss = settled_metric(summaries, "final_test_log_loss")
    rows = []
    # Positions per group, then numpy on each: thousands of groups, no DataFrame per group.
    groups = summaries.groupby(GROUP_COLUMNS, sort=True, observed=True).indices
    for key in sorted(groups):
        at = groups[key]
        won = success[at]
        hits = hit_iter[at][won]
        quartiles = np.percentile(hits, [25, 50, 75]) if hits.size else [np.nan] * 3
        # The cost of reaching the tolerance (MC samples and solves count, not only iterations).
        costs = [float(np.median(column[at][won])) if hits.size else np.nan for column in cost_columns]
        # Held-out log-loss where the target has one, over the runs that settled (see settled_metric).
        losses = test_loss[at]
        costs.append(float(np.nanmedian(losses)) if not np.isnan(losses).all() else np.nan)
        low, high = bootstrap_art_interval(spent[at], won, "/".join(map(str, key)))
        rows.append(
            (
                *key,
                len(at),
                int(won.sum()),
                won.mean(),
                quartiles[1],
                quartiles[0],
                quartiles[2],
                *costs,
                float(_art(spent[at], won)),
                low,
                high,
            )
        )
    stats = pd.DataFrame(rows, columns=GROUP_COLUMNS + STAT_COLUMNS)
    # Descending tolerance within a cell reads as "easy target first".
    stats = stats.sort_values(
        ["experiment", "parameterization", "method", "lr", "tolerance"],
        ascending=[True, True, True, True, False],
        kind="mergesort",
    )
    return stats.reset_index(drop=True)


def split_seeds(seeds) -> tuple[list[int], list[int]]:
    """Tuning half (even positions) and reporting half (odd positions) of the sorted seeds.

    With a single seed there is nothing to hold out: both halves are that seed, and the tables say so.
    """
    ordered = sorted(set(int(s) for s in seeds))
    if len(ordered) < 2:
        return ordered, ordered
    return ordered[0::2], ordered[1::2]


def best_learning_rates(summaries: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Per (experiment, parameterization, method): the lr ranked first on the tuning half, reported
    on the other half, with the number of learning rates tried (the tuning budget).

    The ranking (`rank_learning_rates`) uses counts and iterations only, which every CPU computes
    alike.
    """
    summaries = summaries.reset_index(drop=True)
    frame = summaries.assign(success=summaries["hit_iter"].notna(), spent=iterations_spent(summaries))
    at_tolerance = pd.Series(np.isclose(frame["tolerance"], tolerance, rtol=1e-12, atol=0), index=frame.index)
    tuning, reporting = split_seeds(frame["seed"].unique())
    rows = []
    for (experiment, parameterization, method), cell in frame.groupby(
        ["experiment", "parameterization", "method"], sort=True, observed=True
    ):
        ranking = rank_learning_rates(cell[cell["seed"].isin(tuning)], tolerance)
        best = float(ranking.index[0])
        held_out = cell[at_tolerance[cell.index] & cell["seed"].isin(reporting) & (cell["lr"] == best)]
        hits = held_out.loc[held_out["success"], "hit_iter"].to_numpy(dtype=float)
        rows.append(
            {
                "experiment": experiment,
                "parameterization": parameterization,
                "method": method,
                "tolerance": tolerance,
                "learning_rates_tried": int(cell["lr"].nunique()),
                "best_lr": best,
                "tuning_art": float(ranking["art"].iloc[0]),
                "tuning_seeds": len(tuning),
                "reporting_seeds": len(reporting),
                "runs": len(held_out),
                "successes": int(held_out["success"].sum()),
                "median_iters": float(np.median(hits)) if hits.size else np.nan,
                "art": float(_art(held_out["spent"].to_numpy(), held_out["success"].to_numpy()))
                if len(held_out)
                else np.inf,
            }
        )
    return pd.DataFrame(rows)


def rank_learning_rates(runs: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """The learning rates of one (chart, method) on the given runs, best first.

    In order: the smallest aRT at `tolerance`; then at each looser tolerance of the row, tightest
    first (the lr that gets closest to f*, fastest); then the fewest failed runs; then the smaller
    lr. Every key is a count or a ratio of counts, equal on every CPU. No float decides: the gap a
    run that never reaches any tolerance ends at is wherever its dynamics left it, and which of two
    such gaps is smaller can change with the last bit of the arithmetic. `runs` has the summary
    columns plus `success` and `spent`; the result is indexed by lr, with the aRT at `tolerance` in
    column `art`.
    """
    tolerances = sorted({float(t) for t in runs["tolerance"] if t >= tolerance * (1 - 1e-12)})
    if not tolerances or not np.isclose(tolerances[0], tolerance, rtol=1e-12, atol=0):
        raise ValueError(f"no runs at tolerance {tolerance:g} to tune on")
    keys = {}
    for lr, group in runs.groupby("lr", sort=True):
        by_tolerance = [group[np.isclose(group["tolerance"], t, rtol=1e-12, atol=0)] for t in tolerances]
        arts = [float(_art(g["spent"].to_numpy(), g["success"].to_numpy())) for g in by_tolerance]
        main = by_tolerance[0]
        failures = int(main["status"].isin(FAILURE_STATUSES).sum())
        keys[lr] = (*arts, failures, lr)
    order = sorted(keys, key=keys.get)
    return pd.DataFrame({"art": [keys[lr][0] for lr in order]}, index=pd.Index(order, name="lr"))


def holm(p_values) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaN stays NaN and is not counted)."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="mergesort")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[index]))
        adjusted[index] = running
    return adjusted


def paired_comparison(
    summaries: pd.DataFrame,
    tolerance: float,
    first: str = "ngd",
    second: str = "gd",
    best: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`first` against `second` on the same seeds of the reporting half, each at its tuned lr.

    A run's runtime is its iterations to the tolerance; a run that never gets there is censored and
    ranks behind every run that does (runtime = ∞; two censored runs tie). The two-sided Wilcoxon
    signed-rank test runs on the paired differences of ranks-compatible runtimes, zero differences
    dropped; p-values are Holm-corrected over the parameterizations of an experiment. `best` is
    `best_learning_rates(summaries, tolerance)` where the caller has it already.
    """
    from scipy.stats import wilcoxon

    best = best_learning_rates(summaries, tolerance) if best is None else best
    best = best.set_index(["experiment", "parameterization", "method"])
    at_tolerance = summaries[np.isclose(summaries["tolerance"], tolerance, rtol=1e-12, atol=0)]
    _, reporting = split_seeds(at_tolerance["seed"].unique())
    rows = []
    for (experiment, parameterization), cell in at_tolerance.groupby(
        ["experiment", "parameterization"], sort=True
    ):
        if {first, second} - set(cell["method"]):
            continue
        runtimes = {}
        for method in (first, second):
            lr = best.loc[(experiment, parameterization, method), "best_lr"]
            runs = cell[(cell["method"] == method) & (cell["lr"] == lr) & cell["seed"].isin(reporting)]
            runtimes[method] = runs.set_index("seed")["hit_iter"].astype(float).fillna(np.inf)
        paired = pd.concat(runtimes, axis=1, join="inner").dropna()
        a, b = paired[first].to_numpy(), paired[second].to_numpy()
        # Censored runtimes: finite stand-ins above every observed one keep the signed ranks right.
        ceiling = np.nanmax(np.where(np.isfinite(np.r_[a, b, 0.0]), np.r_[a, b, 0.0], np.nan)) + 1
        differences = np.where(np.isfinite(a), a, ceiling) - np.where(np.isfinite(b), b, ceiling)
        p_value = float(wilcoxon(differences).pvalue) if np.any(differences != 0) else np.nan
        both = np.isfinite(a) & np.isfinite(b)
        rows.append(
            {
                "experiment": experiment,
                "parameterization": parameterization,
                "tolerance": tolerance,
                f"{first}_lr": best.loc[(experiment, parameterization, first), "best_lr"],
                f"{second}_lr": best.loc[(experiment, parameterization, second), "best_lr"],
                "pairs": len(paired),
                f"{first}_faster": int((differences < 0).sum()),
                f"{second}_faster": int((differences > 0).sum()),
                "ties": int((differences == 0).sum()),
                "median_speedup": float(np.median(b[both] / np.maximum(a[both], 1)))
                if both.any()
                else np.nan,
                "p_value": p_value,
            }
        )
    table = pd.DataFrame(rows)
    if len(table):
        table["p_holm"] = np.concatenate(
            [holm(g["p_value"]) for _, g in table.groupby("experiment", sort=True)]
        )
    return table


BASELINE_COLUMNS = [
    "experiment",
    "parameterization",
    "baseline",
    "tolerance",
    "ngd_lr",
    "baseline_lr",
    "pairs",
    "ngd_faster",
    "baseline_faster",
    "ties",
    "median_speedup",
    "p_value",
    "p_holm",
]


def ngd_against_baselines(
    summaries: pd.DataFrame, tolerance: float, best: pd.DataFrame | None = None
) -> pd.DataFrame:
    """NGD against every other method of the experiment (GD, Adam, Newton, EF, EM), chart by chart.

    Each comparison is `paired_comparison` (both methods at their tuned learning rates, on the same
    reporting seeds); p-values are Holm-corrected over all comparisons of an experiment, charts and
    baselines together.
    """
    from ngbench.methods import METHODS

    best = best_learning_rates(summaries, tolerance) if best is None else best
    present = set(summaries["method"].unique())
    frames = []
    for baseline in (m for m in METHODS if m != "ngd" and m in present):
        table = paired_comparison(summaries, tolerance, "ngd", baseline, best)
        if table.empty:
            continue
        renamed = {f"{baseline}_lr": "baseline_lr", f"{baseline}_faster": "baseline_faster"}
        table = table.rename(columns=renamed)
        frames.append(table.assign(baseline=baseline))
    if not frames:
        return pd.DataFrame(columns=BASELINE_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    table["p_holm"] = np.nan
    for _, rows in table.groupby("experiment", sort=True):
        table.loc[rows.index, "p_holm"] = holm(rows["p_value"])
    order = {name: rank for rank, name in enumerate(METHODS)}
    table = table.assign(rank=table["baseline"].map(order))
    table = table.sort_values(["experiment", "parameterization", "rank"], kind="mergesort")
    return table[BASELINE_COLUMNS].reset_index(drop=True)


def wall_times(summaries: pd.DataFrame, timings: list[dict], tolerance: float) -> pd.DataFrame:
    """Wall time per cell: µs per run-step, and the median time of a successful run to `tolerance`.

    A cell runs all its runs as one array program, so a run's time is its share: the cell's seconds
    times its steps over the steps of all runs. Not reproducible byte for byte, unlike the other tables.
    """
    cells = pd.DataFrame(timings)
    cells["microseconds_per_step"] = 1e6 * cells["seconds"] / cells["run_steps"].clip(lower=1)
    at_tolerance = summaries[np.isclose(summaries["tolerance"], tolerance)]
    keys = ["experiment", "parameterization", "method"]
    median_hits = (
        at_tolerance.groupby(keys, observed=True)["hit_iter"].median().rename("median_hit_iter").reset_index()
    )
    table = cells.merge(median_hits, on=keys, how="left")
    table["median_seconds_to_tolerance"] = table["median_hit_iter"] * table["microseconds_per_step"] / 1e6
    table["tolerance"] = tolerance
    return table.sort_values(keys, kind="mergesort").reset_index(drop=True)
