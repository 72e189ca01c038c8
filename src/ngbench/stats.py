"""Statistics over run summaries, COCO-style: every run counts, failures included.

For a tolerance τ a run succeeds if its gap ever reaches τ; it spends `hit_iter` iterations if it
succeeds and its whole budget if not, whether it ran out of steps or failed early (diverged, left the
domain): a failure at step 1 would have to be restarted, and when an unstable run blows up moves
with the last bit of its arithmetic from one CPU to another. aRT = (iterations spent by all runs) /
successes, ∞ when no run succeeds.

Learning rates are tuned honestly, by two-fold cross-fitting over the seeds: `best_learning_rates`
picks each method's learning rate on the even-valued seeds and reports it on the odd ones, and the
other way round, so every seed reports at a learning rate chosen without it; `paired_comparison`
compares two methods seed by seed at those learning rates, with a test built for censored runtimes.
Intervals and p-values are exact and distribution-free (`ngbench.inference`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from ngbench import portable
from ngbench.inference import (
    SWAP_RESAMPLES,
    clopper_pearson,
    hodges_lehmann,
    median_interval,
    midranks,
    sign_test_p,
    signed_rank_p,
    swap_test_floor,
)
from ngbench.runner import FAILURE_STATUSES

GROUP_COLUMNS = ["experiment", "target", "parameterization", "method", "lr", "tolerance"]
STAT_COLUMNS = [
    "runs",
    "successes",
    "success_rate",
    "success_low",
    "success_high",
    "median_iters",
    "median_iters_low",
    "median_iters_high",
    "q25_iters",
    "q75_iters",
    "median_grad_evals",
    "median_solves",
    "median_final_test_log_loss",
    "art",
]


def iterations_spent(summaries: pd.DataFrame) -> pd.Series:
    """Iterations charged to each row: `hit_iter` where the run got there, else its whole budget."""
    hit = summaries["hit_iter"]
    return hit.where(hit.notna(), summaries["budget"]).astype(float)


def _art(spent: np.ndarray, success: np.ndarray) -> np.ndarray:
    """aRT along the last axis: total spent / successes, ∞ without a success."""
    successes = success.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(successes > 0, spent.sum(axis=-1) / np.maximum(successes, 1), np.inf)


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
        # Two intervals with the coverage they claim, instead of one for aRT that has none at n = 20:
        # the success probability (Clopper–Pearson) and the median iterations of a successful run.
        success_interval = clopper_pearson(int(won.sum()), len(at))
        median_bounds = median_interval(hits)
        # The cost of reaching the tolerance (MC samples and solves count, not only iterations).
        costs = [float(np.median(column[at][won])) if hits.size else np.nan for column in cost_columns]
        # Held-out log-loss where the target has one, over the runs that settled (see settled_metric).
        losses = test_loss[at]
        costs.append(float(np.nanmedian(losses)) if not np.isnan(losses).all() else np.nan)
        rows.append(
            (
                *key,
                len(at),
                int(won.sum()),
                won.mean(),
                *success_interval,
                quartiles[1],
                *median_bounds,
                quartiles[0],
                quartiles[2],
                *costs,
                float(_art(spent[at], won)),
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


TUNING_RULES = ("success_first", "art")
DEFAULT_TUNING_RULE = "success_first"
# success_first: learning rates whose tuning successes are within this fraction of the runs of the
# best one's count compete on aRT (a 9/10 lr that is much faster may beat a slow 10/10 one).
SUCCESS_MARGIN = 0.1


@dataclass(frozen=True)
class Fold:
    """One direction of the two-fold cross-fit: tune on `tuning`, report on `reporting`."""

    name: str  # "even" (tuned on even-valued seeds), "odd", or "all" (nothing held out)
    tuning: tuple[int, ...]
    reporting: tuple[int, ...]


def folds(seeds) -> list[Fold]:
    """Two-fold cross-fitting by seed value: tune on the even-valued seeds and report on the odd ones,
    then the other way round, so every seed reports at a learning rate chosen without it.

    Where every seed has one parity (a single seed, or a list such as [1, 3, 5]) nothing can be held
    out: one fold "all" tunes and reports on the same seeds, and the tables say so.
    """
    values = sorted({int(s) for s in seeds})
    even = tuple(s for s in values if s % 2 == 0)
    odd = tuple(s for s in values if s % 2 == 1)
    if not even or not odd:
        return [Fold("all", tuple(values), tuple(values))]
    return [Fold("even", even, odd), Fold("odd", odd, even)]


def best_learning_rates(
    summaries: pd.DataFrame, tolerance: float, rule: str = DEFAULT_TUNING_RULE
) -> pd.DataFrame:
    """Per (experiment, parameterization, method) and fold: the lr chosen by `rule` on the fold's
    tuning seeds, and how it did on its reporting seeds, with the number of learning rates tried.

    The choice (`rank_learning_rates`) uses counts and iterations only, which every CPU computes alike.
    """
    summaries = summaries.reset_index(drop=True)
    frame = summaries.assign(success=summaries["hit_iter"].notna(), spent=iterations_spent(summaries))
    at_tolerance = pd.Series(np.isclose(frame["tolerance"], tolerance, rtol=1e-12, atol=0), index=frame.index)
    rows = []
    for fold in folds(frame["seed"].unique()):
        for (experiment, parameterization, method), cell in frame.groupby(
            ["experiment", "parameterization", "method"], sort=True, observed=True
        ):
            tuning_runs = cell[cell["seed"].isin(fold.tuning)]
            ranking = rank_learning_rates(tuning_runs, tolerance, rule)
            best = float(ranking.index[0])
            held_out = cell[
                at_tolerance[cell.index] & cell["seed"].isin(fold.reporting) & (cell["lr"] == best)
            ]
            hits = held_out.loc[held_out["success"], "hit_iter"].to_numpy(dtype=float)
            rows.append(
                {
                    "experiment": experiment,
                    "parameterization": parameterization,
                    "method": method,
                    "tolerance": tolerance,
                    "tuning_rule": rule,
                    "fold": fold.name,
                    "learning_rates_tried": int(cell["lr"].nunique()),
                    "best_lr": best,
                    "tuning_seeds": len(fold.tuning),
                    "tuning_successes": int(ranking["successes"].iloc[0]),
                    "tuning_art": float(ranking["art"].iloc[0]),
                    "reporting_seeds": len(fold.reporting),
                    "runs": len(held_out),
                    "successes": int(held_out["success"].sum()),
                    "median_iters": float(np.median(hits)) if hits.size else np.nan,
                    "art": float(_art(held_out["spent"].to_numpy(), held_out["success"].to_numpy()))
                    if len(held_out)
                    else np.inf,
                }
            )
    best = pd.DataFrame(rows)
    if best.empty:
        return best
    order = {name: rank for rank, name in enumerate(("all", "even", "odd"))}
    best = best.assign(fold_rank=best["fold"].map(order))
    best = best.sort_values(["experiment", "parameterization", "method", "fold_rank"], kind="mergesort")
    return best.drop(columns="fold_rank").reset_index(drop=True)


def rank_learning_rates(
    runs: pd.DataFrame, tolerance: float, rule: str = DEFAULT_TUNING_RULE
) -> pd.DataFrame:
    """The learning rates of one (chart, method) on the given runs, best first, by `rule`.

    `art`: the smallest aRT at `tolerance` (a failed run charged the whole budget).
    `success_first`: the most successes at `tolerance` first — every lr within `SUCCESS_MARGIN` of the
    runs of the best count ties — then as `art`.
    Either way, ties are broken by the aRT at each looser tolerance of the row, tightest first (the
    lr that gets closest to f*, fastest); then by the fewest failed runs; then the smaller lr. Every
    key is a count or a ratio of counts, equal on every CPU. No float decides: the gap a run that
    never reaches any tolerance ends at is wherever its dynamics left it, and which of two such gaps
    is smaller can change with the last bit of the arithmetic. `runs` has the summary columns plus
    `success` and `spent`; the result is indexed by lr, with the aRT and the successes at `tolerance`.
    """
    if rule not in TUNING_RULES:
        raise ValueError(f"unknown tuning rule {rule!r} (known: {', '.join(TUNING_RULES)})")
    tolerances = sorted({float(t) for t in runs["tolerance"] if t >= tolerance * (1 - 1e-12)})
    if not tolerances or not np.isclose(tolerances[0], tolerance, rtol=1e-12, atol=0):
        raise ValueError(f"no runs at tolerance {tolerance:g} to tune on")
    keys = {}
    successes = {}
    for lr, group in runs.groupby("lr", sort=True):
        by_tolerance = [group[np.isclose(group["tolerance"], t, rtol=1e-12, atol=0)] for t in tolerances]
        arts = [float(_art(g["spent"].to_numpy(), g["success"].to_numpy())) for g in by_tolerance]
        main = by_tolerance[0]
        failures = int(main["status"].isin(FAILURE_STATUSES).sum())
        successes[lr] = (int(main["success"].sum()), len(main))
        keys[lr] = (*arts, failures, lr)
    if rule == "success_first":
        most = max(count for count, _ in successes.values())
        runs_per_lr = max(n for _, n in successes.values())
        # Whole runs: a margin of 10 % of 10 runs is one run. Counts, so no float decides a tie.
        margin = math.floor(SUCCESS_MARGIN * runs_per_lr + 1e-9)
        keys = {lr: (successes[lr][0] < most - margin, *key) for lr, key in keys.items()}
    order = sorted(keys, key=keys.get)
    art_position = 1 if rule == "success_first" else 0
    return pd.DataFrame(
        {
            "art": [keys[lr][art_position] for lr in order],
            "successes": [successes[lr][0] for lr in order],
        },
        index=pd.Index(order, name="lr"),
    )


def tuned_runs(summaries: pd.DataFrame, best: pd.DataFrame) -> pd.DataFrame:
    """The rows of `summaries` (or trajectories) that report: each seed's runs at the learning rate
    its fold tuned without it (`best` from `best_learning_rates`), every seed once."""
    assignments = []
    seeds = sorted({int(s) for s in summaries["seed"].unique()})
    for fold in folds(seeds):
        named = [k for k in ("experiment", "parameterization", "method") if k in best]
        chosen = best[best["fold"] == fold.name][[*named, "best_lr"]]
        assignments.append(chosen.merge(pd.DataFrame({"seed": list(fold.reporting)}), how="cross"))
    assigned = pd.concat(assignments, ignore_index=True)
    keys = [k for k in ("experiment", "parameterization", "method") if k in summaries and k in assigned]
    assigned = assigned[[*keys, "seed", "best_lr"]].astype({"seed": summaries["seed"].dtype})
    merged = summaries.merge(assigned, on=[*keys, "seed"], how="inner")
    return merged[merged["lr"] == merged["best_lr"]].drop(columns="best_lr")


def tuned_lr_label(best: pd.DataFrame, parameterization: str, method: str) -> str:
    """The learning rate(s) a (chart, method) reports at: one number, or "a / b" when the two folds
    chose differently (a tuned on the even seeds)."""
    rows = best[(best["parameterization"] == parameterization) & (best["method"] == method)]
    values = list(dict.fromkeys(f"{lr:.4g}" for lr in rows["best_lr"]))
    return " / ".join(values)


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


def _runtime_ratio(slower: float, faster: float) -> Fraction:
    return Fraction(max(int(slower), 1), max(int(faster), 1))


def censored_paired_test(first: np.ndarray, second: np.ndarray) -> dict:
    """Paired runtimes (iterations to the tolerance, ∞ where the run never got there) of two methods.

    Each pair scores its log speed-up log(second / first): positive when `first` is faster. A pair
    where only one run succeeded has a difference of known sign and unknown size, at least as large
    as a failure is bad: it ranks above every pair where both succeeded; two failures tie. The
    two-sided p is the exact signed-rank test over those midranks (`inference.signed_rank_p`): valid
    for censored runtimes, since under "no difference" each pair's two runs, censoring included,
    are exchangeable. Magnitudes are compared as exact ratios of iteration counts (no rounding).
    Reported separately: the exact sign test on the pairs where only one succeeded, and the
    Hodges–Lehmann log speed-up over the pairs where both did, with its 90 % interval.
    """
    a_ok, b_ok = np.isfinite(first), np.isfinite(second)
    keys, signs = [], []
    for a, b, a_won, b_won in zip(first, second, a_ok, b_ok, strict=True):
        if a_won and b_won:
            keys.append((0, max(_runtime_ratio(b, a), _runtime_ratio(a, b))))
            signs.append(int(np.sign(b - a)))
        elif a_won or b_won:
            keys.append((1, Fraction(0)))  # above every finite ratio; all such pairs tie
            signs.append(1 if a_won else -1)
        else:
            keys.append((0, Fraction(1)))
            signs.append(0)
    both = a_ok & b_ok
    log_speedups = portable.log(np.maximum(second[both], 1.0)) - portable.log(np.maximum(first[both], 1.0))
    estimate, low, high = hodges_lehmann(log_speedups)
    signs = np.asarray(signs, dtype=int)
    # Which method the signed ranks favour: the larger of the two rank sums (exact, in fractions).
    ranks = midranks([key for key, sign in zip(keys, signs, strict=True) if sign != 0])
    nonzero = signs[signs != 0]
    balance = sum(r for r, sign in zip(ranks, nonzero, strict=True) if sign > 0) - sum(
        r for r, sign in zip(ranks, nonzero, strict=True) if sign < 0
    )
    return {
        "favours": "first" if balance > 0 else "second" if balance < 0 else "neither",
        "first_faster": int((signs > 0).sum()),
        "second_faster": int((signs < 0).sum()),
        "ties": int((signs == 0).sum()),
        "both_succeed": int(both.sum()),
        "only_first": int((a_ok & ~b_ok).sum()),
        "only_second": int((b_ok & ~a_ok).sum()),
        "log_speedup": estimate,
        "log_speedup_low": low,
        "log_speedup_high": high,
        "p_value": signed_rank_p(keys, signs.tolist()),
        "p_success": sign_test_p(int((a_ok & ~b_ok).sum()), int((b_ok & ~a_ok).sum())),
    }


def _sweep_arrays(cell: pd.DataFrame, methods: tuple[str, str], tolerance: float):
    """A chart's runs of two methods as arrays over (method, lr, seed[, tolerance]).

    Returns the learning rates, the seeds, and success, spent (iterations charged), failed and the
    runtime at `tolerance` (∞ where the run never got there); None if the grid is not complete.
    """
    tolerances = sorted({float(t) for t in cell["tolerance"] if t >= tolerance * (1 - 1e-12)})
    lrs = np.array(sorted(cell["lr"].unique()), dtype=float)
    seeds = np.array(sorted(cell["seed"].unique()), dtype=np.int64)
    shape = (2, len(lrs), len(seeds), len(tolerances))
    if len(cell[cell["tolerance"].isin(tolerances)]) != int(np.prod(shape)):
        return None
    m = cell["method"].map({methods[0]: 0, methods[1]: 1}).to_numpy()
    li = np.searchsorted(lrs, cell["lr"].to_numpy(dtype=float))
    si = np.searchsorted(seeds, cell["seed"].to_numpy(dtype=np.int64))
    ti = np.array([tolerances.index(float(t)) if float(t) in tolerances else -1 for t in cell["tolerance"]])
    keep = ti >= 0
    success = np.zeros(shape)
    spent = np.zeros(shape)
    failed = np.zeros(shape[:3])
    hit = cell["hit_iter"].to_numpy(dtype=float, na_value=np.nan)
    success[m[keep], li[keep], si[keep], ti[keep]] = ~np.isnan(hit[keep])
    spent[m[keep], li[keep], si[keep], ti[keep]] = iterations_spent(cell).to_numpy()[keep]
    main = keep & (ti == 0)
    failed[m[main], li[main], si[main]] = cell["status"].isin(FAILURE_STATUSES).to_numpy()[main]
    runtime = np.full(shape[:3], np.inf)
    runtime[m[main], li[main], si[main]] = np.where(np.isnan(hit[main]), np.inf, hit[main])
    return lrs, seeds, success, spent, failed, runtime


def _swap_statistics(arrays, seeds, swaps: np.ndarray, rule: str) -> np.ndarray:
    """The signed-rank statistic Σ sign·midrank of the reported runtimes under each swap pattern.

    swaps: (B, S) booleans, True where a seed's two methods trade their whole learning-rate sweeps.
    Each pattern is tuned afresh (cross-fitted, by `rule`), so the statistic carries the luck of
    tuning with it.
    """
    success, spent, failed, runtime = arrays
    n_seeds = len(seeds)
    swapped = swaps.astype(float)  # (B, S)
    chosen = np.zeros((len(swaps), 2, n_seeds), dtype=np.int64)  # lr index per (pattern, method, seed)
    for fold in folds(seeds):
        tuning = np.isin(seeds, fold.tuning).astype(float)
        reporting = np.isin(seeds, fold.reporting)
        picks = []
        for m in (0, 1):
            sums = []
            for data in (success, spent, failed):
                own, other = data[m], data[1 - m]  # (L, S[, T])
                base = np.tensordot(own, tuning, axes=([1], [0]))  # (L[, T])
                delta = np.moveaxis(other - own, 1, 0) * tuning.reshape((-1,) + (1,) * (own.ndim - 1))
                sums.append(base + np.tensordot(swapped, delta, axes=([1], [0])))  # exact: integer sums
            successes, spent_sums, failures = sums
            excluded = np.zeros(successes.shape[:-1])
            if rule == "success_first":
                margin = math.floor(SUCCESS_MARGIN * len(fold.tuning) + 1e-9)
                most = successes[..., 0].max(axis=-1, keepdims=True)
                excluded = (successes[..., 0] < most - margin).astype(float)
            picks.append(_first_learning_rate(excluded, successes, spent_sums, failures))
        for m in (0, 1):
            chosen[:, m, reporting] = picks[m][:, None]
    # Reported runtime of method m on seed s: its own run, or the other's where the seed is swapped.
    seed_index = np.arange(n_seeds)[None, :]
    first = np.where(swaps, runtime[1][chosen[:, 0], seed_index], runtime[0][chosen[:, 0], seed_index])
    second = np.where(swaps, runtime[0][chosen[:, 1], seed_index], runtime[1][chosen[:, 1], seed_index])
    return _signed_rank_statistic(first, second)


def _first_learning_rate(excluded, success, spent, failed) -> np.ndarray:
    """`rank_learning_rates`' first lr, batched: the lexicographic smallest (excluded, aRT at each
    tolerance tightest first, failures, lr). Inputs are sums over the tuning seeds, (B, L[, T])."""
    with np.errstate(divide="ignore", invalid="ignore"):
        arts = np.where(success > 0, spent / np.maximum(success, 1), np.inf)
    keys = [excluded] + [arts[..., t] for t in range(arts.shape[-1])] + [failed]
    candidates = np.ones(excluded.shape, dtype=bool)
    for key in keys:
        smallest = np.min(np.where(candidates, key, np.inf), axis=-1, keepdims=True)
        candidates &= key == smallest  # ∞ == ∞: lrs with no success at this tolerance stay tied
    return np.argmax(candidates, axis=-1)  # the first candidate: the smallest lr


def batched_midranks(values: np.ndarray) -> np.ndarray:
    """`inference.midranks` of each row, batched along the last axis: scipy's
    `rankdata(method="average")`, whose module (`scipy.stats`) took longer to import than an
    experiment's statistics take to compute. Half-integers: exact in floating point."""
    order = np.argsort(values, axis=-1, kind="stable")
    ordered_values = np.take_along_axis(values, order, axis=-1)
    positions = np.broadcast_to(np.arange(values.shape[-1]), values.shape)
    starts_group = np.ones(values.shape, dtype=bool)
    starts_group[..., 1:] = ordered_values[..., 1:] != ordered_values[..., :-1]
    ends_group = np.ones(values.shape, dtype=bool)
    ends_group[..., :-1] = starts_group[..., 1:]
    first = np.maximum.accumulate(np.where(starts_group, positions, 0), axis=-1)
    last = np.flip(
        np.minimum.accumulate(np.flip(np.where(ends_group, positions, values.shape[-1] - 1), -1), axis=-1), -1
    )
    ranks = np.empty(values.shape, dtype=float)
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, axis=-1)
    return ranks


