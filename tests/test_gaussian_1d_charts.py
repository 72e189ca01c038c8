"""Every chart of gaussian_1d against independent computations (docs/maths.md §1.1, §1.3, §2.1, §2.2)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ngbench.targets import make_target
from ngbench.targets.gaussian_1d import CHARTS
from tests.oracles import (
    BLOG_START,
    BLOG_TARGET,
    finite_difference_gradient,
    finite_difference_jacobian,
    kl_gaussian,
    log_normal_density,
    quadrature_fisher,
)

CHART_NAMES = sorted(CHARTS)
# (target mean, target var, q mean, q var): the blog's point and others with s² ≠ 1.
POINTS = [
    (3.0, 1.0, BLOG_START[0], BLOG_START[1]),
    (-1.5, 0.1, 0.7, 2.5),
    (0.0, 10.0, -4.0, 0.3),
    (2.0, 0.5, 2.3, 0.45),
]


def at(chart_name, mean, var):
    chart = CHARTS[chart_name]
    canonical = np.array([[mean, var]])
    return chart, chart.from_canonical(canonical), canonical


@pytest.mark.parametrize("chart_name", CHART_NAMES)
@pytest.mark.parametrize("point", POINTS)
def test_fisher_equals_quadrature_of_score_outer_product(chart_name, point):
    target_mean, target_var, mean, var = point
    target = make_target({"name": "gaussian_1d", "mean": target_mean, "var": target_var})
    chart, theta, canonical = at(chart_name, mean, var)

    def log_q(x, th):
        m, v = chart.to_canonical(th[None, :])[0]
        return log_normal_density(x, m, v)

    expected = quadrature_fisher(log_q, theta[0], mean, var)
    actual = chart.pullback_metric(theta, target.fisher(canonical))[0]
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-8 * np.abs(expected).max())


def test_fisher_matches_monte_carlo_in_mean_var():
    """A sampling check that does not lean on quadrature: 4·10⁵ draws, to about 3 digits."""
    target = make_target(BLOG_TARGET)
    mean, var = 0.5, 2.0
    x = np.random.default_rng(7).normal(mean, np.sqrt(var), 400_000)
    score = np.stack([(x - mean) / var, -0.5 / var + (x - mean) ** 2 / (2 * var**2)])
    monte_carlo = score @ score.T / x.size
    exact = target.fisher(np.array([[mean, var]]))[0]
    np.testing.assert_allclose(monte_carlo, exact, rtol=2e-2, atol=2e-3)


@pytest.mark.parametrize("chart_name", CHART_NAMES)
@pytest.mark.parametrize("point", POINTS)
def test_chart_gradient_equals_finite_differences_of_kl(chart_name, point):
    target_mean, target_var, mean, var = point
    target = make_target({"name": "gaussian_1d", "mean": target_mean, "var": target_var})
    chart, theta, canonical = at(chart_name, mean, var)

    def kl_in_chart(th):
        m, v = chart.to_canonical(th[None, :])[0]
        return kl_gaussian(m, v, target_mean, target_var)

    expected = finite_difference_gradient(kl_in_chart, theta[0])
    actual = chart.pullback_gradient(theta, target.grad(canonical))[0]
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("point", POINTS)
def test_loss_equals_textbook_kl(point):
    target_mean, target_var, mean, var = point
    target = make_target({"name": "gaussian_1d", "mean": target_mean, "var": target_var})
    expected = kl_gaussian(mean, var, target_mean, target_var)
    np.testing.assert_allclose(target.loss(np.array([[mean, var]]))[0], expected, rtol=1e-12)


def test_loss_keeps_precision_near_the_optimum():
    """KL ≈ (v/s² − 1)²/4 near v = s²; the library's form must resolve it far below the 1e-8 tolerance."""
    target = make_target({"name": "gaussian_1d", "mean": 0.0, "var": 0.1})
    epsilon = 1e-6
    loss = target.loss(np.array([[0.0, 0.1 * (1 + epsilon)]]))[0]
    np.testing.assert_allclose(loss, epsilon**2 / 4, rtol=1e-3)


def test_blog_start_values():
    target = make_target(BLOG_TARGET)
    np.testing.assert_allclose(target.loss(np.array([BLOG_START]))[0], 12.859140914, rtol=1e-10)
    np.testing.assert_allclose(target.loss(np.array([BLOG_START]))[0], (np.e + 23) / 2, rtol=1e-14)


