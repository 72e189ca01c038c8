"""The invariance audit: how far apart one step from the same start lands in different charts.

NGD is invariant to first order: one step in chart θ and in chart φ differ by O(ρ²) (docs/maths.md §1.3),
so the spread between charts falls with slope 2 against ρ on log-log axes. GD is not invariant: its
spread falls with slope 1. No public benchmark tool reports this.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ngbench.methods import StepContext, method_named
from ngbench.targets.base import Target


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
