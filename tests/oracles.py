"""Independent computations the library is held against: written from docs/maths.md, not from the library."""

from __future__ import annotations

import numpy as np

BLOG_TARGET = {"name": "gaussian_1d", "mean": 3.0, "var": 1.0}
BLOG_START = (-2.0, float(np.e))  # (mean, var)


def kl_gaussian(mean, var, target_mean, target_var):
    """KL(N(mean, var) ‖ N(target_mean, target_var)), the textbook form of docs/maths.md §2.2."""
    return (
        np.log(np.sqrt(target_var) / np.sqrt(var))
        + (var + (mean - target_mean) ** 2) / (2.0 * target_var)
        - 0.5
    )


def log_normal_density(x, mean, var):
    return -0.5 * np.log(2.0 * np.pi * var) - (x - mean) ** 2 / (2.0 * var)


def _five_point(f, theta, i, step):
    """∂f/∂θᵢ by the five-point central stencil, error O(h⁴)."""
    h = step * max(1.0, abs(theta[i]))

    def shifted(k):
        point = theta.copy()
        point[i] += k * h
        return np.asarray(f(point), dtype=float)

    return (-shifted(2) + 8.0 * shifted(1) - 8.0 * shifted(-1) + shifted(-2)) / (12.0 * h)


def finite_difference_gradient(f, theta, step=1e-4):
    """Gradient of a scalar function of a 1-D point."""
    theta = np.asarray(theta, dtype=float)
    return np.array([_five_point(f, theta, i, step) for i in range(theta.size)])


def finite_difference_jacobian(f, theta, step=1e-4):
    """∂f/∂θ of a vector function of a 1-D point, shape (len(f), len(θ))."""
    theta = np.asarray(theta, dtype=float)
    return np.stack([_five_point(f, theta, i, step) for i in range(theta.size)], axis=1)


def quadrature_fisher(log_density_in_chart, theta, mean, var, nodes=30):
    """E_q[∇θ log q ∇θ log qᵀ] by Gauss–Hermite quadrature over x ~ q, the score by finite differences."""
    z, weights = np.polynomial.hermite_e.hermegauss(nodes)
    weights = weights / np.sqrt(2.0 * np.pi)
    fisher = np.zeros((theta.size, theta.size))
    for x, w in zip(mean + np.sqrt(var) * z, weights, strict=True):
        score = finite_difference_gradient(lambda th, x=x: log_density_in_chart(x, th), theta)
        fisher += w * np.outer(score, score)
    return fisher


def blog_recurrence(method: str, lr: float, steps: int, start=BLOG_START, target_mean=3.0, target_var=1.0):
    """The blog's loop in (μ, σ²) with plain floats: GD, or NGD = (σ² g_μ, 2σ⁴ g_σ²)."""
    mean, var = start
    path = [(mean, var)]
    for _ in range(steps):
        g_mean = (mean - target_mean) / target_var
        g_var = 0.5 * (1.0 / target_var - 1.0 / var)
        if method == "gd":
            mean, var = mean - lr * g_mean, var - lr * g_var
        else:
            mean, var = mean - lr * var * g_mean, var - lr * 2.0 * var**2 * g_var
        path.append((mean, var))
    return np.array(path)
