"""The vectorized runner against exact recurrences and independent loops (docs/maths.md §2.3, §2.4)."""

from __future__ import annotations

import numpy as np
import pytest

from ngbench.methods import gradient, natural_gradient
from ngbench.runner import first_hits, run_batch
from ngbench.solve import solve_cell
from ngbench.targets import make_target
from ngbench.targets.gaussian_1d import CHARTS
from tests.oracles import (
    BLOG_START,
    BLOG_TARGET,
    blog_recurrence,
    finite_difference_gradient,
    finite_difference_jacobian,
    kl_gaussian,
)

TOLERANCES = (1e-2, 1e-4, 1e-6, 1e-8)


def cell(**overrides):
    params = {
        "experiment": "test",
        "target": BLOG_TARGET,
        "init": {"mean": BLOG_START[0], "var": BLOG_START[1]},
        "parameterization": "mean_var",
        "method": "ngd",
        "learning_rates": [0.1],
        "seeds": [0],
        "steps": 100,
        "divergence_factor": 1e8,
        "tolerances": list(TOLERANCES),
    }
    params.update(overrides)
    return params


def states_of(result, run=0):
    keep = result.recorded[:, run]
    return result.states[keep, run]


@pytest.mark.parametrize("method", ["gd", "ngd"])
def test_figure_3_trajectories_equal_the_blog_recurrence(method):
    result = solve_cell(cell(method=method)).result
    expected = blog_recurrence(method, 0.1, 100)
    np.testing.assert_allclose(states_of(result), expected, rtol=1e-14, atol=0)


