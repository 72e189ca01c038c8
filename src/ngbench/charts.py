"""Charts: coordinate systems θ on a target's canonical parameters c = c(θ).

Every array is batched: θ and c have shape (B, k), Jacobians and metrics (B, k, k).
A chart supplies the map to and from canonical coordinates and the Jacobian ∂c/∂θ; the pull-back
of gradient (Jᵀg) and Fisher (JᵀFJ) and the generic natural gradient follow from those.  Charts
with a closed-form natural gradient override `natural_gradient`; the tests hold every closed form
against `generic_natural_gradient`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ngbench import portable

FisherFn = Callable[[np.ndarray], np.ndarray]


class Chart:
    name: str = ""
    # The family of distributions the chart spans: charts of one family share f* and are compared
    # by the invariance audit; a mean-field chart of a Gaussian target spans a smaller one.
    family: str = "full"
    # Affine in the canonical coordinates: Newton's method is invariant only under these (docs/maths.md §1.3).
    affine: bool = False

    def to_canonical(self, theta: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def from_canonical(self, canonical: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def canonical_form(self, canonical: np.ndarray) -> np.ndarray:
        """Canonical states written as `to_canonical` writes them (a target may have more than one
        form, e.g. a mean-field chart's (μ, v) for (μ, Σ)): what a round trip is compared against."""
        return canonical

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """∂c/∂θ with shape (B, k_canonical, k_chart)."""
        raise NotImplementedError

    def in_domain(self, theta: np.ndarray) -> np.ndarray:
        """Which rows of θ are points of the chart (e.g. a variance that is still positive)."""
        return np.ones(theta.shape[0], dtype=bool)

    def pullback_gradient(self, theta: np.ndarray, grad_canonical: np.ndarray) -> np.ndarray:
        return np.einsum("bij,bi->bj", self.jacobian(theta), grad_canonical)

    def pullback_metric(self, theta: np.ndarray, metric_canonical: np.ndarray) -> np.ndarray:
        """JᵀMJ. Read-only for the caller: a chart may hand back `metric_canonical` itself (the
        identity chart does, where the product would give its bits), a target's cached Fisher."""
        jac = self.jacobian(theta)
        return np.einsum("bij,bik,bkl->bjl", jac, metric_canonical, jac)

    def generic_natural_gradient(
        self, theta: np.ndarray, canonical: np.ndarray, grad_canonical: np.ndarray, fisher: FisherFn
    ) -> np.ndarray:
        """F_θ⁻¹ ∇_θℒ with F_θ = Jᵀ F_c J, by a linear solve (in basic operations for k ≤ 2, so the
        low-dimensional targets give the same bits on every CPU; see `ngbench.portable.solve`)."""
        metric = self.pullback_metric(theta, fisher(canonical))
        grad = self.pullback_gradient(theta, grad_canonical)
        return portable.solve(metric, grad)

    def natural_gradient(
        self, theta: np.ndarray, canonical: np.ndarray, grad_canonical: np.ndarray, fisher: FisherFn
    ) -> np.ndarray:
        return self.generic_natural_gradient(theta, canonical, grad_canonical, fisher)


class IdentityChart(Chart):
    """θ = c."""

    affine = True

    def __init__(self, name: str):
        self.name = name

    def to_canonical(self, theta):
        return theta

    def from_canonical(self, canonical):
        return canonical

    def jacobian(self, theta):
        batch, dim = theta.shape
        return np.broadcast_to(np.eye(dim), (batch, dim, dim))

    def pullback_gradient(self, theta, grad_canonical):
        return grad_canonical

    def pullback_metric(self, theta, metric_canonical):
        """IᵀMI: M itself where that is what the generic product gives bit for bit.

        Each entry of the product is Mⱼₗ plus terms 0·Mᵢₖ·0, which are zeros when M is finite; a
        nonzero Mⱼₗ plus zeros is Mⱼₗ exactly, in any order. A zero entry (whose sign the zeros
        may flip) or a non-finite one (0·∞ is NaN) goes through the product, as it did before.
        Skipping it saves ~10 µs of a step at a few runs (the identity's broadcast and a 3-operand
        einsum), where a 2-parameter target's whole step is ~60 µs.
        """
        if np.isfinite(metric_canonical).all() and metric_canonical.all():
            return metric_canonical
        return super().pullback_metric(theta, metric_canonical)
