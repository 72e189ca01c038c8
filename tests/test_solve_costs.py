"""Cheaper solver jobs (issue 18, item 5) against the forms they replaced: the same numbers, bit for bit.

The mixture's arithmetic goes through `ngbench.portable` so that every CPU computes the same
trajectory; its faster forms must keep every bit, not just agree to rounding."""

from __future__ import annotations

import numpy as np
import pytest

from ngbench import portable
from ngbench.memo import STEP
from ngbench.methods import METHODS
from ngbench.runner import run_batch
from ngbench.targets import make_target

SPEC = {"name": "mixture", "weight": 0.3, "var": 1.5, "means": [-1.0, 2.0], "n": 150, "data_seed": 4}
# Near the modes, between them, on the diagonal θ₀ = θ₁, far out (shares of e^−700), and not finite.
POINTS = [[0.4, 1.1], [-1.0, 2.0], [1.0, 1.0], [2.5, -0.5], [-40.0, 30.0], [np.nan, 1.0], [np.inf, 0.0]]


@pytest.fixture(scope="module")
def mixture():
    target = make_target({**SPEC, "damping": 1e-3})
    return target.with_reference(target.reference_solution())


def former_scores(target, canonical, points):
    """The scores and responsibilities as written before the pieces were shared (np.where of stacks)."""
    centred = points[..., None] - canonical[:, None, :]
    log_joint = target.log_weights - target.log_normaliser - centred**2 / (2 * target.var)
    difference = log_joint[..., 0] - log_joint[..., 1]
    smaller = portable.exp(-np.abs(difference))
    larger_share = 1.0 / (1.0 + smaller)
    smaller_share = smaller * larger_share
    responsibilities = np.where(
        (difference >= 0)[..., None],
        np.stack([larger_share, smaller_share], axis=-1),
        np.stack([smaller_share, larger_share], axis=-1),
    )
    scores = responsibilities * (points[..., None] - canonical[:, None, :]) / target.var
    return scores, responsibilities, log_joint


def test_mixture_pieces_equal_the_former_expressions(mixture):
    canonical = np.array(POINTS)
    data = np.broadcast_to(mixture.data, (canonical.shape[0], mixture.data.size))
    with np.errstate(all="ignore"):
        scores, responsibilities, log_joint = former_scores(mixture, canonical, data)
    n = mixture.data.size
    # Within a step scope (shared pieces) and outside it (each computed afresh), in the runner's order.
    for scope in (STEP.scope, lambda: np.errstate()):
        with scope(), np.errstate(all="ignore"):
            losses = mixture.loss(canonical)
            np.testing.assert_array_equal(
                losses, (-portable.logaddexp(log_joint[..., 0], log_joint[..., 1])).mean(axis=1)
            )
            np.testing.assert_array_equal(mixture.grad(canonical), -scores.mean(axis=1))
            np.testing.assert_array_equal(
                mixture.empirical_fisher(canonical),
                np.einsum("bmi,bmj->bij", scores, scores) / n + 1e-3 * np.eye(2),
            )
            np.testing.assert_array_equal(
                mixture.complete_data_fisher(canonical),
                np.einsum("bk,kl->bkl", responsibilities.mean(axis=1) / mixture.var, np.eye(2)),
            )
            centred = (data[..., None] - canonical[:, None, :]) / mixture.var
            curvature = responsibilities * (centred**2 - 1.0 / mixture.var)
            np.testing.assert_array_equal(
                mixture.hessian(canonical),
                np.einsum("bmi,bmj->bij", scores, scores) / n
                - np.einsum("bmi,ij->bij", curvature, np.eye(2)) / n,
            )
            nodes, node_weights = portable.hermite_gauss.__wrapped__(80)  # computed afresh
            points = (canonical[:, :, None] + np.sqrt(mixture.var) * nodes).reshape(canonical.shape[0], -1)
            weights = (np.array([0.3, 0.7])[:, None] * node_weights).reshape(-1)
            quadrature_scores = former_scores(mixture, canonical, points)[0]
            np.testing.assert_array_equal(
                mixture.fisher(canonical),
                np.einsum("m,bmi,bmj->bij", weights, quadrature_scores, quadrature_scores) + 1e-3 * np.eye(2),
            )
    assert np.isfinite(losses[:5]).all() and np.isnan(losses[5])  # the rows exercised what they should


@pytest.mark.parametrize("method", ["gd", "ngd", "ef", "em", "newton"])
def test_mixture_runs_are_the_same_with_the_step_memo_switched_off(mixture, method, monkeypatch):
    """The runner shares one step's log-joints between the loss, the gradient and the preconditioner:
    every iterate equals that of a runner computing each afresh (runs converge, diverge, and with em
    and newton fail on the way, so the batch is compacted and redone run by run)."""
    start = np.array([[-2.5, -1.0], [0.5, 0.5], [3.0, -2.0], [1.0, 1.0]])
    start = np.repeat(start, 3, axis=0)
    lr = np.tile([0.1, 1.0, 50.0], 4)

    def run():
        return run_batch(
            mixture, mixture.chart("identity"), METHODS[method], start, lr, 60, 1e-6, 1e3, stop_at_target=True
        )

    shared = run()
    monkeypatch.setattr(STEP, "get", lambda kind, array, compute: compute())
    afresh = run()
    np.testing.assert_array_equal(shared.loss, afresh.loss)
    np.testing.assert_array_equal(shared.states, afresh.states)
    np.testing.assert_array_equal(shared.status, afresh.status)
    np.testing.assert_array_equal(shared.stop_iter, afresh.stop_iter)
    assert (shared.stop_iter < 60).any(), shared.status  # some runs stopped: the batch was compacted


def test_hermite_rule_is_computed_once_and_read_only():
    nodes, weights = portable.hermite_gauss(12)
    assert portable.hermite_gauss(12)[0] is nodes
    fresh_nodes, fresh_weights = portable.hermite_gauss.__wrapped__(12)
    np.testing.assert_array_equal(nodes, fresh_nodes)
    np.testing.assert_array_equal(weights, fresh_weights)
    with pytest.raises(ValueError, match="read-only"):
        nodes[0] = 0.0


def test_logaddexp_given_its_exponential_is_logaddexp():
    rng = np.random.default_rng(5)
    a = np.concatenate([rng.normal(size=50) * 300, [np.inf, -np.inf, np.inf, np.nan, 1.0, -np.inf]])
    b = np.concatenate([rng.normal(size=50) * 300, [np.inf, -np.inf, 1.0, 0.0, np.nan, 2.0]])
    with np.errstate(invalid="ignore"):
        given = portable.logaddexp_given(a, b, portable.exp(-np.abs(a - b)))
    np.testing.assert_array_equal(given, portable.logaddexp(a, b))
