"""Start draws as distributions: log-uniform is uniform in the logarithm, coordinates are independent.

Bounds alone cannot tell log-uniform draws from uniform ones (issue 19). The draws are seeded, so
each test is one fixed computation: its statistic was measured far from its threshold (noted per test).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ngbench.starts import draw_coordinate, draw_vector, initial_states
from ngbench.targets import make_target

SEEDS = tuple(range(2000))
LOW, HIGH = 0.01, 100.0
INIT = {"mean": {"uniform": [-5.0, 5.0]}, "var": {"loguniform": [LOW, HIGH]}}


def _log_uniform(values):
    return stats.kstest(np.log(values), "uniform", args=(np.log(LOW), np.log(HIGH / LOW)))


def test_loguniform_starts_are_uniform_in_the_logarithm():
    starts = initial_states(("mean", "var"), INIT, SEEDS)
    assert ((starts[:, 1] >= LOW) & (starts[:, 1] <= HIGH)).all()
    assert _log_uniform(starts[:, 1]).pvalue > 1e-3  # measured 0.67
    # A uniform draw on [0.01, 100] puts half its mass above 50; log-uniform, 15 % above 10.
    assert 0.4 < np.mean(starts[:, 1] < 1.0) < 0.6


def test_uniform_starts_are_uniform():
    starts = initial_states(("mean", "var"), INIT, SEEDS)
    assert stats.kstest(starts[:, 0], "uniform", args=(-5.0, 10.0)).pvalue > 1e-3


def test_coordinates_of_a_start_are_independent():
    """Each coordinate has its own generator: the mean's and the variance's draws are uncorrelated."""
    starts = initial_states(("mean", "var"), INIT, SEEDS)
    correlation = stats.spearmanr(starts[:, 0], np.log(starts[:, 1])).statistic
    assert abs(correlation) < 0.1  # 1/√2000 = 0.022 is its standard error
    same = initial_states(("mean", "var"), {"mean": INIT["var"], "var": INIT["var"]}, SEEDS[:200])
    assert not np.array_equal(same[:, 0], same[:, 1])


def test_one_coordinate_draw_matches_the_vector_draw_distribution():
    rng = np.random.default_rng(5)
    scalars = np.array([draw_coordinate(INIT["var"], rng) for _ in range(2000)])
    vector = draw_vector(INIT["var"], np.random.default_rng(6), 2000)
    assert _log_uniform(scalars).pvalue > 1e-3
    assert _log_uniform(vector).pvalue > 1e-3
    assert ((vector >= LOW) & (vector <= HIGH)).all()
    np.testing.assert_array_equal(draw_vector(2.5, rng, 3), [2.5, 2.5, 2.5])
    assert draw_coordinate(2.5, rng) == 2.5


def test_d_dimensional_starts_draw_each_entry_log_uniformly():
    dim = 50
    target = make_target({"name": "gaussian_nd", "dim": dim, "condition_number": 4.0, "seed": 0})
    init = {"mean": {"uniform": [-1.0, 1.0]}, "var": {"loguniform": [LOW, HIGH]}}
    starts = target.initial_states(init, (0, 1, 2, 3))
    covs = starts[:, dim:].reshape(-1, dim, dim)
    variances = np.diagonal(covs, axis1=1, axis2=2)
    np.testing.assert_array_equal(covs, variances[:, :, None] * np.eye(dim))
    # Measured: p = 0.50 for the 200 variances, 0.08 for the 200 means; uniform variances give p ~ 1e-85.
    assert _log_uniform(variances.ravel()).pvalue > 1e-3
    assert stats.kstest(starts[:, :dim].ravel(), "uniform", args=(-1.0, 2.0)).pvalue > 1e-3
    # Seeds differ; mean and variance use different generators: their draws are uncorrelated.
    assert not np.array_equal(starts[0], starts[1])
    correlation = stats.spearmanr(starts[:, :dim].ravel(), np.log(variances.ravel())).statistic
    assert abs(correlation) < 0.25  # 1/√200 = 0.07 is its standard error; one generator gives 1