def _signed_rank_statistic(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Σ sign·midrank over the pairs of each row (B, n): `censored_paired_test`'s ranking, batched."""
    a_ok, b_ok = np.isfinite(first), np.isfinite(second)
    both = a_ok & b_ok
    a1, b1 = np.maximum(np.where(a_ok, first, 1.0), 1.0), np.maximum(np.where(b_ok, second, 1.0), 1.0)
    # Equal ratios of integers are equal floats (division is correctly rounded): exact ties.
    ratio = np.where(both, np.maximum(a1, b1) / np.minimum(a1, b1), 0.0)
    sign = np.where(both, np.sign(b1 - a1), np.where(a_ok & ~b_ok, 1.0, np.where(b_ok & ~a_ok, -1.0, 0.0)))
    key = np.where(both, ratio, np.inf)
    key = np.where(sign == 0, -1.0, key)  # ties drop out: ranked below, then shifted away
    ranks = batched_midranks(key)
    zeros = (sign == 0).sum(axis=-1, keepdims=True)
    return np.sum(sign * (ranks - zeros), axis=-1)


def swap_test(cell: pd.DataFrame, methods: tuple[str, str], tolerance: float, rule: str, key: str) -> dict:
    """Two-sided p of "the two methods are the same procedure over this lr grid", tuning included.

    Under that null, each seed's two whole learning-rate sweeps are exchangeable: swapping them
    seed by seed and tuning again gives the statistic's distribution, tuning luck and all (a p-value
    at the tuned learning rates alone would treat them as fixed and reject too often). Every one of
    the 2ⁿ swap patterns when there are at most `SWAP_RESAMPLES` + 1 of them, else that many random
    ones from a generator keyed by the comparison (p = (1 + as extreme)/(1 + resamples)).
    `min_attainable_p` is the smallest p the test could give with these seeds: 2/2ⁿ' over the n'
    seeds whose two sweeps differ at all, or the Monte Carlo floor.
    """
    import zlib

    built = _sweep_arrays(cell, methods, tolerance)
    if built is None:
        return {"p_value": math.nan, "min_attainable_p": math.nan}
    lrs, seeds, success, spent, failed, runtime = built
    n = len(seeds)
    # Seeds whose two sweeps differ somewhere: swapping the others changes nothing.
    differs = [
        (data[0] != data[1]).reshape(len(lrs), n, -1).any(axis=(0, 2)) for data in (success, spent, failed)
    ]
    informative = int(np.logical_or.reduce(differs).sum())
    if 2**n <= SWAP_RESAMPLES + 1:
        patterns = ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)
    else:
        rng = np.random.default_rng([zlib.crc32(key.encode()), n])
        patterns = np.vstack(
            [np.zeros((1, n), dtype=bool), rng.integers(0, 2, size=(SWAP_RESAMPLES, n)).astype(bool)]
        )
    statistics = _swap_statistics((success, spent, failed, runtime), seeds, patterns, rule)
    observed = abs(statistics[0])
    if observed == 0 and not np.any(statistics != 0):
        return {"p_value": math.nan, "min_attainable_p": math.nan}
    extreme = int(np.sum(np.abs(statistics) >= observed - 1e-9))
    # Exact: the share of all 2ⁿ patterns; Monte Carlo: (1 + as extreme)/(1 + resamples), the
    # identity pattern (row 0) being the observed one.
    p = extreme / len(patterns)
    floor = swap_test_floor(informative)
    if 2**n > SWAP_RESAMPLES + 1:  # sampled: never below one in the patterns drawn, whatever n'
        floor = max(floor, 1.0 / (SWAP_RESAMPLES + 1))
    return {"p_value": float(min(1.0, p)), "min_attainable_p": floor}


