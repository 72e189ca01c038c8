"""The faster arithmetic of issue 18 against the plain forms it replaced: the same numbers, or the
same up to rounding where a chart's own coordinates stand in for a computed inverse."""

from __future__ import annotations

import numpy as np
import pytest

from ngbench.memo import STEP, StepMemo
from ngbench.methods import METHODS, StepContext
from ngbench.runner import run_batch
from ngbench.targets import make_target
from ngbench.targets.gaussian_family import cholesky, inverse, inverse_from_cholesky, join
from ngbench.targets.logistic_vi import log_expectation, log_sigmoid

FULL_CHARTS = ("mean_cov", "mean_chol", "mean_prec", "natural", "expectation")
MEAN_FIELD_CHARTS = ("diagonal", "diagonal_natural")


def spd_batch(rng, batch=6, dim=7):
    a = rng.normal(size=(batch, dim, dim))
    return a @ np.swapaxes(a, 1, 2) / dim + np.geomspace(1e-3, 1.0, batch)[:, None, None] * np.eye(dim)


def test_inverse_from_cholesky_is_the_symmetric_inverse():
    matrix = spd_batch(np.random.default_rng(0))
    inverted = inverse(matrix)
    np.testing.assert_array_equal(inverted, np.swapaxes(inverted, 1, 2))
    np.testing.assert_allclose(inverted, np.linalg.inv(matrix), rtol=1e-9, atol=0)
    np.testing.assert_allclose(inverted @ matrix, np.broadcast_to(np.eye(7), matrix.shape), atol=1e-9)


def test_matrices_without_a_factor_get_the_lu_inverse_as_before():
    """An indefinite Λ still maps to a Σ (the chart's domain check then calls it invalid)."""
    matrix = spd_batch(np.random.default_rng(1))
    matrix[2] = -matrix[2]
    matrix[4, 0, 0] = np.nan
    inverted = inverse(matrix)
    lu = np.linalg.inv(matrix[2])
    np.testing.assert_array_equal(inverted[2], 0.5 * (lu + lu.T))
    assert np.isnan(inverted[4]).any()
    assert np.isfinite(np.delete(inverted, 4, axis=0)).all()
    # The factor is left as it was: potri works on a copy.
    chol = cholesky(matrix[:2])
    before = chol.copy()
    inverse_from_cholesky(chol)
    np.testing.assert_array_equal(chol, before)


def test_step_memo_keeps_results_only_within_its_scope():
    memo, calls = StepMemo(), []
    array = np.ones(3)

    def compute():
        calls.append(1)
        return array.sum()

    assert memo.get("sum", array, compute) == 3 and memo.get("sum", array, compute) == 3
    assert len(calls) == 2  # outside a scope: computed every time
    memo.put("sum", array, -1.0)
    with memo.scope():
        assert memo.get("sum", array, compute) == 3
        assert memo.get("sum", array, compute) == 3
        assert len(calls) == 3  # once within the scope
        assert memo.get("sum", array.copy(), compute) == 3  # an equal array is another key
        memo.forget()
        memo.put("sum", array, -1.0)
        assert memo.get("sum", array, compute) == -1.0
    assert memo.get("sum", array, compute) == 3  # nothing outlives the scope
    assert not STEP._open


def plain_loop(target, chart, method, start, lr, steps):
    """θ ← θ − ρ·direction(θ) outside any memo scope: every inverse and factor computed afresh."""
    theta = chart.from_canonical(start)
    context, losses = StepContext(), []
    for t in range(steps + 1):
        canonical = chart.to_canonical(theta)
        losses.append(target.loss_at(chart, theta, canonical))
        if t == steps:
            break
        context.iteration = t
        theta = theta - lr[:, None] * METHODS[method](target, chart, theta, canonical, context)
    return np.array(losses), chart.to_canonical(theta)


@pytest.mark.parametrize("chart_name", FULL_CHARTS + MEAN_FIELD_CHARTS)
@pytest.mark.parametrize("method", ["gd", "ngd", "adam"])
def test_runner_steps_equal_a_plain_loop(chart_name, method):
    """The runner shares factorizations within a step (and takes Σ⁻¹ = Λ from precision charts):
    its losses equal a loop that computes everything afresh, up to rounding."""
    target = make_target({"name": "gaussian_nd", "dim": 6, "condition_number": 5.0, "seed": 2})
    chart = target.chart(chart_name)
    start = target.initial_states({"mean": {"uniform": [-1.0, 1.0]}, "var": 0.5}, (0, 1, 2))
    lr = np.array([0.002, 0.01, 0.02])
    steps = 25
    result = run_batch(target, chart, METHODS[method], start, lr, steps, 0.0)
    assert (result.status == "budget").all()
    losses, _ = plain_loop(target, chart, method, start, lr, steps)
    np.testing.assert_allclose(result.loss, losses, rtol=1e-10, atol=1e-12)


