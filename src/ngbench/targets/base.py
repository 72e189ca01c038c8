"""What every target provides to the runner, the statistics and the figures."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ngbench.charts import Chart
from ngbench.io import STATE_COLUMNS
from ngbench.starts import initial_states


class SpecError(ValueError):
    """A bad value in a config mapping; `field` is its dotted path inside that mapping ("" for the whole).

    A target's `from_spec` raises it with paths inside the row's `target` mapping, `set_gradient`
    inside the row's `gradient`: the config check prefixes them, so a message names the deepest field.
    """

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


@dataclass(frozen=True)
class Interval:
    """The open interval (low, high) a coordinate must lie in, and why (said in error messages)."""

    low: float = -np.inf
    high: float = np.inf
    reason: str = ""

    def contains(self, values: np.ndarray) -> np.ndarray:
        return (values > self.low) & (values < self.high)


POSITIVE_VARIANCE = Interval(0.0, np.inf, "a variance must be > 0")


class Target:
    """A problem: loss, gradient and Fisher in canonical coordinates, its charts and known optimum.

    Canonical states are arrays of shape (B, k) whose columns are `state_names`; those of them in
    `ngbench.io.STATE_COLUMNS` are written to the trajectory files. Charts, state names and curvatures
    are per instance: a config row can set a target's dimension or give a chart its matrix.
    """

    name: str = ""
    state_names: tuple[str, ...] = ()
    charts: dict[str, Chart] = {}
    # The preconditioners this target can supply (ngbench.methods.PRECONDITIONERS): "none" (the
    # gradient alone), "fisher", "empirical_fisher", "complete_data_fisher", "hessian". A method is
    # available wherever its preconditioner is offered.
    curvatures: tuple[str, ...] = ("none", "fisher")
    # True when f* has no closed form: the workflow computes it once per experiment by a reference
    # solve (`reference_solution`) and hands it back through `with_reference`.
    needs_reference: bool = False
    # Labels of the two plot axes of `to_plot`, for path figures.
    plot_labels: tuple[str, str] = ("", "")

    @classmethod
    def from_spec(cls, spec: dict) -> Target:
        """Build from a config row's `target` mapping."""
        raise NotImplementedError

    @classmethod
    def data_files(cls, spec: dict) -> list[str]:
        """Files named in a row's `target` mapping whose content its jobs read (the workflow hashes them)."""
        return []

    @property
    def optimum_loss(self) -> float:
        """f*, the known minimum of the loss."""
        raise NotImplementedError

    def optimum(self) -> np.ndarray:
        """A canonical minimiser, shape (k,)."""
        raise NotImplementedError

    def landmarks(self) -> np.ndarray:
        """Canonical points a figure of this target must show, shape (n, k): its optima."""
        return self.optimum()[None, :]

    def optimum_loss_for(self, chart: Chart) -> float:
        """f* of the family a chart spans; a mean-field chart has a larger one than the full family."""
        return self.optimum_loss

    @property
    def init_names(self) -> tuple[str, ...]:
        """The keys of a config row's `init` mapping."""
        return self.state_names

    def initial_states(self, init: dict, seeds: tuple[int, ...]) -> np.ndarray:
        """Canonical start of each seed, shape (len(seeds), k)."""
        return initial_states(self.state_names, init, seeds)

    def initial_states_for(self, chart: Chart, init: dict, seeds: tuple[int, ...]) -> np.ndarray:
        """The starts of `initial_states` in the canonical form `chart` works in (a target with more
        than one form builds them in it directly, e.g. a mean-field chart's (μ, v): O(d), not d²)."""
        return self.initial_states(init, seeds)

    def state_size_for(self, chart: Chart) -> int:
        """Numbers in one canonical state of `chart` (its form's, see `initial_states_for`)."""
        return self.state_size

    # The domain, coordinate by coordinate: init name → the interval each of its canonical entries must
    # lie in. `in_domain` is their conjunction, so a start outside it is always traced to a coordinate.
    init_domains: dict[str, Interval] = {}

    def init_columns(self, name: str) -> np.ndarray:
        """The canonical columns one `init` coordinate sets (several for a vector, e.g. a diagonal)."""
        return np.array([self.state_names.index(name)])

    @property
    def plot_dimensions(self) -> int:
        return len(self.state_names)

    @property
    def state_size(self) -> int:
        """Numbers in one canonical state (a run holds about this many, times a few, per step)."""
        return len(self.state_names)

    @property
    def observed_columns(self) -> tuple[str, ...]:
        """The trajectory columns (`STATE_COLUMNS` + `METRIC_COLUMNS`) this target fills, per iterate."""
        return tuple(name for name in self.state_names if name in STATE_COLUMNS)

    def observe(self, canonical: np.ndarray, chart: Chart) -> np.ndarray:
        """Values of `observed_columns` at canonical states, shape (B, len(observed_columns))."""
        return canonical[:, self._observed_indices()]

    def _observed_indices(self) -> np.ndarray:
        """The canonical columns of `observed_columns`, found once per `state_names` (the runner
        observes every step, and the lookup cost more than the copy at a few runs)."""
        return self._per_state_names(
            "_observed_index_cache",
            lambda: np.array([self.state_names.index(name) for name in self.observed_columns], np.intp),
        )

    def _per_state_names(self, key: str, build):
        """`build()`, kept in this instance under `key` until `state_names` is another object: what
        a target derives from its columns (and, for a Gaussian family, from its `dim`, fixed for an
        instance) only."""
        cached = self.__dict__.get(key)
        if cached is None or cached[0] is not self.state_names:
            cached = self.__dict__[key] = (self.state_names, build())
        return cached[1]

    # Monte Carlo gradients draw from per-run generators; deterministic targets ignore them.
    stochastic: bool = False
    # Gradient evaluations one `estimate_grad` call costs (S for S Monte Carlo samples).
    grad_evaluations: int = 1

    # Gradient estimators besides "exact" (see `set_gradient`).
    gradient_estimators: tuple[str, ...] = ()

    def set_gradient(self, gradient) -> None:
        """Choose the gradient estimator: None/"exact", a named one, or {"mc": S} (S samples)."""
        if gradient in (None, "exact"):
            return
        # Reached only with what no subclass handled: an unknown estimator, or a malformed one.
        kind = next(iter(gradient), None) if isinstance(gradient, dict) else gradient
        field = kind if isinstance(gradient, dict) and isinstance(kind, str) else ""
        if kind not in self.gradient_estimators:
            raise SpecError(
                field,
                f"target {self.name!r} has no gradient estimator {kind!r} "
                f"(known: {', '.join(('exact',) + self.gradient_estimators)})",
            )
        raise SpecError(field, f"target {self.name!r}: malformed gradient estimator {gradient!r}")

    def estimate_grad(self, canonical: np.ndarray, rngs=None) -> np.ndarray:
        """The gradient the methods use: exact here, an estimate for stochastic targets."""
        return self.grad(canonical)

    def reference_solution(self) -> dict:
        """For targets with `needs_reference`: {"optimum_loss": f*, "optimum": [...], ...}."""
        raise NotImplementedError

    def with_reference(self, reference: dict) -> Target:
        """The target measuring gaps against this reference solution (f* and the minimisers): callers
        use what it returns (this target, updated, or a new one)."""
        raise NotImplementedError

    def loss(self, canonical: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def loss_at(self, chart: Chart, theta: np.ndarray, canonical: np.ndarray) -> np.ndarray:
        """ℒ at the chart points θ, whose canonical coordinates are `canonical`: what the runner records.

        The same as `loss(canonical)`, but a target may use what the chart knows beyond c(θ): a
        Gaussian chart's factor gives log|Σ| to full precision where Σ = LLᵀ has already lost it.
        """
        return self.loss(canonical)

    def grad(self, canonical: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fisher(self, canonical: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def hessian(self, canonical: np.ndarray) -> np.ndarray:
        """∇²ℒ in canonical coordinates, (B, k, k), for targets that offer the "hessian" curvature."""
        raise NotImplementedError

    def newton_direction(self, chart: Chart, theta, canonical, rngs=None) -> np.ndarray:
        """The `newton` method's direction: JᵀHJ solved against Jᵀ∇ℒ (exact on affine charts)."""
        return chart.generic_natural_gradient(theta, canonical, self.grad(canonical), self.hessian)

    def empirical_fisher_direction(self, chart: Chart, theta, canonical, rngs=None) -> np.ndarray:
        """The `ef` method's direction: the gradient preconditioned by meanₙ sₙsₙᵀ (+ damping)."""
        return chart.generic_natural_gradient(theta, canonical, self.grad(canonical), self.empirical_fisher)

    def in_domain(self, canonical: np.ndarray) -> np.ndarray:
        inside = np.ones(canonical.shape[0], dtype=bool)
        for name, interval in self.init_domains.items():
            inside &= interval.contains(canonical[:, self._domain_columns(name)]).all(axis=1)
        return inside

    def _domain_columns(self, name: str) -> np.ndarray:
        """`init_columns(name)`, found once per `state_names` (the runner checks the domain every step)."""
        found = self._per_state_names("_domain_column_cache", dict)
        columns = found.get(name)
        if columns is None:
            columns = found[name] = self.init_columns(name)
        return columns

    def to_plot(self, canonical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The two plot coordinates of canonical states."""
        return canonical[:, 0], canonical[:, 1]

    def from_plot(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.stack([x, y], axis=-1)

    def chart(self, name: str) -> Chart:
        try:
            return self.charts[name]
        except KeyError:
            known = ", ".join(sorted(self.charts))
            raise ValueError(
                f"target {self.name!r} has no parameterization {name!r} (known: {known})"
            ) from None
