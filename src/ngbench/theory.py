"""What theory says a swept row's why-figure should show, where it says something exact.

Two kinds of statement, per (target, swept field, chart, method):

- an exact iteration count at a stated step size, from the row's own starts (`exact`): GD on the
  quadratic at its best constant step ρ* = 2/(λ_min + λ_max), whose gap contracts by exactly
  r² = ((κ − 1)/(κ + 1))² a step from every start (docs/maths.md §2.5), so t = ⌈ln(τ/gap₀)/(2 ln r)⌉;
  NGD on the quadratic (Newton's method) and NGD in natural parameters on the Gaussian KL (the
  conjugate one-step update), one step at ρ = 1 (docs/maths.md §2.5, §2.3);
- the slope of log-iterations against log of the swept property (`slope`): 1 for GD on the quadratic
  over κ (Θ(κ log 1/ε)), 2 for GD in (μ, Σ) on the Gaussian KL over κ (the local Hessian there has
  eigenvalues from ½ to κ²/2: the rate near the optimum at the best constant step), 0 where the exact
  count does not depend on the property.

A count is what the method needs at that step size, not at the grid's tuned one: the line is a
reference the measured medians can be held against.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ngbench import portable
from ngbench.starts import initial_states
from ngbench.targets import make_target


@dataclass(frozen=True)
class Theory:
    slope: float | None  # of log-iterations against log(value); None where theory gives none
    label: str  # the step size the exact count holds at, for the legend ("" with no exact count)
    exact: Callable[[dict, dict, tuple[int, ...], float], np.ndarray] | None = None


def gd_best_step_on_quadratic(
    target: dict, init: dict, seeds: tuple[int, ...], tolerance: float
) -> np.ndarray:
    """Iterations of GD at ρ* = 2/(λ_min + λ_max) to gap ≤ tolerance from each seed's start (0 from a
    start already within it): the gap is r^{2t}·gap₀ exactly, r = (λ_max − λ_min)/(λ_max + λ_min)."""
    quadratic = make_target(target)
    eigenvalues = np.linalg.eigvalsh(quadratic.matrix)
    low, high = float(eigenvalues[0]), float(eigenvalues[-1])
    starts = initial_states(quadratic.state_names, init, seeds)
    gaps = quadratic.loss(starts) - quadratic.optimum_loss
    counts = np.zeros(len(seeds))
    ratio = (high - low) / (high + low)
    for index, gap in enumerate(gaps):
        if gap <= tolerance:
            continue
        if ratio == 0.0:  # κ = 1: ρ* = 1/λ lands on the optimum
            counts[index] = 1
            continue
        t = math.ceil(float(portable.log(tolerance / gap)) / (2.0 * float(portable.log(ratio))))
        counts[index] = t
    return counts


def one_step(target: dict, init: dict, seeds: tuple[int, ...], tolerance: float) -> np.ndarray:
    return np.ones(len(seeds))


# (target, swept field) → {(chart or None for every chart, method): Theory}
THEORIES: dict[tuple[str, str], dict[tuple[str | None, str], Theory]] = {
    ("quadratic", "condition_number"): {
        ("identity", "gd"): Theory(1.0, "GD at ρ = 2/(λmin+λmax)", gd_best_step_on_quadratic),
        (None, "ngd"): Theory(0.0, "NGD (Newton) at ρ = 1", one_step),
        (None, "newton"): Theory(0.0, "Newton at ρ = 1", one_step),
    },
    ("gaussian_nd", "condition_number"): {
        ("natural", "ngd"): Theory(0.0, "NGD in natural parameters at ρ = 1", one_step),
        ("mean_cov", "gd"): Theory(2.0, ""),
    },
    ("gaussian_nd", "dim"): {
        ("natural", "ngd"): Theory(0.0, "NGD in natural parameters at ρ = 1", one_step),
    },
}


def theory_for(target_name: str, field: str, chart: str, method: str) -> Theory | None:
    known = THEORIES.get((target_name, field), {})
    return known.get((chart, method)) or known.get((None, method))
