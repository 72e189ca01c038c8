"""Gaussian VI in one dimension: minimise KL(q ‖ p), q = N(mean, var), p = N(a, s²).

Canonical coordinates are (mean, var). The Fisher is the Fisher of q (docs/maths.md §0), diag(1/v, 1/(2v²))
in canonical coordinates. Each chart's closed-form natural gradient is the last column of the table
in docs/maths.md §1.1; the tests hold each against the generic Jᵀ F J solve. Exponentials and logarithms
come from `ngbench.portable`, so every trajectory is the same bit for bit on any CPU.
"""

from __future__ import annotations

import numpy as np

from ngbench import portable
from ngbench.charts import Chart, IdentityChart
from ngbench.targets.base import POSITIVE_VARIANCE, SpecError, Target


def _split(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x[:, 0], x[:, 1]


def _diagonal_jacobian(d_mean: np.ndarray, d_var: np.ndarray) -> np.ndarray:
    jac = np.zeros((d_mean.shape[0], 2, 2))
    jac[:, 0, 0] = d_mean
    jac[:, 1, 1] = d_var
    return jac


class MeanVar(IdentityChart):
    def __init__(self):
        super().__init__("mean_var")

    def in_domain(self, theta):
        return theta[:, 1] > 0

    def natural_gradient(self, theta, canonical, grad_canonical, fisher):
        var = theta[:, 1]
        g_mean, g_var = _split(grad_canonical)
        return np.stack([var * g_mean, 2.0 * var**2 * g_var], axis=1)


class MeanStd(Chart):
    name = "mean_std"

    def to_canonical(self, theta):
        return np.stack([theta[:, 0], theta[:, 1] ** 2], axis=1)

    def from_canonical(self, canonical):
        return np.stack([canonical[:, 0], np.sqrt(canonical[:, 1])], axis=1)

    def jacobian(self, theta):
        return _diagonal_jacobian(np.ones(theta.shape[0]), 2.0 * theta[:, 1])

    def in_domain(self, theta):
        return theta[:, 1] > 0

    def natural_gradient(self, theta, canonical, grad_canonical, fisher):
        std = theta[:, 1]
        g_mean, g_var = _split(grad_canonical)
        return np.stack([std**2 * g_mean, std**2 * std * g_var], axis=1)


class MeanLogStd(Chart):
    name = "mean_logstd"

    def to_canonical(self, theta):
        return np.stack([theta[:, 0], portable.exp(2.0 * theta[:, 1])], axis=1)

    def from_canonical(self, canonical):
        return np.stack([canonical[:, 0], 0.5 * portable.log(canonical[:, 1])], axis=1)

    def jacobian(self, theta):
        return _diagonal_jacobian(np.ones(theta.shape[0]), 2.0 * portable.exp(2.0 * theta[:, 1]))

    def natural_gradient(self, theta, canonical, grad_canonical, fisher):
        var = canonical[:, 1]
        g_mean, g_var = _split(grad_canonical)
        return np.stack([var * g_mean, var * g_var], axis=1)


class MeanLogVar(Chart):
    name = "mean_logvar"

    def to_canonical(self, theta):
        return np.stack([theta[:, 0], portable.exp(theta[:, 1])], axis=1)

    def from_canonical(self, canonical):
        return np.stack([canonical[:, 0], portable.log(canonical[:, 1])], axis=1)

    def jacobian(self, theta):
        return _diagonal_jacobian(np.ones(theta.shape[0]), portable.exp(theta[:, 1]))

    def natural_gradient(self, theta, canonical, grad_canonical, fisher):
        var = canonical[:, 1]
        g_mean, g_var = _split(grad_canonical)
        return np.stack([var * g_mean, 2.0 * var * g_var], axis=1)


class Natural(Chart):
    """η = (μ/v, −1/(2v)); its natural gradient is the gradient in expectation coordinates (§2.1)."""

    name = "natural"

    def to_canonical(self, theta):
        eta_1, eta_2 = _split(theta)
        var = -0.5 / eta_2
        return np.stack([eta_1 * var, var], axis=1)

    def from_canonical(self, canonical):
        mean, var = _split(canonical)
        return np.stack([mean / var, -0.5 / var], axis=1)

    def jacobian(self, theta):
        mean, var = _split(self.to_canonical(theta))
        jac = np.zeros((theta.shape[0], 2, 2))
        jac[:, 0, 0] = var
        jac[:, 0, 1] = 2.0 * mean * var
        jac[:, 1, 1] = 2.0 * var**2
        return jac

    def in_domain(self, theta):
        return theta[:, 1] < 0

    def natural_gradient(self, theta, canonical, grad_canonical, fisher):
        mean = canonical[:, 0]
        g_mean, g_var = _split(grad_canonical)
        return np.stack([g_mean - 2.0 * mean * g_var, g_var], axis=1)


class Expectation(Chart):
    """m = (μ, μ² + v); its natural gradient is the gradient in natural coordinates (§2.1)."""

    name = "expectation"

    def to_canonical(self, theta):
        m_1, m_2 = _split(theta)
        return np.stack([m_1, m_2 - m_1**2], axis=1)

    def from_canonical(self, canonical):
        mean, var = _split(canonical)
        return np.stack([mean, mean**2 + var], axis=1)

    def jacobian(self, theta):
        jac = np.zeros((theta.shape[0], 2, 2))
        jac[:, 0, 0] = 1.0
        jac[:, 1, 0] = -2.0 * theta[:, 0]
        jac[:, 1, 1] = 1.0
        return jac

    def in_domain(self, theta):
        return theta[:, 1] > theta[:, 0] ** 2

    def natural_gradient(self, theta, canonical, grad_canonical, fisher):
        mean, var = _split(canonical)
        g_mean, g_var = _split(grad_canonical)
        return np.stack([var * g_mean, 2.0 * mean * var * g_mean + 2.0 * var**2 * g_var], axis=1)


CHARTS: dict[str, Chart] = {
    chart.name: chart
    for chart in (MeanVar(), MeanStd(), MeanLogStd(), MeanLogVar(), Natural(), Expectation())
}


class Gaussian1D(Target):
    name = "gaussian_1d"
    state_names = ("mean", "var")
    charts = CHARTS
    curvatures = ("none", "fisher", "hessian")
    plot_labels = ("mean $\\mu$", "standard deviation $\\sigma$")
    init_domains = {"var": POSITIVE_VARIANCE}

    def __init__(self, mean: float, var: float):
        if not var > 0:
            raise SpecError("var", f"gaussian_1d target variance must be positive, got {var}")
        self.target_mean = float(mean)
        self.target_var = float(var)

    @classmethod
    def from_spec(cls, spec: dict) -> Gaussian1D:
        return cls(mean=spec["mean"], var=spec["var"])

    @property
    def optimum_loss(self) -> float:
        return 0.0

    def optimum(self) -> np.ndarray:
        return np.array([self.target_mean, self.target_var])

    def loss(self, canonical):
        mean, var = _split(canonical)
        ratio = var / self.target_var
        # r − 1 − log r keeps full relative precision near the optimum, where the textbook
        # ½log(s²/v) + v/(2s²) − ½ cancels to rounding noise long before gap = 1e-8.
        return 0.5 * ((ratio - 1.0) - portable.log(ratio)) + (mean - self.target_mean) ** 2 / (
            2.0 * self.target_var
        )

    def grad(self, canonical):
        mean, var = _split(canonical)
        g_mean = (mean - self.target_mean) / self.target_var
        g_var = 0.5 * (1.0 / self.target_var - 1.0 / var)
        return np.stack([g_mean, g_var], axis=1)

    def fisher(self, canonical):
        var = canonical[:, 1]
        return _diagonal_jacobian(1.0 / var, 0.5 / var**2)

    def hessian(self, canonical):
        var = canonical[:, 1]
        return _diagonal_jacobian(np.full(var.shape, 1.0 / self.target_var), 0.5 / var**2)

    # The distribution whose Fisher `fisher` is, q = N(mean, var), for the conformance checker's
    # Monte Carlo of the score (ngbench.check).
    def sample_model(self, canonical, rng, count):
        mean, var = _split(canonical)
        return mean[:, None] + np.sqrt(var)[:, None] * rng.standard_normal((canonical.shape[0], count))

    def model_log_density(self, canonical, draws):
        mean, var = _split(canonical)
        return -0.5 * np.log(2 * np.pi * var)[:, None] - (draws - mean[:, None]) ** 2 / (2 * var[:, None])

    def to_plot(self, canonical):
        return canonical[:, 0], np.sqrt(canonical[:, 1])

    def from_plot(self, x, y):
        return np.stack([x, y**2], axis=-1)
