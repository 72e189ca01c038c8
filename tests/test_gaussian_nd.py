"""The d-dimensional Gaussian family (docs/maths.md §1.2, §2.2, §2.3): charts, the KL target, MC gradients."""

from __future__ import annotations

import numpy as np
import pytest

from ngbench.methods import METHODS, StepContext, natural_gradient
from ngbench.runner import run_batch
from ngbench.solve import solve_cell
from ngbench.targets import make_target
from ngbench.targets.gaussian_family import join, split
from tests.gaussian_oracles import (
    DIAGONAL_CHARTS,
    covector_to_free,
    fisher_mean_vech_cov,
    generic_directions,
    lower,
    tangent_to_free,
)

DIM = 3
FULL_CHARTS = ("mean_cov", "mean_chol", "mean_prec", "natural", "expectation")
ALL_CHARTS = FULL_CHARTS + DIAGONAL_CHARTS


def gaussian_nd(dim=DIM, condition_number=5.0, seed=1, gradient=None):
    return make_target(
        {"name": "gaussian_nd", "dim": dim, "condition_number": condition_number, "seed": seed},
        gradient=gradient,
    )


def random_state(dim, rng, diagonal=False):
    mean = rng.normal(size=dim)
    if diagonal:
        cov = np.diag(rng.uniform(0.5, 2.0, dim))
    else:
        a = rng.normal(size=(dim, dim))
        cov = a @ a.T / dim + 0.5 * np.eye(dim)
    return join(mean[None], cov[None])[0]


def kl_by_textbook(mean, cov, target_mean, target_cov):
    """KL(N(μ₀,Σ₀) ‖ N(μ₁,Σ₁)) as printed in docs/maths.md §2.2."""
    precision = np.linalg.inv(target_cov)
    error = target_mean - mean
    return 0.5 * (
        np.trace(precision @ cov)
        + error @ precision @ error
        - mean.size
        + np.log(np.linalg.det(target_cov))
        - np.log(np.linalg.det(cov))
    )