def paired_comparison(
    summaries: pd.DataFrame,
    tolerance: float,
    first: str = "ngd",
    second: str = "gd",
    best: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`first` against `second`, seed by seed, each seed's runs at the learning rates tuned without it
    (cross-fitting: every seed reports). The counts, the speed-up and `p_fixed_lr` come from
    `censored_paired_test` at those learning rates; `p_value` from `swap_test`, which tunes again
    under every swap so that the luck of tuning is part of its null distribution. p-values are
    Holm-corrected over the parameterizations of an experiment. `best` is
    `best_learning_rates(summaries, tolerance)` where the caller has it already (its rule is used).
    """
    best = best_learning_rates(summaries, tolerance) if best is None else best
    rules = set(best["tuning_rule"]) if "tuning_rule" in best and len(best) else {DEFAULT_TUNING_RULE}
    rule = rules.pop() if len(rules) == 1 else DEFAULT_TUNING_RULE
    at_tolerance = summaries[np.isclose(summaries["tolerance"], tolerance, rtol=1e-12, atol=0)]
    reported = tuned_runs(at_tolerance, best)
    rows = []
    for (experiment, parameterization), cell in reported.groupby(
        ["experiment", "parameterization"], sort=True
    ):
        if {first, second} - set(cell["method"]):
            continue
        runtimes = {
            method: cell[cell["method"] == method].set_index("seed")["hit_iter"].astype(float).fillna(np.inf)
            for method in (first, second)
        }
        paired = pd.concat(runtimes, axis=1, join="inner").dropna().sort_index()
        a, b = paired[first].to_numpy(), paired[second].to_numpy()
        result = censored_paired_test(a, b)
        chart = summaries[
            (summaries["experiment"] == experiment)
            & (summaries["parameterization"] == parameterization)
            & summaries["method"].isin([first, second])
        ]
        swap = swap_test(
            chart, (first, second), tolerance, rule, f"{experiment}/{parameterization}/{first}/{second}"
        )
        cell_best = best[best["experiment"] == experiment]
        rows.append(
            {
                "experiment": experiment,
                "parameterization": parameterization,
                "tolerance": tolerance,
                f"{first}_lr": tuned_lr_label(cell_best, parameterization, first),
                f"{second}_lr": tuned_lr_label(cell_best, parameterization, second),
                "pairs": len(paired),
                f"{first}_successes": int(np.isfinite(a).sum()),
                f"{second}_successes": int(np.isfinite(b).sum()),
                "both_succeed": result["both_succeed"],
                f"only_{first}": result["only_first"],
                f"only_{second}": result["only_second"],
                f"{first}_faster": result["first_faster"],
                f"{second}_faster": result["second_faster"],
                "ties": result["ties"],
                "favours": {"first": first, "second": second}.get(result["favours"], "neither"),
                "log_speedup": result["log_speedup"],
                "log_speedup_low": result["log_speedup_low"],
                "log_speedup_high": result["log_speedup_high"],
                "p_success": result["p_success"],
                "p_fixed_lr": result["p_value"],
                "p_value": swap["p_value"],
                "min_attainable_p": swap["min_attainable_p"],
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
    "ngd_successes",
    "baseline_successes",
    "both_succeed",
    "only_ngd",
    "only_baseline",
    "ngd_faster",
    "baseline_faster",
    "ties",
    "favours",
    "log_speedup",
    "log_speedup_low",
    "log_speedup_high",
    "p_success",
    "p_fixed_lr",
    "p_value",
    "min_attainable_p",
    "p_holm",
]


def ngd_against_baselines(
    summaries: pd.DataFrame, tolerance: float, best: pd.DataFrame | None = None
) -> pd.DataFrame:
    """NGD against every other method of the experiment (GD, Adam, Newton, EF, EM), chart by chart.

    Each comparison is `paired_comparison` (both methods at their tuned learning rates, seed by
    seed); p-values are Holm-corrected over all comparisons of an experiment, charts and baselines
    together. `log_speedup` is ln(its iterations / NGD's): positive where NGD is faster.
    """
    from ngbench.methods import ordered

    best = best_learning_rates(summaries, tolerance) if best is None else best
    present = set(summaries["method"].unique())
    frames = []
    for baseline in (m for m in ordered(present) if m != "ngd"):
        table = paired_comparison(summaries, tolerance, "ngd", baseline, best)
        if table.empty:
            continue
        renamed = {
            f"{baseline}_{column}": f"baseline_{column}" for column in ("lr", "successes", "faster")
        } | {f"only_{baseline}": "only_baseline"}
        table = table.rename(columns=renamed)
        frames.append(table.assign(baseline=baseline))
    if not frames:
        return pd.DataFrame(columns=BASELINE_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    table["p_holm"] = np.nan
    for _, rows in table.groupby("experiment", sort=True):
        table.loc[rows.index, "p_holm"] = holm(rows["p_value"])
    order = {name: rank for rank, name in enumerate(ordered(present))}
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