def test_mean_field_gradient_is_exactly_the_diagonal_of_the_full_one():
    """The mean-field form's gradient (g_μ, diag G) holds bit for bit the numbers of the full path's
    G = ½(Λ* − Σ⁻¹) at Σ = diag(v) with its LU inverse, without forming any d×d matrix."""
    target = make_target({"name": "gaussian_nd", "dim": 5, "condition_number": 30.0, "seed": 2})
    chart = target.chart("diagonal")
    theta = np.abs(np.random.default_rng(3).normal(size=(4, 10))) + 0.01
    canonical = chart.to_canonical(theta)
    assert canonical.shape == (4, 10)
    cov = np.zeros((4, 5, 5))
    cov[:, range(5), range(5)] = theta[:, 5:]
    lu = np.linalg.inv(cov)
    before = 0.5 * (target.target_precision - 0.5 * (lu + np.swapaxes(lu, 1, 2)))  # the former G
    with STEP.scope():
        inside = target.grad(chart.to_canonical(theta))
    np.testing.assert_array_equal(inside[:, 5:], np.diagonal(before, axis1=1, axis2=2))
    np.testing.assert_array_equal(
        inside[:, :5], (theta[:, :5] - target.target_mean) @ target.target_precision
    )
    np.testing.assert_array_equal(target.grad(canonical), inside)  # no step memo involved


def test_logistic_expectations_equal_the_whole_batch_expressions():
    """Run by run in reused buffers: the same numbers as the batch expressions they replaced."""
    target = make_target({"name": "logistic_vi", "quadrature_nodes": 60})
    rng = np.random.default_rng(4)
    dim, batch = target.dim, 5
    mean = rng.normal(size=(batch, dim)) * np.array([0.01, 0.3, 1.0, 3.0, 10.0])[:, None]
    a = rng.normal(size=(batch, dim, dim)) * 0.1
    cov = a @ np.swapaxes(a, 1, 2) + np.array([1e-6, 0.01, 0.1, 1.0, 10.0])[:, None, None] * np.eye(dim)
    # The data term Σₙ E[softplus(aₙ)] − yᵀXm, E[φ′] = E[σ(a)] − y and the Stein curvature.
    centre, spread, data_term, slopes, stein = target._train_expectations(mean, cov)

    nodes = centre[..., None] + spread[..., None] * target.nodes
    small = np.exp(-np.abs(nodes))
    reciprocal = 1.0 / (1.0 + small)
    probability = np.where(nodes >= 0.0, reciprocal, small * reciprocal)
    softplus = (np.maximum(nodes, 0.0) + np.log1p(small)) @ target.weights
    np.testing.assert_array_equal(data_term, softplus.sum(axis=1) - centre @ target.train_y)
    np.testing.assert_array_equal(slopes, probability @ target.weights - target.train_y)
    np.testing.assert_array_equal(stein, (probability @ (target.weights * target.nodes)) / spread)

    canonical = join(mean, cov)
    test_centre, test_spread = target._projections(target.test_x, mean, cov)
    signed = (2.0 * target.test_y - 1.0)[:, None] * (
        test_centre[..., None] + test_spread[..., None] * target.nodes
    )
    terms = -np.logaddexp(0.0, -signed) + target.log_weights
    top = terms.max(axis=-1, keepdims=True)
    expected = -(top + np.log(np.exp(terms - top).sum(axis=-1, keepdims=True)))[..., 0].mean(axis=1)
    np.testing.assert_array_equal(target.test_log_loss(canonical), expected)
    # The helpers written over their argument give what they gave before.
    values = rng.normal(size=(3, 60)) * 50
    np.testing.assert_array_equal(log_sigmoid(values.copy(), out=None), -np.logaddexp(0.0, -values))
    np.testing.assert_array_equal(
        log_expectation(values, target.log_weights, out=values.copy()),
        log_expectation(values, target.log_weights),
    )