def test_figure_3_first_steps_match_math_md():
    gd = states_of(solve_cell(cell(method="gd")).result)
    ngd = states_of(solve_cell(cell(method="ngd")).result)
    np.testing.assert_allclose(gd[1], [-1.5, 2.6866758005], rtol=1e-10)
    np.testing.assert_allclose(ngd[1], [-0.6408590858, 2.2512044014], rtol=1e-10)
    # GD's mean is linear: μ_t − 3 = −5·0.9^t exactly.
    t = np.arange(101)
    np.testing.assert_allclose(gd[:, 0] - 3.0, -5.0 * 0.9**t, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("lr", [0.1, 0.5, 1.0, 1.5])
@pytest.mark.parametrize(
    "target",
    [
        BLOG_TARGET,
        {"name": "gaussian_1d", "mean": -1.0, "var": 0.1},
        {"name": "gaussian_1d", "mean": 2.0, "var": 10.0},
    ],
)
def test_ngd_in_natural_parameters_contracts_by_one_minus_lr(lr, target):
    """η_t − η* = (1−ρ)^t (η₀ − η*) exactly; ρ = 1 lands on the optimum in one step (§2.3)."""
    init = {"mean": 0.5, "var": 0.8 * target["var"]}  # (ρ−1)Λ₀ ≺ ρΛ* keeps 1 < ρ < 2 in the domain
    result = solve_cell(
        cell(target=target, init=init, parameterization="natural", learning_rates=[lr], steps=40)
    ).result
    states = states_of(result)
    eta = np.stack([states[:, 0] / states[:, 1], -0.5 / states[:, 1]], axis=1)
    eta_star = np.array([target["mean"] / target["var"], -0.5 / target["var"]])
    t = np.arange(len(states))[:, None]
    expected = eta_star + (1.0 - lr) ** t * (eta[0] - eta_star)
    np.testing.assert_allclose(eta, expected, rtol=1e-10, atol=1e-12 * np.abs(eta[0] - eta_star).max())
    if lr == 1.0:
        np.testing.assert_allclose(states[1], [target["mean"], target["var"]], rtol=1e-12)


def test_ngd_kl_decays_like_one_minus_lr_squared():
    """KL₁₀₀/KL₅₀ = 2.64e−5 against 0.9¹⁰⁰ = 2.66e−5 (docs/maths.md §2.3)."""
    result = solve_cell(cell(parameterization="natural", steps=100)).result
    loss = result.loss[:, 0]
    assert loss[100] / loss[50] == pytest.approx(2.64e-5, rel=1e-2)


@pytest.mark.parametrize(
    "parameterization,method,lr,status",
    [
        ("mean_var", "ngd", 0.58, "converged"),
        ("mean_var", "ngd", 0.59, "invalid"),  # v₁ = e(1 − ρ(e−1)) < 0 for ρ > 0.582
        ("natural", "ngd", 1.9, "converged"),
        # The oscillation of ρ > 2 grows until the precision turns negative: a failure either way.
        ("natural", "ngd", 2.1, "invalid"),
        ("mean_var", "gd", 1.9, "converged"),
        ("mean_var", "gd", 2.1, "diverged"),
    ],
)
def test_lr_hazards_from_the_blog_start(parameterization, method, lr, status):
    result = solve_cell(
        cell(parameterization=parameterization, method=method, learning_rates=[lr], steps=2000)
    ).result
    assert result.status[0] == status


def test_invalid_run_keeps_its_rows_and_stops_where_it_left_the_domain():
    result = solve_cell(cell(learning_rates=[0.59, 0.1], seeds=[0])).result
    assert list(result.status) == ["invalid", "converged"]
    assert result.stop_iter[0] == 1
    assert result.recorded[:, 0].sum() == 1  # only the start: the first step left the domain
    assert result.recorded[:, 1].all()


def test_runs_fail_independently_without_warnings(recwarn):
    """A failing run ends with its status; the rest of the batch runs on, and nothing is printed."""
    result = solve_cell(
        cell(learning_rates=[0.05, 0.59, 3.0, 0.3], method="ngd", parameterization="mean_logvar")
    ).result
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert result.status[0] in ("converged", "budget")
    assert result.status[2] == "diverged"


@pytest.mark.parametrize("chart_name", sorted(CHARTS))
def test_gd_in_each_chart_equals_an_independent_loop(chart_name):
    """GD on a row not in the config: the runner against a loop on finite-difference gradients."""
    chart = CHARTS[chart_name]
    a, s2, lr, steps = 1.2, 0.4, 0.03, 25
    target = {"name": "gaussian_1d", "mean": a, "var": s2}
    result = solve_cell(
        cell(
            target=target,
            init={"mean": -0.7, "var": 1.7},
            parameterization=chart_name,
            method="gd",
            learning_rates=[lr],
            steps=steps,
        )
    ).result

    def kl(theta):
        m, v = chart.to_canonical(theta[None, :])[0]
        return kl_gaussian(m, v, a, s2)

    theta = chart.from_canonical(np.array([[-0.7, 1.7]]))[0]
    expected = [chart.to_canonical(theta[None, :])[0]]
    for _ in range(steps):
        theta = theta - lr * finite_difference_gradient(kl, theta)
        expected.append(chart.to_canonical(theta[None, :])[0])
    np.testing.assert_allclose(states_of(result), np.array(expected), rtol=1e-7)


@pytest.mark.parametrize("chart_name", sorted(CHARTS))
def test_ngd_in_each_chart_equals_an_independent_loop(chart_name):
    """NGD: solve(Jᵀ F J, ∇θ) with J and ∇θ by finite differences, F the Fisher of q (docs/maths.md §1.1)."""
    chart = CHARTS[chart_name]
    a, s2, lr, steps = -0.5, 2.5, 0.2, 25
    target = {"name": "gaussian_1d", "mean": a, "var": s2}
    result = solve_cell(
        cell(
            target=target,
            init={"mean": 1.1, "var": 0.6},
            parameterization=chart_name,
            method="ngd",
            learning_rates=[lr],
            steps=steps,
        )
    ).result

    def canonical(theta):
        return chart.to_canonical(theta[None, :])[0]

    theta = chart.from_canonical(np.array([[1.1, 0.6]]))[0]
    expected = [canonical(theta)]
    for _ in range(steps):
        m, v = canonical(theta)
        jac = finite_difference_jacobian(canonical, theta)
        fisher = jac.T @ np.diag([1 / v, 1 / (2 * v**2)]) @ jac
        grad = finite_difference_gradient(lambda th: kl_gaussian(*canonical(th), a, s2), theta)
        theta = theta - lr * np.linalg.solve(fisher, grad)
        expected.append(canonical(theta))
    np.testing.assert_allclose(states_of(result), np.array(expected), rtol=1e-7)


def test_runner_leaves_the_callers_start_untouched():
    target = make_target(BLOG_TARGET)
    start = np.array([BLOG_START])
    run_batch(target, CHARTS["mean_var"], natural_gradient, start, np.array([0.1]), 3, converged_gap=1e-8)
    np.testing.assert_array_equal(start, [BLOG_START])


def test_ngd_iterates_differ_between_charts_only_at_second_order():
    """One NGD step from the same point: chart differences shrink ~4× when ρ halves (§1.3, §2.7)."""
    target = make_target(BLOG_TARGET)
    start = np.array([BLOG_START])

    def spread(lr):
        ends = []
        for chart in CHARTS.values():
            result = run_batch(target, chart, natural_gradient, start, np.array([lr]), 1, converged_gap=1e-8)
            ends.append(result.states[1, 0])
        ends = np.array(ends)
        return np.abs(ends - ends.mean(axis=0)).max()

    ratio = spread(0.02) / spread(0.01)
    assert 3.5 < ratio < 4.5


def test_gd_is_not_invariant_across_charts_at_first_order():
    target = make_target(BLOG_TARGET)
    start = np.array([BLOG_START])
    ends = [
        run_batch(target, chart, gradient, start, np.array([0.01]), 1, converged_gap=1e-8).states[1, 0]
        for chart in CHARTS.values()
    ]
    ends = np.array(ends)
    spread = np.abs(ends - ends.mean(axis=0)).max()
    assert spread > 1e-3  # first-order in ρ: an NGD spread at this ρ is ~1e-4


def test_first_hits():
    gap = np.array([[1.0, 1.0, np.nan], [1e-3, 0.5, np.nan], [1e-5, 1e-3, np.nan]])
    np.testing.assert_array_equal(first_hits(gap, (1e-2, 1e-4)), [[1, 2, -1], [2, -1, -1]])


def test_paired_starts_are_shared_across_charts_and_methods():
    params = cell(
        init={"mean": {"uniform": [-5.0, 5.0]}, "var": {"loguniform": [0.1, 10.0]}},
        seeds=[0, 1, 2],
        learning_rates=[0.01, 0.1],
        steps=3,
    )
    starts = []
    for chart in sorted(CHARTS):
        for method in ("gd", "ngd"):
            result = solve_cell({**params, "parameterization": chart, "method": method}).result
            starts.append(result.states[0])
    for other in starts[1:]:
        np.testing.assert_allclose(other, starts[0], rtol=1e-12)
    # Seed s has one start for every learning rate, and seeds differ.
    np.testing.assert_array_equal(starts[0][:3], starts[0][3:])
    assert len({tuple(s) for s in starts[0][:3]}) == 3
