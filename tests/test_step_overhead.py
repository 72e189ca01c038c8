"""The runner's per-step fixed costs, cut without changing a bit: each shortcut against the plain
form it replaced, compared as raw bits (a sign of zero or a NaN's place counts)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg.lapack import dpotri

from ngbench.charts import Chart, IdentityChart
from ngbench.targets.gaussian_family import GaussianND, _lu_inverse, cholesky, inverse_from_cholesky
from ngbench.targets.quadratic import Quadratic


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and np.array_equal(a.view(np.int64), b.view(np.int64))


def former_inverse_from_cholesky(chol, matrix):
    """The loop as it was written before: potri by keyword on each usable run, the diagonal by
    fancy indexing, the LU inverse for runs without a factor."""
    work = np.array(chol, dtype=float)
    usable = np.isfinite(work).all(axis=(1, 2))
    for run in np.flatnonzero(usable):
        _, info = dpotri(work[run].T, lower=0, overwrite_c=1)
        usable[run] = info == 0
    full = work + np.swapaxes(work, 1, 2)
    index = np.arange(full.shape[-1])
    full[:, index, index] = work[:, index, index]
    if not usable.all():
        full[~usable] = _lu_inverse(matrix[~usable])
    return full


@pytest.mark.parametrize("dim", [1, 2, 10, 33])
def test_inverse_from_cholesky_gives_the_former_loops_bits(dim):
    rng = np.random.default_rng(dim)
    a = rng.normal(size=(9, dim, dim))
    matrix = a @ np.swapaxes(a, 1, 2) / dim + np.geomspace(1e-4, 1.0, 9)[:, None, None] * np.eye(dim)
    matrix[3] = -matrix[3]  # no factor: the LU inverse
    if dim > 1:
        matrix[6, 0, 1] = matrix[6, 1, 0] = np.nan  # no factor, and no inverse either
    chol = cholesky(matrix)
    assert same_bits(inverse_from_cholesky(chol, matrix), former_inverse_from_cholesky(chol, matrix))
    # Into a caller's block (a view of a flat state), as the charts call it.
    flat = np.zeros((9, dim + dim * dim))
    block = flat[:, dim:].reshape(-1, dim, dim)
    inverse_from_cholesky(chol, matrix, out=block)
    assert same_bits(flat[:, dim:].reshape(-1, dim, dim), former_inverse_from_cholesky(chol, matrix))


def test_identity_pullback_metric_is_the_generic_product_bit_for_bit():
    rng = np.random.default_rng(0)
    chart, theta = IdentityChart("identity"), np.zeros((5, 3))
    generic = Chart.pullback_metric
    metrics = [
        rng.normal(size=(5, 3, 3)),
        np.broadcast_to(rng.normal(size=(3, 3)), (5, 3, 3)),  # a target's constant Fisher
    ]
    for special in (0.0, -0.0, np.inf, -np.inf, np.nan):  # entries the shortcut must leave alone
        metric = rng.normal(size=(5, 3, 3))
        metric[2, 0, 1] = special
        metrics.append(metric)
    for metric in metrics:
        assert same_bits(chart.pullback_metric(theta, metric), generic(chart, theta, metric))


def test_a_negative_zero_in_the_metric_keeps_the_generic_products_sign():
    chart, theta = IdentityChart("identity"), np.zeros((1, 2))
    metric = np.array([[[2.0, -0.0], [-0.0, 3.0]]])
    assert same_bits(chart.pullback_metric(theta, metric), Chart.pullback_metric(chart, theta, metric))


@pytest.mark.parametrize("dim", [1, 3, 10])
def test_gaussian_observation_is_numpys_norm(dim):
    target = GaussianND(dim, 10.0)
    rng = np.random.default_rng(dim)
    canonical = target.initial_states({"mean": {"uniform": [-2.0, 2.0]}, "var": 0.1}, tuple(range(7)))
    canonical[:, :dim] += rng.normal(size=(7, dim))
    chart = target.chart("mean_cov")
    error = np.linalg.norm(canonical[:, :dim] - target.target_mean, axis=1)[:, None]
    expected = np.column_stack([canonical, error]) if dim == 1 else error
    assert same_bits(target.observe(canonical, chart), expected)


def test_cached_columns_follow_each_targets_own_state_names():
    """Observed and domain columns are looked up once per target and per `state_names`."""
    small, large = GaussianND(2, 4.0), GaussianND(3, 4.0)
    for target in (small, large):
        states = target.initial_states({"mean": 0.5, "var": 0.2}, (0, 1))
        assert target.in_domain(states).all()
        states[1, target.init_columns("var")[-1]] = -1.0  # the last variance: only its own cache has it
        assert target.in_domain(states).tolist() == [True, False]
    quadratic = Quadratic(np.diag([1.0, 4.0]), np.zeros(2))
    canonical = np.arange(6.0).reshape(3, 2)
    assert same_bits(quadratic.observe(canonical, quadratic.chart("identity")), canonical)
    quadratic.state_names = ("theta_0", "slope")  # another tuple, one observed column: looked up again
    assert same_bits(quadratic.observe(canonical, quadratic.chart("identity")), canonical[:, :1])
