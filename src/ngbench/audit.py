"""The invariance audit: how far apart one step from the same start lands in different charts.

NGD is invariant to first order: one step in chart θ and in chart φ differ by O(ρ²) (MATH.md §1.3),
so the spread between charts falls with slope 2 against ρ on log-log axes. GD is not invariant: its
spread falls with slope 1. No public benchmark tool reports this.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ngbench.methods import method_direction
from ngbench.runner import run_batch
from ngbench.targets.base import Target


def one_step_spread(target: Target, start: np.ndarray, charts, methods, learning_rates) -> pd.DataFrame:
    """Largest distance (canonical coordinates) between the one-step iterates of every pair of charts."""
    rows = []
    for method in methods:
        direction = method_direction(method)
        for lr in learning_rates:
            ends = np.array(
                [
                    run_batch(
                        target,
                        target.chart(name),
                        direction,
                        start[None, :],
                        np.array([lr]),
                        1,
                        converged_gap=0.0,
                    ).states[1, 0]
                    for name in charts
                ]
            )
            if np.isnan(ends).any():  # a step that left some chart's domain has no spread to report
                continue
            spread = np.linalg.norm(ends[:, None, :] - ends[None, :, :], axis=-1).max()
            rows.append({"method": method, "lr": float(lr), "spread": float(spread)})
    return pd.DataFrame(rows, columns=["method", "lr", "spread"])
