"""Newton and Adam against independent loops, NGD = Newton on the quadratic, and the cost columns."""

from __future__ import annotations

import numpy as np
import pytest

from ngbench.methods import METHODS
from ngbench.runner import run_batch
from ngbench.solve import solve_cell
from ngbench.targets import make_target
from tests.test_runner import cell

QUADRATIC = {
    "name": "quadratic",
    "eigenvalues": [1.0, 10.0],
    "angle_degrees": 30.0,
    "optimum": [1.0, 0.5],
    "linear_map": [[2.0, 0.0], [1.0, 0.5]],
}


@pytest.mark.parametrize("chart", ["identity", "linear"])
@pytest.mark.parametrize("lr", [0.3, 1.0])
def test_ngd_is_newton_on_the_quadratic(chart, lr):
    """The Fisher of x ~ N(θ, A⁻¹) is A, the Hessian of ½(θ−θ*)ᵀA(θ−θ*) (docs/maths.md §2.5)."""
    target = make_target(QUADRATIC)
    start = np.array([[-3.0, 3.0]])
    runs = {
        method: run_batch(target, target.chart(chart), METHODS[method], start, np.array([lr]), 30, 1e-30)
        for method in ("ngd", "newton")
    }
    np.testing.assert_allclose(runs["ngd"].states, runs["newton"].states, rtol=1e-12, atol=1e-14)
    if lr == 1.0:
        np.testing.assert_allclose(runs["newton"].states[1, 0], QUADRATIC["optimum"], atol=1e-12)


def test_newton_on_the_gaussian_kl_in_mean_var():
    """Newton on KL(N(μ, v) ‖ N(a, s²)) in (μ, v): μ jumps to a, and v ← 2v − v²/s² (by hand)."""
    target = make_target({"name": "gaussian_1d", "mean": 3.0, "var": 0.5})
    start = np.array([[-2.0, 0.3]])
    result = run_batch(target, target.chart("mean_var"), METHODS["newton"], start, np.array([1.0]), 6, 1e-30)
    var = 0.3
    for t in range(1, 7):
        var = 2 * var - var**2 / 0.5
        np.testing.assert_allclose(result.states[t, 0], [3.0, var], rtol=1e-12)


def test_adam_matches_a_textbook_loop():
    target = make_target(QUADRATIC)
    matrix, optimum = target.matrix, np.asarray(QUADRATIC["optimum"])
    theta = np.array([-3.0, 3.0])
    first = second = np.zeros(2)
    lr, beta1, beta2, eps = 0.05, 0.9, 0.999, 1e-8
    expected = [theta]
    for t in range(1, 41):
        g = matrix @ (theta - optimum)
        first = beta1 * first + (1 - beta1) * g
        second = beta2 * second + (1 - beta2) * g * g
        theta = theta - lr * (first / (1 - beta1**t)) / (np.sqrt(second / (1 - beta2**t)) + eps)
        expected.append(theta)
    result = run_batch(
        target, target.chart("identity"), METHODS["adam"], expected[0][None], np.array([lr]), 40, 1e-30
    )
    np.testing.assert_allclose(result.states[:, 0], np.array(expected), rtol=1e-12, atol=1e-14)


def test_adam_memory_follows_its_run_when_others_stop():
    """A run that leaves the domain drops out; the others keep their own moments."""
    target = make_target({"name": "gaussian_1d", "mean": 3.0, "var": 1.0})
    chart = target.chart("mean_var")
    start = np.array([[-2.0, 2.0], [-2.0, 2.0]])
    both = run_batch(target, chart, METHODS["adam"], start, np.array([0.01, 5.0]), 50, 1e-30)
    alone = run_batch(target, chart, METHODS["adam"], start[:1], np.array([0.01]), 50, 1e-30)
    assert both.status[1] == "invalid" and both.stop_iter[1] == 1  # Adam's first step is ±lr: v = 2 − 5
    np.testing.assert_array_equal(both.states[:, 0], alone.states[:, 0])


def test_summaries_count_gradient_evaluations_and_solves():
    for method, samples in (("gd", None), ("ngd", None), ("ngd", 5), ("adam", 5)):
        params = cell(
            experiment="cost",
            target={"name": "gaussian_nd", "dim": 3, "condition_number": 4.0, "seed": 0},
            init={"mean": 1.0, "var": 0.5},
            parameterization="natural",
            method=method,
            learning_rates=[0.5],
            steps=40,
            gradient={"mc": samples} if samples else "exact",
        )
        summaries = solve_cell(params).summaries.to_pandas()
        spent = summaries["hit_iter"].fillna(summaries["stop_iter"])
        np.testing.assert_array_equal(summaries["grad_evals"], spent * (samples or 1))
        np.testing.assert_array_equal(summaries["solves"], spent * METHODS[method].solves_per_step)