def test_target_has_the_configured_spectrum_and_a_textbook_kl():
    target = gaussian_nd(dim=6, condition_number=40.0)
    eigenvalues = np.linalg.eigvalsh(target.target_precision)
    assert eigenvalues.max() / eigenvalues.min() == pytest.approx(40.0, rel=1e-10)
    np.testing.assert_allclose(target.target_cov @ target.target_precision, np.eye(6), atol=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(3):
        state = random_state(6, rng)
        mean, cov = split(state[None], 6)
        expected = kl_by_textbook(mean[0], cov[0], target.target_mean, target.target_cov)
        assert target.loss(state[None])[0] == pytest.approx(expected, rel=1e-10)
    assert abs(target.loss(target.optimum()[None])[0]) < 1e-12
    # Another seed is another target: the rotation and μ* come from the target's seed.
    assert not np.allclose(gaussian_nd(dim=6, condition_number=40.0, seed=2).target_mean, target.target_mean)


def test_fisher_formula_matches_monte_carlo_of_the_score_outer_product():
    """E[s sᵀ] in (μ, vech Σ), s the score of N(μ, Σ), against the formula the oracles use."""
    dim = 2
    rng = np.random.default_rng(3)
    state = random_state(dim, rng)
    mean, cov = state[:dim], state[dim:].reshape(dim, dim)
    precision = np.linalg.inv(cov)
    x = rng.multivariate_normal(mean, cov, size=400_000)
    u = (x - mean) @ precision
    score_cov = 0.5 * (u[:, :, None] * u[:, None, :] - precision)
    doubled = 2 * score_cov - score_cov * np.eye(dim)  # ∂/∂vech: off-diagonal entries count twice
    rows, cols = lower(dim)
    scores = np.concatenate([u, doubled[:, rows, cols]], axis=1)
    monte_carlo = scores.T @ scores / len(x)
    np.testing.assert_allclose(monte_carlo, fisher_mean_vech_cov(state, dim), rtol=0.03, atol=0.01)


@pytest.mark.parametrize("chart_name", ALL_CHARTS)
def test_chart_gradient_and_natural_gradient_against_finite_differences_and_a_generic_solve(chart_name):
    target = gaussian_nd()
    chart = target.chart(chart_name)
    canonical = random_state(DIM, np.random.default_rng(5), diagonal=chart_name in DIAGONAL_CHARTS)
    theta = chart.from_canonical(canonical[None])[0]
    # A mean-field chart's canonical form is (μ, v): the round trip lands on its diagonal.
    np.testing.assert_allclose(
        chart.to_canonical(theta[None])[0], chart.canonical_form(canonical[None])[0], atol=1e-12
    )
    grad_canonical = target.grad(chart.to_canonical(theta[None]))  # in the form the runner hands over
    closed_grad = chart.pullback_gradient(theta[None], grad_canonical)[0]
    closed_natural = chart.natural_gradient(theta[None], canonical[None], grad_canonical, None)[0]
    finite_difference_grad, generic_natural = generic_directions(target, chart_name, theta, DIM)
    np.testing.assert_allclose(
        covector_to_free(chart_name, closed_grad, DIM), finite_difference_grad, rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(
        tangent_to_free(chart_name, closed_natural, DIM), generic_natural, rtol=1e-5, atol=1e-6
    )


def test_squared_fisher_norm_is_the_same_in_every_full_chart():
    """∇ℒᵀF⁻¹∇ℒ = ⟨gradient, natural gradient⟩ is chart-free (docs/maths.md §1.3)."""
    target = gaussian_nd(dim=4)
    canonical = random_state(4, np.random.default_rng(8))[None]
    grad = target.grad(canonical)
    norms = []
    for name in FULL_CHARTS:
        chart = target.chart(name)
        theta = chart.from_canonical(canonical)
        pairing = chart.pullback_gradient(theta, grad) * chart.natural_gradient(theta, canonical, grad, None)
        norms.append(pairing.sum())
    np.testing.assert_allclose(norms, norms[0], rtol=1e-9)


@pytest.mark.parametrize("rho", [0.3, 0.7, 1.3])
def test_natural_parameters_contract_as_one_minus_rho_to_the_t(rho):
    """η_t − η* = (1−ρ)ᵗ(η₀ − η*) exactly (docs/maths.md §2.3), and the mean's own closed form."""
    dim = 5
    target = gaussian_nd(dim=dim, condition_number=20.0)
    chart = target.chart("natural")
    start = target.initial_states({"mean": {"uniform": [-1.0, 1.0]}, "var": 0.5}, (4,))
    eta_star = chart.from_canonical(target.optimum()[None])
    theta = chart.from_canonical(start)
    eta_0 = theta.copy()
    for t in range(1, 16):
        theta = theta - rho * natural_gradient(target, chart, theta, chart.to_canonical(theta))
        np.testing.assert_allclose(theta - eta_star, (1 - rho) ** t * (eta_0 - eta_star), atol=1e-10)
        mean_t, cov_t = split(chart.to_canonical(theta), dim)
        mean_0, cov_0 = split(start, dim)
        expected = (1 - rho) ** t * cov_t[0] @ np.linalg.solve(cov_0[0], (mean_0 - target.target_mean)[0])
        np.testing.assert_allclose(mean_t[0] - target.target_mean, expected, atol=1e-10)


def test_natural_gradient_with_rho_one_reaches_the_optimum_in_one_step():
    target = gaussian_nd(dim=8, condition_number=100.0)
    start = target.initial_states(
        {"mean": {"uniform": [-3.0, 3.0]}, "var": {"loguniform": [0.1, 10.0]}}, (0, 1)
    )
    result = run_batch(target, target.chart("natural"), natural_gradient, start, np.ones(2), 3, 1e-10)
    assert (result.loss[0] > 1.0).all()
    assert np.abs(result.loss[1]).max() < 1e-10
    assert (result.status == "converged").all()
    assert result.states[1, :, 0].max() < 1e-10  # ‖μ − μ*‖
    # (μ, Λ) steps its mean with Λ_old (docs/maths.md §1.2): the same ρ = 1 step leaves a gap.
    other = run_batch(target, target.chart("mean_prec"), natural_gradient, start, np.ones(2), 1, 1e-10)
    assert (other.loss[1] > 1e-3).all()


@pytest.mark.parametrize("method", ["gd", "ngd", "adam"])
def test_cholesky_updates_keep_the_factor_lower_triangular(method):
    target = gaussian_nd(dim=4, condition_number=10.0)
    chart = target.chart("mean_chol")
    theta = chart.from_canonical(target.initial_states({"mean": 1.0, "var": 0.3}, (0,)))
    context = StepContext()
    for t in range(25):
        context.iteration = t
        theta = theta - 0.05 * METHODS[method](target, chart, theta, chart.to_canonical(theta), context)
        factor = theta[0, 4:].reshape(4, 4)
        assert np.all(np.triu(factor, 1) == 0.0)
        assert np.all(np.diagonal(factor) > 0)


def test_mean_field_charts_converge_to_the_best_diagonal_q():
    """μ = μ*, vᵢ = 1/Λ*ᵢᵢ and KL = ½(Σ log Λ*ᵢᵢ − log|Λ*|): the gap is measured against that f*."""
    target = gaussian_nd(dim=5, condition_number=10.0)
    start = target.initial_states({"mean": 0.0, "var": 0.1}, (0,))
    for name in DIAGONAL_CHARTS:
        chart = target.chart(name)
        theta = chart.from_canonical(start)
        for _ in range(1000):
            theta = theta - 0.2 * natural_gradient(target, chart, theta, chart.to_canonical(theta))
        canonical = chart.to_canonical(theta)[0]  # the mean-field form (μ, v)
        np.testing.assert_allclose(canonical[:5], target.target_mean, atol=1e-9)
        np.testing.assert_allclose(canonical[5:], 1 / np.diagonal(target.target_precision), rtol=1e-9)
        best = target.loss(chart.to_canonical(theta))[0]
        assert best == pytest.approx(target.optimum_loss_for(chart), rel=1e-9)
        assert best > 0.01  # the full family does better: f* = 0 there


def test_monte_carlo_gradient_is_unbiased_and_keyed_by_seed():
    target = gaussian_nd(dim=4, gradient={"mc": 3})
    assert target.stochastic and target.grad_evaluations == 3
    state = random_state(4, np.random.default_rng(2))[None]
    draws = np.concatenate(
        [target.estimate_grad(state, [np.random.default_rng([9, k])]) for k in range(4000)], axis=0
    )
    exact = target.grad(state)[0]
    error = np.abs(draws.mean(axis=0) - exact)
    standard_error = draws.std(axis=0) / np.sqrt(len(draws))
    assert (error <= 5 * standard_error + 1e-12).all()
    assert standard_error[:4].min() > 0  # the mean part is noisy; ∇²ℓ is constant here, so G is exact
    np.testing.assert_allclose(draws[:, 4:], np.broadcast_to(exact[4:], draws[:, 4:].shape), atol=1e-12)


def test_monte_carlo_runs_are_reproducible_and_independent_of_the_batch():
    target = gaussian_nd(dim=3, gradient={"mc": 2})
    chart = target.chart("natural")
    starts = target.initial_states({"mean": 1.0, "var": 1.0}, (0, 1))

    def run(seeds, lrs):
        return run_batch(target, chart, natural_gradient, starts[: len(seeds)], lrs, 30, 1e-12, seeds=seeds)

    together = run(np.array([5, 6]), np.array([0.3, 0.3]))
    again = run(np.array([5, 6]), np.array([0.3, 0.3]))
    alone = run(np.array([5]), np.array([0.3]))
    np.testing.assert_array_equal(together.loss, again.loss)
    # Same noise alone or in a batch; batched BLAS kernels may round the last bit differently.
    np.testing.assert_allclose(together.loss[:, 0], alone.loss[:, 0], rtol=1e-12)
    assert not np.allclose(together.loss[5:, 0], together.loss[5:, 1])  # another seed, other noise
    with pytest.raises(ValueError, match="seeds"):
        run_batch(target, chart, natural_gradient, starts, np.array([0.3, 0.3]), 3, 1e-12)


def test_d500_runs_through_a_solver_cell_and_stores_metrics_not_states():
    params = {
        "experiment": "big",
        "target": {"name": "gaussian_nd", "dim": 500, "condition_number": 1000.0, "seed": 0},
        "init": {"mean": 0.0, "var": 1.0},
        "parameterization": "natural",
        "method": "ngd",
        "learning_rates": [1.0],
        "seeds": [0],
        "steps": 2,
        "divergence_factor": 1e8,
        "thin": None,
        "gradient": "exact",
        "tolerances": [1e-2, 1e-8],
    }
    cell = solve_cell(params)
    table = cell.trajectories.to_pandas()
    assert list(table["iter"]) == [0, 1, 2]
    assert table["gap"].iloc[0] > 100 and abs(table["gap"].iloc[1]) < 1e-8
    assert table["mean_error"].iloc[1] < 1e-8 < table["mean_error"].iloc[0]
    assert table[["mean", "var", "theta_0", "theta_1", "test_log_loss"]].isna().all().all()
    summaries = cell.summaries.to_pandas()
    assert list(summaries["hit_iter"]) == [1, 1]
    assert list(summaries["grad_evals"]) == [1, 1] and list(summaries["solves"]) == [1, 1]


@pytest.mark.parametrize(
    "nd_chart,chart_1d",
    [
        ("mean_cov", "mean_var"),
        ("mean_chol", "mean_std"),
        ("natural", "natural"),
        ("expectation", "expectation"),
    ],
)
@pytest.mark.parametrize("method", ["gd", "ngd"])
def test_one_dimension_reproduces_gaussian_1d(nd_chart, chart_1d, method):
    """d = 1: (μ, Σ) is (μ, σ²), the Cholesky factor is σ (docs/maths.md §1.2), and the rest coincide."""
    nd = gaussian_nd(dim=1, condition_number=1.0, seed=4)
    one = make_target({"name": "gaussian_1d", "mean": float(nd.target_mean[0]), "var": 1.0})
    start = np.array([[-2.0, 2.718281828459045]])
    lrs = np.array([0.1])
    a = run_batch(nd, nd.chart(nd_chart), METHODS[method], start, lrs, 100, 1e-12)
    b = run_batch(one, one.chart(chart_1d), METHODS[method], start, lrs, 100, 1e-12)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(a.states[:, :, :2], b.states, rtol=1e-10)
    assert nd.observed_columns == ("mean", "var", "mean_error")


@pytest.mark.parametrize("chart_name", ["mean_cov", "diagonal"])
def test_newton_direction_solves_the_finite_difference_hessian(chart_name):
    """H_θ⁻¹∇_θℒ with H_θ from central differences of the gradient, in free coordinates."""
    from tests.gaussian_oracles import central_jacobian, theta_from_free

    target = gaussian_nd(dim=DIM, condition_number=6.0)
    chart = target.chart(chart_name)
    canonical = random_state(DIM, np.random.default_rng(11), diagonal=chart_name == "diagonal")
    theta = chart.from_canonical(canonical[None])[0]
    free = theta.copy() if chart_name == "diagonal" else canonical_free_of(theta)

    def free_gradient(x):
        point = theta_from_free(chart_name, x, DIM)[None]
        grad = chart.pullback_gradient(point, target.grad(chart.to_canonical(point)))[0]
        return covector_to_free(chart_name, grad, DIM)

    hessian = central_jacobian(free_gradient, free, step=1e-6)
    expected = np.linalg.solve(0.5 * (hessian + hessian.T), free_gradient(free))
    closed = METHODS["newton"](target, chart, theta[None], canonical[None], StepContext())[0]
    np.testing.assert_allclose(tangent_to_free(chart_name, closed, DIM), expected, rtol=1e-5, atol=1e-7)


def canonical_free_of(theta):
    return np.concatenate([theta[:DIM], theta[DIM:].reshape(DIM, DIM)[lower(DIM)]])


def test_newton_at_rho_one_puts_the_mean_on_the_optimum():
    """The covariance step 2Σ − ΣΛ*Σ stays positive-definite here: Σ₀ = 0.01 I below Σ*'s 1/50."""
    target = gaussian_nd(dim=6, condition_number=50.0)
    start = target.initial_states({"mean": {"uniform": [-2.0, 2.0]}, "var": 0.01}, (0, 1))
    result = run_batch(target, target.chart("mean_cov"), METHODS["newton"], start, np.ones(2), 1, 1e-30)
    assert result.states[0, :, 0].min() > 0.5 and result.states[1, :, 0].max() < 1e-12  # ‖μ − μ*‖
