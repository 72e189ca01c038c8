"""The invariance audit: how far apart one step from the same start lands in different charts.

NGD is invariant to first order: one step in chart θ and in chart φ differ by O(ρ²) (docs/maths.md §1.3),
so the spread between charts falls with slope 2 against ρ on log-log axes. GD is not invariant: its
spread falls with slope 1. No public benchmark tool reports this.

`spread_slopes` tabulates it: the Theil–Sen slope of log(spread) against log(ρ) per method over the
first-order regime ρ ≤ SLOPE_MAX_LR, with its 90 % interval — Martens (2020)'s claim as a number the
ledger can check. Spreads at rounding level (NGD on affine charts, where it is exactly invariant) are
left out of the fit; a method with fewer than 3 spreads above it has no slope.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ngbench import portable
from ngbench.methods import StepContext, method_named
from ngbench.targets import make_target
from ngbench.targets.base import Target

# The step sizes of the audit (figure and table): 10⁻⁵ … 10^−0.5, four a decade.
AUDIT_LEARNING_RATES = tuple(float(x) for x in np.logspace(-5, -0.5, 19))
SLOPE_MAX_LR = 1.0e-2  # the first-order regime the slope is fitted over
ROUNDING_SPREAD = 1.0e-11  # relative to max(1, |start|): below it a spread is rounding, not geometry
MIN_POINTS_FOR_SLOPE = 3
SPREAD_SLOPE_COLUMNS = [
    "experiment",
    "method",
    "charts",
    "points",
    "max_lr",
    "slope",
    "slope_low",
    "slope_high",
]


def one_step(target: Target, chart_name: str, method: str, start: np.ndarray, lr: float) -> np.ndarray:
    """The canonical state one step of `method` in chart `chart_name` reaches from canonical `start`."""
    chart = target.chart(chart_name)
    with np.errstate(all="ignore"):
        theta = chart.from_canonical(start[None, :])
        direction = method_named(method)(target, chart, theta, start[None, :], StepContext())
        after = theta - lr * direction
        if not chart.in_domain(after)[0]:
            return np.full(start.shape, np.nan)
        return chart.to_canonical(after)[0]


def one_step_spread(target: Target, start: np.ndarray, charts, methods, learning_rates) -> pd.DataFrame:
    """Largest distance (canonical coordinates) between the one-step iterates of every pair of charts.

    A step that leaves some chart's domain has no spread: NaN, kept so that a figure can say where
    the method's points end and why.
    """
    rows = []
    for method in methods:
        for lr in learning_rates:
            ends = np.array([one_step(target, name, method, start, lr) for name in charts])
            if np.isnan(ends).any():
                spread = np.nan
            else:
                spread = np.linalg.norm(ends[:, None, :] - ends[None, :, :], axis=-1).max()
            rows.append({"method": method, "lr": float(lr), "spread": float(spread)})
    return pd.DataFrame(rows, columns=["method", "lr", "spread"])


def audit_row(row: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """The audit of one config row (the workflow's `invariance_row` params): spreads and the start."""
    target = make_target(row["target"])
    target.set_gradient(row["gradient"])  # the row's deterministic estimator (the workflow audits no other)
    start = target.initial_states(row["init"], (row["seed"],))[0]
    return one_step_spread(
        target, start, row["parameterizations"], row["methods"], AUDIT_LEARNING_RATES
    ), start


def rounding_floor(start: np.ndarray) -> float:
    return ROUNDING_SPREAD * max(1.0, float(np.linalg.norm(start)))


def spread_table(audit: pd.DataFrame, start: np.ndarray, experiment: str) -> pd.DataFrame:
    """The audit as a table: a spread at rounding level is marked and left missing — its last digits
    differ from one CPU to another, and it says only that the step is exactly invariant."""
    rounding = audit["spread"] <= rounding_floor(start)
    return audit.assign(
        experiment=experiment, spread=audit["spread"].where(~rounding), at_rounding_level=rounding
    )[["experiment", "method", "lr", "spread", "at_rounding_level"]]


def spread_slopes(audit: pd.DataFrame, start: np.ndarray, experiment: str, charts: int) -> pd.DataFrame:
    """Per method: the slope of log(spread) against log(ρ) over ρ ≤ SLOPE_MAX_LR, with its 90 % interval."""
    from ngbench.why import theil_sen

    floor = rounding_floor(start)
    rows = []
    for method, group in audit.groupby("method", sort=True):
        fit = group[(group["lr"] <= SLOPE_MAX_LR * (1 + 1e-12)) & (group["spread"] > floor)]
        slope = low = high = float("nan")
        if len(fit) >= MIN_POINTS_FOR_SLOPE:
            x = portable.log(fit["lr"].to_numpy(dtype=float))
            y = portable.log(fit["spread"].to_numpy(dtype=float))
            slope, low, high = theil_sen(x, y)
        rows.append(
            {
                "experiment": experiment,
                "method": method,
                "charts": charts,
                "points": len(fit),
                "max_lr": SLOPE_MAX_LR,
                "slope": slope,
                "slope_low": low,
                "slope_high": high,
            }
        )
    return pd.DataFrame(rows, columns=SPREAD_SLOPE_COLUMNS)
