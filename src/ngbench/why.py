"""Why-tables of a swept row: tuned iterations to the tolerance against the swept target property.

For each value of the sweep (one sub-experiment, tuned and tested on its own) and each (chart,
method): every seed at its cross-fitted learning rate (`ngbench.stats.tuned_runs`), the successes,
the median iterations of the successful runs with its 90 % order-statistic interval. Across values,
the Theil–Sen slope of log-iterations against log-value (against the value where some value is not
positive) over every successful tuned run, with its 90 % interval: how the cost grows with the
property (GD on a quadratic at its best constant step: slope 1 against κ; NGD in natural parameters:
slope 0). Failures are counted, never dropped: a value where a method never succeeds has no median.
Where theory says something (`ngbench.theory`), the tables carry it next to what was measured: the
exact iterations at the step size theory names (median over the row's starts) and the slope.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd

from ngbench import portable
from ngbench.inference import LEVEL, median_interval
from ngbench.stats import tuned_runs
from ngbench.theory import theory_for

SWEEP_COLUMNS = [
    "row",
    "field",
    "value",
    "experiment",
    "parameterization",
    "method",
    "tolerance",
    "runs",
    "successes",
    "median_iters",
    "median_iters_low",
    "median_iters_high",
    "theory_iters",
    "theory_label",
]
SLOPE_COLUMNS = [
    "row",
    "field",
    "parameterization",
    "method",
    "tolerance",
    "scale",
    "values_with_successes",
    "successful_runs",
    "slope",
    "slope_low",
    "slope_high",
    "theory_slope",
]
MIN_VALUES_FOR_SLOPE = 3  # two points always fit a line: a slope needs a third to mean anything


def _theory(specs: dict | None, experiment: str, field: str, chart: str, method: str):
    if specs is None:
        return None
    return theory_for(specs[experiment]["target"].get("name", ""), field, chart, method)


def sweep_table(
    sweep, summaries: dict, best: dict, tolerance: float, specs: dict | None = None
) -> pd.DataFrame:
    """One row per (value, chart, method): runs, successes and median iterations at the tuned lrs.

    `summaries` and `best` map each sub-experiment of `sweep` to its run summaries and its
    `best_learning_rates` table; `specs` (optional) to its `target`, `init` and `seeds`, from which
    the theory's exact count is computed where there is one.
    """
    table = []
    for value, experiment in zip(sweep.values, sweep.experiments, strict=True):
        frame = summaries[experiment]
        at_tolerance = frame[np.isclose(frame["tolerance"], tolerance, rtol=1e-12, atol=0)]
        reported = tuned_runs(at_tolerance, best[experiment])
        for (chart, method), runs in reported.groupby(["parameterization", "method"], sort=True):
            hits = runs["hit_iter"].dropna().to_numpy(dtype=float)
            low, high = median_interval(hits)
            theory = _theory(specs, experiment, sweep.field, chart, method)
            theory_iters, label = math.nan, ""
            if theory is not None and theory.exact is not None:
                spec = specs[experiment]
                counts = theory.exact(spec["target"], spec["init"], tuple(spec["seeds"]), tolerance)
                theory_iters, label = float(np.median(counts)), theory.label
            table.append(
                {
                    "row": sweep.row,
                    "field": sweep.field,
                    "value": float(value),
                    "experiment": experiment,
                    "parameterization": chart,
                    "method": method,
                    "tolerance": tolerance,
                    "runs": len(runs),
                    "successes": int(hits.size),
                    "median_iters": float(np.median(hits)) if hits.size else math.nan,
                    "median_iters_low": low,
                    "median_iters_high": high,
                    "theory_iters": theory_iters,
                    "theory_label": label,
                }
            )
    return pd.DataFrame(table, columns=SWEEP_COLUMNS)


def theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Theil–Sen slope with its 90 % interval (Sen 1968: order statistics of the pairwise slopes set
    by Kendall's τ null variance, ties in x accounted for), as scipy's `theilslopes` computes it,
    step for step (`tests/test_figure_cost.py` compares them): importing `scipy.stats` cost a table
    job more than the rest of its work."""
    if np.all(y == y[0]):
        # Every pairwise slope is 0: so is every order statistic of them (scipy's normal
        # approximation of their spread divides 0 by 0 here).
        return 0.0, 0.0, 0.0
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    dx, dy = x[:, None] - x, y[:, None] - y
    pairwise = np.sort(dy[dx > 0] / dx[dx > 0])
    if not pairwise.size:
        return math.nan, math.nan, math.nan  # every x equal: no slope
    alpha = 1.0 - LEVEL if LEVEL > 0.5 else LEVEL
    # Only the index of an order statistic depends on z, through a rounding.
    z = NormalDist().inv_cdf(alpha / 2.0)
    ties = [int(k) for values in (x, y) for k in np.unique(values, return_counts=True)[1] if k > 1]
    n = len(y)
    variance = 1 / 18.0 * (n * (n - 1) * (2 * n + 5) - sum(k * (k - 1) * (2 * k + 5) for k in ties))
    sigma = math.sqrt(variance)
    upper = min(int(np.round((pairwise.size - z * sigma) / 2.0)), pairwise.size - 1)
    lower = max(int(np.round((pairwise.size + z * sigma) / 2.0)) - 1, 0)
    return float(np.median(pairwise)), float(pairwise[lower]), float(pairwise[upper])


def slopes(sweep, summaries: dict, best: dict, tolerance: float, specs: dict | None = None) -> pd.DataFrame:
    """Per (chart, method): the slope of log-iterations against log-value over the successful tuned
    runs of every value, with its 90 % interval; NaN with successes at fewer than 3 values. With
    `specs` (as `sweep_table`'s), theory's slope where it gives one, else NaN."""
    positive = all(v > 0 for v in sweep.values)
    pooled = []
    for value, experiment in zip(sweep.values, sweep.experiments, strict=True):
        frame = summaries[experiment]
        at_tolerance = frame[np.isclose(frame["tolerance"], tolerance, rtol=1e-12, atol=0)]
        pooled.append(tuned_runs(at_tolerance, best[experiment]).assign(value=float(value)))
    runs = pd.concat(pooled, ignore_index=True)
    rows = []
    for (chart, method), group in runs.groupby(["parameterization", "method"], sort=True):
        won = group[group["hit_iter"].notna()]
        values = won["value"].to_numpy(dtype=float)
        # Iterations ≥ 1 on a log scale (a start within the tolerance counts as one).
        y = portable.log(np.maximum(won["hit_iter"].to_numpy(dtype=float), 1.0))
        x = portable.log(values) if positive else values
        distinct = len(set(values.tolist()))
        slope = low = high = math.nan
        if distinct >= MIN_VALUES_FOR_SLOPE:
            slope, low, high = theil_sen(x, y)
        rows.append(
            {
                "row": sweep.row,
                "field": sweep.field,
                "parameterization": chart,
                "method": method,
                "tolerance": tolerance,
                "scale": "log-log" if positive else "log-linear",
                "values_with_successes": distinct,
                "successful_runs": len(won),
                "slope": slope,
                "slope_low": low,
                "slope_high": high,
                "theory_slope": _theory_slope(specs, sweep, chart, method),
            }
        )
    return pd.DataFrame(rows, columns=SLOPE_COLUMNS)


def _theory_slope(specs: dict | None, sweep, chart: str, method: str) -> float:
    theory = _theory(specs, sweep.experiments[0], sweep.field, chart, method)
    return math.nan if theory is None or theory.slope is None else float(theory.slope)
