"""What every target provides to the runner, the statistics and the figures."""

from __future__ import annotations

import numpy as np

from ngbench.charts import Chart


class Target:
    """A problem: loss, gradient and Fisher in canonical coordinates, its charts and known optimum.

    Canonical states are arrays of shape (B, k) whose columns are `state_names`; those of them in
    `ngbench.io.STATE_COLUMNS` are written to the trajectory files. Charts, state names and methods
    are per instance: a config row can set a target's dimension or give a chart its matrix.
    """

    name: str = ""
    state_names: tuple[str, ...] = ()
    charts: dict[str, Chart] = {}
    methods: tuple[str, ...] = ("gd", "ngd")
    # True when f* has no closed form: the workflow computes it once per experiment by a reference
    # solve (`reference_solution`) and hands it back through `with_reference`.
    needs_reference: bool = False
    # Labels of the two plot axes of `to_plot`, for path figures.
    plot_labels: tuple[str, str] = ("", "")

    @classmethod
    def from_spec(cls, spec: dict) -> Target:
        """Build from a config row's `target` mapping."""
        raise NotImplementedError

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

    def reference_solution(self) -> dict:
        """For targets with `needs_reference`: {"optimum_loss": f*, "optimum": [...], ...}."""
        raise NotImplementedError

    def with_reference(self, reference: dict) -> Target:
        raise NotImplementedError

    def loss(self, canonical: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def grad(self, canonical: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fisher(self, canonical: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def in_domain(self, canonical: np.ndarray) -> np.ndarray:
        return np.ones(canonical.shape[0], dtype=bool)

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
