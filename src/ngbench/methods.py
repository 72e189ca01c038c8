"""Update rules on chart coordinates: θ ← θ − ρ · direction(θ).

A method is a pure function of the batch; the runner owns the loop, so every target and chart
shares one update loop.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ngbench.charts import Chart
from ngbench.targets.base import Target

Direction = Callable[[Target, Chart, np.ndarray, np.ndarray], np.ndarray]


def gradient(target: Target, chart: Chart, theta: np.ndarray, canonical: np.ndarray) -> np.ndarray:
    """∇_θℒ = Jᵀ ∇_cℒ: plain gradient descent, which depends on the chart."""
    return chart.pullback_gradient(theta, target.grad(canonical))


def natural_gradient(target: Target, chart: Chart, theta: np.ndarray, canonical: np.ndarray) -> np.ndarray:
    """F_θ⁻¹ ∇_θℒ with the Fisher of the optimised distribution, pulled back to the chart."""
    return chart.natural_gradient(theta, canonical, target.grad(canonical), target.fisher)


def empirical_fisher_gradient(
    target: Target, chart: Chart, theta: np.ndarray, canonical: np.ndarray
) -> np.ndarray:
    """Preconditioned by the empirical Fisher meanₙ sₙsₙᵀ of the per-datum scores."""
    return chart.generic_natural_gradient(theta, canonical, target.grad(canonical), target.empirical_fisher)


def complete_data_gradient(
    target: Target, chart: Chart, theta: np.ndarray, canonical: np.ndarray
) -> np.ndarray:
    """Preconditioned by the complete-data Fisher with the data's responsibilities: ρ = 1 is one EM step."""
    return chart.generic_natural_gradient(
        theta, canonical, target.grad(canonical), target.complete_data_fisher
    )


METHODS: dict[str, Direction] = {
    "gd": gradient,
    "ngd": natural_gradient,
    "ef": empirical_fisher_gradient,
    "em": complete_data_gradient,
}


def method_direction(name: str) -> Direction:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r} (known: {', '.join(sorted(METHODS))})") from None
