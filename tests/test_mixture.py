"""Mixture target against Monte Carlo, finite differences, EM and its exact singularity (docs/maths.md §3)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from ngbench.solve import solve_cell
from ngbench.targets import make_target
from tests.oracles import finite_difference_gradient, finite_difference_jacobian
from tests.test_runner import cell

SPEC = {
    "name": "mixture",
    "weight": 0.3,
    "var": 1.5,
    "means": [-1.0, 2.0],
    "n": 150,
    "data_seed": 4,
    "damping": 0.0,
}
POINTS = [[0.4, 1.1], [-2.0, 3.0], [2.5, -0.5], [1.0, 1.0]]


def mixture_cell(init, method, lr, steps):
    return cell(
        target=SPEC, init=init, parameterization="identity", method=method, learning_rates=[lr], steps=steps
    )


@pytest.fixture(scope="module")
def mixture():
    return make_target(SPEC)


def likelihoods(x, theta, weight=SPEC["weight"], var=SPEC["var"]):
    """π N(x; a, σ²) and (1−π) N(x; b, σ²), with scipy's density."""
    sd = np.sqrt(var)
    return weight * norm.pdf(x, theta[0], sd), (1 - weight) * norm.pdf(x, theta[1], sd)


def nll(theta, data):
    first, second = likelihoods(data, theta)
    return -np.mean(np.log(first + second))


def test_data_are_drawn_from_the_seed():
    same = make_target(SPEC)
    other = make_target({**SPEC, "data_seed": 5})
    np.testing.assert_array_equal(same.data, make_target(SPEC).data)
    assert not np.array_equal(same.data, other.data)
    assert same.data.size == SPEC["n"]


@pytest.mark.parametrize("point", POINTS)
def test_loss_and_gradient_against_scipy_and_finite_differences(mixture, point):
    theta = np.array([point])
    assert mixture.loss(theta)[0] == pytest.approx(nll(point, mixture.data), rel=1e-12)
    expected = finite_difference_gradient(lambda t: nll(t, mixture.data), np.array(point))
    np.testing.assert_allclose(mixture.grad(theta)[0], expected, rtol=1e-7, atol=1e-10)
    hessian = finite_difference_jacobian(lambda t: mixture.grad(t[None, :])[0], np.array(point))
    np.testing.assert_allclose(mixture.hessian(theta)[0], hessian, rtol=1e-6, atol=1e-9)


def per_datum_scores(x, theta):
    """∇θ log p(x | θ) by finite differences of scipy's log density, one row per datum."""
    return np.array(
        [
            finite_difference_gradient(lambda t, x=x: np.log(sum(likelihoods(x, t))), np.array(theta))
            for x in x
        ]
    )


@pytest.mark.parametrize("point", POINTS)
def test_expected_fisher_matches_monte_carlo(mixture, point):
    rng = np.random.default_rng(0)
    draws = 400_000
    first = rng.random(draws) < SPEC["weight"]
    x = np.where(first, point[0], point[1]) + np.sqrt(SPEC["var"]) * rng.standard_normal(draws)
    first_l, second_l = likelihoods(x, point)
    responsibility = first_l / (first_l + second_l)
    scores = (
        np.stack([responsibility * (x - point[0]), (1 - responsibility) * (x - point[1])], 1) / SPEC["var"]
    )
    monte_carlo = scores.T @ scores / draws
    quadrature = mixture.fisher(np.array([point]))[0]
    np.testing.assert_allclose(quadrature, monte_carlo, rtol=2e-2, atol=5e-3 * np.abs(monte_carlo).max())


def test_expected_fisher_is_rank_one_on_the_diagonal(mixture):
    """On a = b the two scores are proportional: eigenvalues {0, (π² + (1−π)²)/σ²}."""
    pi, var = SPEC["weight"], SPEC["var"]
    for diagonal in (-1.0, 0.3, 2.0):
        eigenvalues = np.linalg.eigvalsh(mixture.fisher(np.array([[diagonal, diagonal]]))[0])
        np.testing.assert_allclose(eigenvalues, [0.0, (pi**2 + (1 - pi) ** 2) / var], atol=1e-12)


def test_damping_adds_lambda_identity():
    damped = make_target({**SPEC, "damping": 0.01})
    plain = make_target(SPEC)
    theta = np.array(POINTS)
    np.testing.assert_allclose(
        damped.fisher(theta) - plain.fisher(theta), np.broadcast_to(0.01 * np.eye(2), (4, 2, 2))
    )
    np.testing.assert_allclose(
        damped.empirical_fisher(theta) - plain.empirical_fisher(theta),
        np.broadcast_to(0.01 * np.eye(2), (4, 2, 2)),
    )


@pytest.mark.parametrize("point", POINTS[:2])
def test_empirical_fisher_is_the_mean_outer_product_of_data_scores(mixture, point):
    scores = per_datum_scores(mixture.data, point)
    np.testing.assert_allclose(
        mixture.empirical_fisher(np.array([point]))[0], scores.T @ scores / scores.shape[0], rtol=1e-7
    )


@pytest.mark.parametrize("point", POINTS)
def test_complete_data_fisher_step_of_one_is_an_em_step(mixture, point):
    """θ − F_c⁻¹∇ℒ with F_c = diag(meanₙ r_a, meanₙ r_b)/σ² is exactly EM: a' = Σ r_a x / Σ r_a."""
    params = mixture_cell({"theta_0": point[0], "theta_1": point[1]}, "em", 1.0, steps=5)
    reference = mixture.reference_solution()
    states = solve_cell(params, reference).result.states[:, 0]
    theta = np.array(point)
    for t in range(1, 6):
        first, second = likelihoods(mixture.data, theta)
        responsibility = first / (first + second)
        theta = np.array(
            [
                np.sum(responsibility * mixture.data) / np.sum(responsibility),
                np.sum((1 - responsibility) * mixture.data) / np.sum(1 - responsibility),
            ]
        )
        np.testing.assert_allclose(states[t], theta, rtol=1e-11)


def test_reference_optimum_is_stationary_and_global(mixture):
    reference = mixture.reference_solution()
    optimum = np.array(reference["optimum"])
    assert np.linalg.norm(mixture.grad(optimum[None, :])[0]) < 1e-8
    assert np.linalg.eigvalsh(mixture.hessian(optimum[None, :])[0]).min() > 0
    grid = np.stack(np.meshgrid(np.linspace(-6, 6, 241), np.linspace(-6, 6, 241)), -1).reshape(-1, 2)
    assert mixture.loss(grid).min() >= reference["optimum_loss"] - 1e-12
    # Close to the truth it was drawn from, and the label-switched minimum is worse (π ≠ ½).
    assert np.abs(optimum - SPEC["means"]).max() < 0.6
    assert len(reference["local_minima"]) == 2
    assert reference["local_minima"][1]["loss"] > reference["optimum_loss"]


def test_gap_is_measured_from_the_reference(mixture):
    reference = mixture.reference_solution()
    start = np.array(reference["optimum"]) + [0.3, -0.2]
    params = mixture_cell({"theta_0": start[0], "theta_1": start[1]}, "ngd", 0.5, steps=200)
    result = solve_cell(params, reference)
    trajectories = result.trajectories.to_pandas()
    np.testing.assert_allclose(
        trajectories["gap"], trajectories["loss"] - reference["optimum_loss"], rtol=0, atol=0
    )
    assert result.result.status[0] == "converged"
    assert trajectories["gap"].min() > -1e-12
    with pytest.raises(ValueError, match="reference"):
        solve_cell(params)
