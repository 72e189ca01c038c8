"""Independent machinery for testing the Gaussian-family charts: free coordinates and finite differences.

The library stores matrices whole (d×d). Here every chart point is written in free coordinates
instead: the lower triangle of a symmetric or Cholesky matrix (vech), the d entries of a diagonal.
Jacobians and gradients come from central differences of the chart's own maps and the target's
loss, and the Fisher of q in (μ, vech Σ) from docs/maths.md §1.2 (checked against Monte Carlo in the
tests). None of it calls a chart's gradient or natural-gradient code.
"""

from __future__ import annotations

import numpy as np

DIAGONAL_CHARTS = ("diagonal", "diagonal_natural")


def lower(dim: int):
    return np.tril_indices(dim)


def free_size(chart_name: str, dim: int) -> int:
    return 2 * dim if chart_name in DIAGONAL_CHARTS else dim + dim * (dim + 1) // 2


def theta_from_free(chart_name: str, free: np.ndarray, dim: int) -> np.ndarray:
    """Chart coordinates (the library's flat layout) of a free vector."""
    if chart_name in DIAGONAL_CHARTS:
        return free.copy()
    matrix = np.zeros((dim, dim))
    matrix[lower(dim)] = free[dim:]
    if chart_name != "mean_chol":
        matrix = matrix + np.tril(matrix, -1).T
    return np.concatenate([free[:dim], matrix.ravel()])


def tangent_to_free(chart_name: str, direction: np.ndarray, dim: int) -> np.ndarray:
    """A tangent vector (a step) in chart coordinates → free coordinates."""
    if chart_name in DIAGONAL_CHARTS:
        return direction.copy()
    return np.concatenate([direction[:dim], direction[dim:].reshape(dim, dim)[lower(dim)]])


def covector_to_free(chart_name: str, gradient: np.ndarray, dim: int) -> np.ndarray:
    """A gradient (dℒ = ⟨G, dθ⟩_F) in chart coordinates → ∂ℒ/∂(free coordinates).

    A symmetric matrix's off-diagonal free entry moves two matrix entries: its derivative is
    G_ij + G_ji (the vech doubling of docs/maths.md §0).
    """
    if chart_name in DIAGONAL_CHARTS or chart_name == "mean_chol":
        return tangent_to_free(chart_name, gradient, dim)
    matrix = gradient[dim:].reshape(dim, dim)
    doubled = matrix + matrix.T - np.diag(np.diagonal(matrix))
    return np.concatenate([gradient[:dim], doubled[lower(dim)]])


def canonical_free(canonical: np.ndarray, dim: int) -> np.ndarray:
    """(μ, vech Σ) of a flat canonical row."""
    return np.concatenate([canonical[:dim], canonical[dim:].reshape(dim, dim)[lower(dim)]])


def full_canonical(canonical: np.ndarray, dim: int) -> np.ndarray:
    """(μ, Σ) of a flat canonical row in either form: a mean-field chart's (μ, v) has Σ = diag(v)."""
    if dim > 1 and canonical.size == 2 * dim:
        return np.concatenate([canonical[:dim], np.diag(canonical[dim:]).ravel()])
    return canonical


def canonical_from_free(free: np.ndarray, dim: int) -> np.ndarray:
    return theta_from_free("mean_cov", free, dim)


def fisher_mean_vech_cov(canonical: np.ndarray, dim: int) -> np.ndarray:
    """Fisher of N(μ, Σ) in (μ, vech Σ): blockdiag(Σ⁻¹, ½ tr(Σ⁻¹E_aΣ⁻¹E_b)), E_a the symmetric basis."""
    cov = canonical[dim:].reshape(dim, dim)
    precision = np.linalg.inv(cov)
    rows, cols = lower(dim)
    basis = []
    for i, j in zip(rows, cols, strict=True):
        e = np.zeros((dim, dim))
        e[i, j] = e[j, i] = 1.0
        basis.append(e)
    size = len(basis)
    block = np.empty((size, size))
    for a in range(size):
        for b in range(size):
            block[a, b] = 0.5 * np.trace(precision @ basis[a] @ precision @ basis[b])
    fisher = np.zeros((dim + size, dim + size))
    fisher[:dim, :dim] = precision
    fisher[dim:, dim:] = block
    return fisher


def central_jacobian(function, x: np.ndarray, step: float = 1e-6) -> np.ndarray:
    columns = []
    for k in range(x.size):
        e = np.zeros_like(x)
        e[k] = step
        columns.append((function(x + e) - function(x - e)) / (2 * step))
    return np.stack(columns, axis=-1)


def generic_directions(target, chart_name: str, theta: np.ndarray, dim: int):
    """(gradient, natural gradient) in free chart coordinates by J, ∇ and F from the oracles above."""
    chart = target.chart(chart_name)
    free = (
        theta.copy()
        if chart_name in DIAGONAL_CHARTS
        else np.concatenate([theta[:dim], theta[dim:].reshape(dim, dim)[lower(dim)]])
    )

    def canonical_of(x):
        return canonical_free(
            full_canonical(chart.to_canonical(theta_from_free(chart_name, x, dim)[None])[0], dim), dim
        )

    def loss_of(c):
        return np.atleast_1d(target.loss(canonical_from_free(c, dim)[None]))

    canonical = canonical_of(free)
    jacobian = central_jacobian(canonical_of, free)
    grad_canonical = central_jacobian(loss_of, canonical)[0]
    metric = jacobian.T @ fisher_mean_vech_cov(canonical_from_free(canonical, dim), dim) @ jacobian
    grad = jacobian.T @ grad_canonical
    return grad, np.linalg.solve(metric, grad)