@pytest.mark.parametrize("chart_name", CHART_NAMES)
@pytest.mark.parametrize("point", POINTS)
def test_closed_form_natural_gradient_equals_generic_solve(chart_name, point):
    target_mean, target_var, mean, var = point
    target = make_target({"name": "gaussian_1d", "mean": target_mean, "var": target_var})
    chart, theta, canonical = at(chart_name, mean, var)
    grad = target.grad(canonical)
    closed = chart.natural_gradient(theta, canonical, grad, target.fisher)
    generic = chart.generic_natural_gradient(theta, canonical, grad, target.fisher)
    np.testing.assert_allclose(closed, generic, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("source,destination", list(itertools.permutations(CHART_NAMES, 2)))
def test_natural_gradient_is_a_tangent_vector(source, destination):
    """ng_φ = (∂φ/∂θ) ng_θ between every pair of charts (docs/maths.md §1.3), ∂φ/∂θ by finite differences."""
    target_mean, target_var, mean, var = POINTS[1]
    target = make_target({"name": "gaussian_1d", "mean": target_mean, "var": target_var})
    chart_from, theta, canonical = at(source, mean, var)
    chart_to, phi, _ = at(destination, mean, var)
    grad = target.grad(canonical)

    def phi_of_theta(th):
        return chart_to.from_canonical(chart_from.to_canonical(th[None, :]))[0]

    jacobian = finite_difference_jacobian(phi_of_theta, theta[0])
    ng_theta = chart_from.natural_gradient(theta, canonical, grad, target.fisher)[0]
    ng_phi = chart_to.natural_gradient(phi, canonical, grad, target.fisher)[0]
    np.testing.assert_allclose(jacobian @ ng_theta, ng_phi, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("chart_name", CHART_NAMES)
def test_squared_fisher_norm_is_the_same_in_every_chart(chart_name):
    """∇ℒᵀ F⁻¹ ∇ℒ = 69.4333 at the blog's start in all six charts (docs/maths.md §1.3)."""
    target = make_target(BLOG_TARGET)
    chart, theta, canonical = at(chart_name, *BLOG_START)
    grad = target.grad(canonical)
    ng = chart.natural_gradient(theta, canonical, grad, target.fisher)[0]
    np.testing.assert_allclose(chart.pullback_gradient(theta, grad)[0] @ ng, 69.4333, rtol=1e-5)


@pytest.mark.parametrize("point", POINTS)
def test_duality_between_natural_and_expectation_parameters(point):
    """ng_η = ∇_m ℒ and ng_m = ∇_η ℒ (docs/maths.md §2.1)."""
    target_mean, target_var, mean, var = point
    target = make_target({"name": "gaussian_1d", "mean": target_mean, "var": target_var})
    natural, eta, canonical = at("natural", mean, var)
    expectation, m, _ = at("expectation", mean, var)
    grad = target.grad(canonical)
    np.testing.assert_allclose(
        natural.generic_natural_gradient(eta, canonical, grad, target.fisher),
        expectation.pullback_gradient(m, grad),
        rtol=1e-10,
    )
    np.testing.assert_allclose(
        expectation.generic_natural_gradient(m, canonical, grad, target.fisher),
        natural.pullback_gradient(eta, grad),
        rtol=1e-10,
    )


def test_kl_gradients_in_named_charts_match_math_md():
    """The §2.2 closed forms: ∂/∂σ = σ/s² − 1/σ, ∂/∂log σ = σ²/s² − 1, ∂/∂m₁ = μ/v − a/s²."""
    a, s2, mean, var = POINTS[2]
    target = make_target({"name": "gaussian_1d", "mean": a, "var": s2})
    canonical = np.array([[mean, var]])
    grad = target.grad(canonical)
    sigma = np.sqrt(var)
    assert CHARTS["mean_std"].pullback_gradient(CHARTS["mean_std"].from_canonical(canonical), grad)[0, 1] == (
        pytest.approx(sigma / s2 - 1 / sigma, rel=1e-12)
    )
    log_std = CHARTS["mean_logstd"]
    assert log_std.pullback_gradient(log_std.from_canonical(canonical), grad)[0, 1] == pytest.approx(
        var / s2 - 1, rel=1e-12
    )
    expectation = CHARTS["expectation"]
    assert expectation.pullback_gradient(expectation.from_canonical(canonical), grad)[0, 0] == pytest.approx(
        mean / var - a / s2, rel=1e-12
    )


@pytest.mark.parametrize("chart_name", CHART_NAMES)
def test_chart_round_trip_and_domain(chart_name):
    chart = CHARTS[chart_name]
    canonical = np.array([[0.3, 2.0], [-4.0, 0.01], [5.0, 30.0]])
    np.testing.assert_allclose(chart.to_canonical(chart.from_canonical(canonical)), canonical, rtol=1e-12)
    assert chart.in_domain(chart.from_canonical(canonical)).all()
