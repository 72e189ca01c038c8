"""Update rules on chart coordinates: θ ← θ − ρ · direction(θ).

A method is a function of the batch; the runner owns the loop, so every target and chart shares one
update loop. The `StepContext` carries what a method may need beyond the state: the per-run random
generators of a stochastic gradient, the per-run memory of a stateful method (Adam's moments) and
the iteration number. The runner drops a stopped run's rows from it along with its state.

A method replaces its memory arrays and never writes into them: when a batched step raises, the
runner computes it again run by run from the memory it had before (see `ngbench.runner`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ngbench import portable
from ngbench.charts import Chart
from ngbench.targets.base import Target


@dataclass
class StepContext:
    rngs: list | None = None  # one numpy Generator per active run, for stochastic gradients
    memory: dict[str, np.ndarray] = field(default_factory=dict)  # arrays with a leading run axis
    iteration: int = 0

    def keep(self, rows: np.ndarray) -> None:
        """Keep only the runs selected by the boolean mask `rows`."""
        if self.rngs is not None:
            self.rngs = [rng for rng, kept in zip(self.rngs, rows, strict=True) if kept]
        self.memory = {name: value[rows] for name, value in self.memory.items()}

    def run(self, index: int) -> StepContext:
        """The context of run `index` alone: its generator and its rows of memory."""
        return StepContext(
            rngs=None if self.rngs is None else [self.rngs[index]],
            memory={name: value[index : index + 1] for name, value in self.memory.items()},
            iteration=self.iteration,
        )

    def join(self, parts: list[StepContext]) -> None:
        """Become the context of the runs of `parts`, in order: contexts from `run` after their step."""
        if self.rngs is not None:
            self.rngs = [rng for part in parts for rng in part.rngs]
        names = parts[0].memory if parts else self.memory
        self.memory = {
            name: np.concatenate([part.memory[name] for part in parts]) if parts else self.memory[name][:0]
            for name in names
        }


Direction = Callable[[Target, Chart, np.ndarray, np.ndarray, StepContext], np.ndarray]


def _rngs(context: StepContext | None):
    return None if context is None else context.rngs


def gradient(target: Target, chart: Chart, theta, canonical, context: StepContext | None = None):
    """∇_θℒ = Jᵀ ∇_cℒ: plain gradient descent, which depends on the chart."""
    return chart.pullback_gradient(theta, target.estimate_grad(canonical, _rngs(context)))


def natural_gradient(target: Target, chart: Chart, theta, canonical, context: StepContext | None = None):
    """F_θ⁻¹ ∇_θℒ with the Fisher of the optimised distribution, pulled back to the chart."""
    return chart.natural_gradient(
        theta, canonical, target.estimate_grad(canonical, _rngs(context)), target.fisher
    )


def empirical_fisher_gradient(target: Target, chart: Chart, theta, canonical, context=None):
    """Preconditioned by the empirical Fisher of the per-datum scores (Kunstner et al.'s ablation)."""
    return target.empirical_fisher_direction(chart, theta, canonical, _rngs(context))


def complete_data_gradient(target: Target, chart: Chart, theta, canonical, context=None):
    """Preconditioned by the complete-data Fisher with the data's responsibilities: ρ = 1 is one EM step."""
    return chart.generic_natural_gradient(
        theta, canonical, target.grad(canonical), target.complete_data_fisher
    )


def newton(target: Target, chart: Chart, theta, canonical, context=None):
    """H_θ⁻¹ ∇_θℒ on an affine chart, where H_θ = JᵀHJ exactly (a curved chart adds Σₖ gₖ∇²cₖ)."""
    return target.newton_direction(chart, theta, canonical, _rngs(context))


ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8


def adam(target: Target, chart: Chart, theta, canonical, context: StepContext):
    """Adam (Kingma & Ba 2015) on the chart's gradient: standard β₁, β₂, ε, with bias correction."""
    grad = gradient(target, chart, theta, canonical, context)
    first = context.memory.get("adam_first", np.zeros_like(grad))
    second = context.memory.get("adam_second", np.zeros_like(grad))
    first = ADAM_BETA1 * first + (1.0 - ADAM_BETA1) * grad
    second = ADAM_BETA2 * second + (1.0 - ADAM_BETA2) * grad**2
    context.memory["adam_first"], context.memory["adam_second"] = first, second
    t = context.iteration + 1
    first_hat = first / (1.0 - portable.integer_power(ADAM_BETA1, t))
    second_hat = second / (1.0 - portable.integer_power(ADAM_BETA2, t))
    return first_hat / (np.sqrt(second_hat) + ADAM_EPSILON)


METHODS: dict[str, Direction] = {
    "gd": gradient,
    "ngd": natural_gradient,
    "ef": empirical_fisher_gradient,
    "em": complete_data_gradient,
    "newton": newton,
    "adam": adam,
}

# Linear solves per step (a Fisher, a Hessian or a surrogate); closed-form natural gradients count
# as the solve they replace, so the count compares methods, not implementations.
SOLVES_PER_STEP = {"gd": 0, "ngd": 1, "ef": 1, "em": 1, "newton": 1, "adam": 0}


def method_direction(name: str) -> Direction:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r} (known: {', '.join(sorted(METHODS))})") from None