def test_adam_uses_kingma_and_bas_constants():
    """β₁ = 0.9, β₂ = 0.999, ε = 1e-8, by their effects: the first step is ρ·g/(|g| + ε) (±ρ unless
    g is as small as ε); the second divides 0.09·g₁ + 0.1·g₂ by 0.19, and 0.000999·g₁² + 0.001·g₂²
    by 0.001999."""
    assert METHODS["adam"].settings == {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
    target = make_target(QUADRATIC)
    optimum = np.asarray(QUADRATIC["optimum"])
    start = np.array([[-3.0, 3.0], optimum + [1e-9, 0.0]])  # the second run's gradient is ~4e-9: ε shows
    lr = 0.1
    result = run_batch(target, target.chart("identity"), METHODS["adam"], start, np.full(2, lr), 2, 1e-30)
    for run in range(2):
        g1 = target.matrix @ (start[run] - optimum)
        first = start[run] - lr * g1 / (np.abs(g1) + 1e-8)
        np.testing.assert_allclose(result.states[1, run], first, rtol=1e-12, atol=1e-15)
        g2 = target.matrix @ (first - optimum)
        m = (0.09 * g1 + 0.1 * g2) / 0.19
        v = (0.000999 * g1**2 + 0.001 * g2**2) / 0.001999
        np.testing.assert_allclose(
            result.states[2, run], first - lr * m / (np.sqrt(v) + 1e-8), rtol=1e-9, atol=1e-15
        )
    assert np.abs(result.states[1, 1] - start[1]).max() < 0.05  # not ±ρ: ε = 1e-8 is comparable to g


def test_damping_enters_the_solver_cells_steps():
    """One ngd and one ef step on the mixture solve (F + λI) and (meanₙ sₙsₙᵀ + λI), λ from the row."""
    from tests.test_mixture import SPEC, per_datum_scores

    start = [0.4, 1.1]
    plain = make_target(SPEC)
    theta = np.array([start])
    grad = plain.grad(theta)[0]
    scores = per_datum_scores(plain.data, start)
    preconditioners = {"ngd": plain.fisher(theta)[0], "ef": scores.T @ scores / len(scores)}
    for method, metric in preconditioners.items():
        for damping in (0.0, 0.5):
            params = cell(
                target={**SPEC, "damping": damping},
                init={"theta_0": start[0], "theta_1": start[1]},
                parameterization="identity",
                method=method,
                learning_rates=[0.3],
                steps=1,
            )
            reference = {"optimum_loss": 0.0, "optimum": [0.0, 0.0], "minima": []}
            states = solve_cell(params, reference).result.states[1, 0]
            expected = start - 0.3 * np.linalg.solve(metric + damping * np.eye(2), grad)
            np.testing.assert_allclose(states, expected, rtol=1e-6)


@pytest.mark.parametrize("method", ["ngd", "ef"])
def test_heavy_damping_turns_a_preconditioned_step_into_a_gradient_step(method):
    """A second damping test, with no Fisher in it: (F + λI)⁻¹g → g/λ as λ grows, so with λ = 10⁶ one
    step is ρ/λ times the loss's gradient, taken here by central differences of the loss; λ = 10⁻² is
    far from that (F's scale is ~1). A damping that does not reach the step fails both."""
    from tests.test_mixture import SPEC

    start = np.array([0.4, 1.1])
    plain = make_target(SPEC)
    h = 1e-6
    gradient = np.array(
        [
            (plain.loss((start + h * e)[None])[0] - plain.loss((start - h * e)[None])[0]) / (2 * h)
            for e in np.eye(2)
        ]
    )
    steps = {}
    for damping in (1e6, 1e-2):
        params = cell(
            target={**SPEC, "damping": damping},
            init={"theta_0": start[0], "theta_1": start[1]},
            parameterization="identity",
            method=method,
            learning_rates=[0.3],
            steps=1,
        )
        reference = {"optimum_loss": 0.0, "optimum": [0.0, 0.0], "minima": []}
        steps[damping] = solve_cell(params, reference).result.states[1, 0] - start
    np.testing.assert_allclose(steps[1e6], -0.3 * gradient / 1e6, rtol=1e-4)
    assert np.linalg.norm(steps[1e-2] + 0.3 * gradient / 1e-2) > 0.5 * np.linalg.norm(0.3 * gradient / 1e-2)


def test_the_cost_model_counts_one_solve_per_preconditioned_step():
    """ngd, ef, em and newton each solve one linear system a step (a Fisher, its empirical or
    complete-data surrogate, a Hessian); gd and adam none. The summaries charge these per step."""
    solves = {name: method.solves_per_step for name, method in METHODS.items()}
    assert solves == {
        "gd": 0, "ngd": 1, "ef": 1, "em": 1, "newton": 1, "adam": 0,
        "momentum": 0, "ngd_momentum": 1, "lbfgs": 0,
    }  # fmt: skip
    from tests.test_mixture import SPEC

    for method in ("gd", "ngd", "ef", "em"):
        params = cell(
            target=SPEC,
            init={"theta_0": -2.5, "theta_1": -1.0},
            parameterization="identity",
            method=method,
            learning_rates=[0.5],
            steps=20,
        )
        reference = {"optimum_loss": 0.0, "optimum": [0.0, 0.0], "minima": []}
        summaries = solve_cell(params, reference).summaries.to_pandas()
        spent = summaries["hit_iter"].fillna(summaries["stop_iter"])
        assert (spent > 0).all()
        np.testing.assert_array_equal(summaries["solves"], spent * (0 if method == "gd" else 1))
        np.testing.assert_array_equal(summaries["grad_evals"], spent)
