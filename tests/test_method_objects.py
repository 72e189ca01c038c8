"""The method objects of ngbench.methods against independent computations: heavy-ball momentum and
NGD with momentum against hand-written scalar loops, L-BFGS against an unbatched reference and the
Armijo condition, schedules against their formulas, averaging against the running mean of the
un-averaged run, a decaying step below a constant step's Monte Carlo noise floor, and the config
entries, names and styles of variants."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ngbench.methods import (
    METHODS,
    REGISTRY,
    StepContext,
    make_method,
    method_named,
    method_specification_problems,
    ordered,
    styles,
)
from ngbench.runner import run_batch
from ngbench.targets import make_target

QUADRATIC = {
    "name": "quadratic",
    "eigenvalues": [1.0, 10.0],
    "angle_degrees": 30.0,
    "optimum": [1.0, 0.5],
}
STARTS = np.array([[-3.0, 3.0], [2.0, -1.0]])


def _scalar_heavy_ball(start, lr, beta, steps, direction):
    """θ ← θ − ρ v, v ← β v + d(θ), one coordinate at a time in Python floats."""
    theta, velocity, path = list(start), [0.0] * len(start), [list(start)]
    for _ in range(steps):
        d = direction(theta)
        velocity = [beta * v + di for v, di in zip(velocity, d, strict=True)]
        theta = [t - lr * v for t, v in zip(theta, velocity, strict=True)]
        path.append(theta)
    return np.array(path)


@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_momentum_is_the_heavy_ball_on_the_gradient(beta):
    target = make_target(QUADRATIC)
    a, optimum = target.matrix.tolist(), target.theta_star.tolist()

    def gradient(theta):
        error = [t - o for t, o in zip(theta, optimum, strict=True)]
        return [sum(a[i][j] * error[j] for j in range(2)) for i in range(2)]

    method = make_method({"momentum": {"beta": beta}})
    lr = 0.05
    result = run_batch(target, target.chart("identity"), method, STARTS, np.full(2, lr), 25, 1e-30)
    for run in range(2):
        expected = _scalar_heavy_ball(STARTS[run], lr, beta, 25, gradient)
        np.testing.assert_allclose(result.states[:, run], expected, rtol=1e-12, atol=1e-14)


def test_ngd_momentum_is_the_heavy_ball_on_the_natural_gradient():
    """On the quadratic the Fisher is A (docs/maths.md §2.5): the natural gradient is θ − θ*."""
    target = make_target(QUADRATIC)
    optimum = target.theta_star.tolist()
    lr, beta = 0.3, 0.6
    assert METHODS["ngd_momentum"].settings == {"beta": 0.9}
    result = run_batch(
        target,
        target.chart("identity"),
        make_method({"ngd_momentum": {"beta": beta}}),
        STARTS,
        np.full(2, lr),
        20,
        1e-30,
    )
    for run in range(2):
        expected = _scalar_heavy_ball(
            STARTS[run], lr, beta, 20, lambda theta: [t - o for t, o in zip(theta, optimum, strict=True)]
        )
        np.testing.assert_allclose(result.states[:, run], expected, rtol=1e-12, atol=1e-14)


def _reference_lbfgs(target, start, lr, steps, memory=5, c=1e-4, shrink=0.5, trials=30):
    """Unbatched L-BFGS with Armijo backtracking, after Nocedal & Wright, Algorithms 7.4 and 3.1."""
    theta = np.array(start, dtype=float)
    pairs, path, accepted = [], [theta.copy()], []
    previous = None
    for _ in range(steps):
        grad = target.grad(theta[None])[0]
        if previous is not None:
            s, y = theta - previous[0], grad - previous[1]
            if s @ y > 1e-12 * np.linalg.norm(s) * np.linalg.norm(y):
                pairs = (pairs + [(s, y)])[-memory:]
        q, alphas = grad.copy(), []
        for s, y in reversed(pairs):
            alpha = (s @ q) / (s @ y)
            alphas.append(alpha)
            q -= alpha * y
        r = q * ((pairs[-1][0] @ pairs[-1][1]) / (pairs[-1][1] @ pairs[-1][1]) if pairs else 1.0)
        for (s, y), alpha in zip(pairs, reversed(alphas), strict=True):
            r += s * (alpha - (y @ r) / (s @ y))
        f = target.loss(theta[None])[0]
        step, taken = lr, 0.0
        for _ in range(trials):
            if target.loss((theta - step * r)[None])[0] <= f - c * step * (grad @ r):
                taken = step
                break
            step *= shrink
        previous = (theta, grad)
        theta = theta - taken * r
        path.append(theta.copy())
        accepted.append(taken)
    return np.array(path), np.array(accepted)


@pytest.mark.parametrize("memory", [1, 5])
def test_lbfgs_matches_an_unbatched_reference_and_every_step_is_armijo(memory):
    target = make_target(QUADRATIC | {"eigenvalues": [1.0, 100.0]})
    chart = target.chart("identity")
    method = make_method({"lbfgs": {"memory": memory}}) if memory != 5 else METHODS["lbfgs"]
    lrs = np.array([1.0, 0.05, 30.0])  # a unit trial, one too short, one the search must cut back
    starts = np.repeat(STARTS[:1], 3, axis=0)
    context, theta = method.init(StepContext()), starts.copy()
    for t in range(12):
        context.iteration = t
        canonical = chart.to_canonical(theta)
        grad, loss = target.grad(canonical), target.loss(canonical)
        nxt = method.update(target, chart, theta, canonical, context, lrs[:, None])
        alpha = context.memory["lbfgs_accepted_step"]
        direction = np.where(
            alpha[:, None] > 0, (theta - nxt) / np.where(alpha > 0, alpha, 1.0)[:, None], 0.0
        )
        armijo = target.loss(nxt) <= loss - 1e-4 * alpha * np.einsum("bk,bk->b", grad, direction) + 1e-15
        assert armijo.all(), (t, alpha)
        theta = nxt
    result = run_batch(target, chart, method, starts, lrs, 12, 1e-30)
    for run, lr in enumerate(lrs):
        path, _ = _reference_lbfgs(target, starts[run], lr, 12, memory=memory)
        recorded = result.recorded[:, run]
        np.testing.assert_allclose(
            result.states[recorded, run], path[: recorded.sum()], rtol=1e-9, atol=1e-12
        )


def test_lbfgs_on_a_one_dimensional_quadratic_is_exact_in_two_steps():
    """d = 1: the first secant pair measures the curvature exactly, so the unit quasi-Newton trial of
    the second step lands on θ* (d + 1 steps, whatever the first step's backtracking took)."""
    target = make_target({"name": "quadratic", "matrix": [[3.0]], "optimum": [1.0]})
    start = np.array([[-2.0], [5.0], [0.3]])
    result = run_batch(target, target.chart("identity"), METHODS["lbfgs"], start, np.ones(3), 2, 1e-30)
    assert (result.states[1, :, 0] != 1.0).all()  # the first step is a backtracked gradient step
    np.testing.assert_allclose(result.states[2, :, 0], 1.0, rtol=0, atol=1e-15)


def test_lbfgs_on_a_two_dimensional_quadratic_is_superlinear():
    """d = 2, κ = 100: from the start of `STARTS`, L-BFGS at ρ = 1 reaches gap 1e-20 within 12 steps,
    where GD at its best constant step (2/(λ₁ + λ₂), the optimal rate (κ−1)/(κ+1)) needs hundreds."""
    target = make_target(QUADRATIC | {"eigenvalues": [1.0, 100.0]})
    chart = target.chart("identity")
    lbfgs = run_batch(target, chart, METHODS["lbfgs"], STARTS, np.ones(2), 12, 1e-20)
    assert (lbfgs.status == "converged").all()
    gd = run_batch(target, chart, METHODS["gd"], STARTS, np.full(2, 2 / 101), 100, 1e-20)
    assert (gd.status == "budget").all()


def test_lbfgs_counts_one_gradient_and_no_solve_a_step():
    method = METHODS["lbfgs"]
    assert method.solves_per_step == 0 and method.preconditioner == "none" and method.deterministic_only


def test_schedule_factors_follow_their_formulas():
    decay = make_method({"ngd": {"schedule": {"decay": {"tau": 20, "kappa": 0.6}}}}).schedule
    warm = make_method(
        {"ngd": {"schedule": {"warmup": {"steps": 4}, "decay": {"tau": 5, "kappa": 1}}}}
    ).schedule
    for t in (0, 1, 7, 199, 10_000):
        assert decay.factor(t) == pytest.approx(math.pow(1 + t / 20, -0.6), rel=1e-14)
        assert warm.factor(t) == pytest.approx(min(1.0, (t + 1) / 4) * 5 / (5 + t), rel=1e-14)
    assert make_method("ngd").schedule.constant


def test_a_decaying_step_scales_every_step_by_its_factor():
    """GD with a schedule on the quadratic is θₜ₊₁ = θₜ − ρ·f(t)·A(θₜ − θ*), a scalar loop."""
    target = make_target(QUADRATIC)
    method = make_method({"gd": {"schedule": {"decay": {"tau": 3, "kappa": 0.75}, "warmup": {"steps": 2}}}})
    result = run_batch(target, target.chart("identity"), method, STARTS, np.full(2, 0.1), 15, 1e-30)
    for run in range(2):
        theta = STARTS[run].copy()
        for t in range(15):
            factor = min(1.0, (t + 1) / 2) * (1 + t / 3) ** -0.75
            theta = theta - 0.1 * factor * target.matrix @ (theta - target.theta_star)
        np.testing.assert_allclose(result.states[15, run], theta, rtol=1e-12)


def test_averaging_records_the_running_mean_of_the_methods_own_iterates():
    target = make_target(QUADRATIC)
    schedule = {"decay": {"tau": 10, "kappa": 0.8}}
    plain = make_method({"gd": {"schedule": schedule}})
    averaged = make_method({"gd": {"schedule": schedule | {"average": True}}})
    assert averaged.name == "gd_decay_tau_10_kappa_0.8_average"
    own = run_batch(target, target.chart("identity"), plain, STARTS, np.full(2, 0.15), 30, 1e-30)
    mean = run_batch(target, target.chart("identity"), averaged, STARTS, np.full(2, 0.15), 30, 1e-30)
    running = np.cumsum(own.states, axis=0) / np.arange(1, 32)[:, None, None]
    np.testing.assert_allclose(mean.states, running, rtol=1e-12, atol=1e-13)


def test_a_decaying_step_goes_below_the_constant_steps_noise_floor():
    """Monte Carlo gradients (5 samples) on a Gaussian KL: with a constant step NGD's gap stalls at a
    floor proportional to ρ; Robbins–Monro's ρ(1 + t/τ)^(−1) ends below it (Hoffman et al. 2013)."""
    target = make_target({"name": "gaussian_nd", "dim": 2, "condition_number": 4.0, "seed": 0})
    target.set_gradient({"mc": 5})
    chart = target.chart("natural")
    seeds = np.arange(8)
    start = target.initial_states(
        {"mean": {"uniform": [-1.0, 1.0]}, "var": 1.0}, tuple(int(s) for s in seeds)
    )
    lr = np.full(seeds.size, 0.3)
    constant = run_batch(target, chart, METHODS["ngd"], start, lr, 300, 0.0, seeds=seeds)
    decayed = make_method({"ngd": {"schedule": {"decay": {"tau": 10, "kappa": 1.0}}}})
    decaying = run_batch(target, chart, decayed, start, lr, 300, 0.0, seeds=seeds)
    floor = np.median(constant.loss[200:] - target.optimum_loss, axis=0)  # the stalled runs' level
    final = decaying.loss[-1] - target.optimum_loss
    assert np.median(final) < 0.5 * np.median(floor), (np.median(final), np.median(floor))
    assert (final < floor).mean() >= 0.75


def test_variants_have_stable_readable_path_safe_names():
    first = make_method({"adam": {"epsilon": 1e-6, "beta2": 0.99}})
    again = make_method({"adam": {"beta2": 0.99, "epsilon": 1.0e-6}})
    assert first.name == again.name == "adam_beta2_0.99_epsilon_1e-06"
    assert first.settings == {"beta1": 0.9, "beta2": 0.99, "epsilon": 1e-6}
    scheduled = make_method({"ngd_momentum": {"beta": 0.5, "schedule": {"decay": {"tau": 10, "kappa": 0.6}}}})
    assert scheduled.name == "ngd_momentum_beta_0.5_decay_tau_10_kappa_0.6"
    for method in (first, scheduled, make_method({"lbfgs": {"memory": 3}})):
        assert method_named(method.name) == method  # a job rebuilds the method from its name alone
        assert all(ch.isalnum() or ch in "_.-" for ch in method.name)
    with pytest.raises(ValueError, match="unknown method"):
        method_named("adam_beta7_0.5")
    assert ordered(["adam_beta2_0.99", "ngd_momentum", "gd", "adam", "ngd"]) == [
        "gd",
        "ngd",
        "adam",
        "adam_beta2_0.99",
        "ngd_momentum",
    ]


def test_two_variants_of_one_method_are_drawn_apart():
    drawn = styles(["adam", "adam_beta2_0.99", "adam_beta1_0.5", "gd"])
    markers = [style["marker"] for style in drawn.values()]
    assert len(set(markers)) == len(markers) and "x" not in markers
    assert drawn["adam_beta2_0.99"]["color"] == drawn["adam"]["color"]
    assert drawn["adam_beta2_0.99"]["label"] == "Adam (beta2=0.99)"


@pytest.mark.parametrize(
    "entry,field,message",
    [
        ({"adam": {"beta2": 1.0}}, "beta2", "outside [0, 1)"),
        ({"momentum": {"beta": 0.9, "gamma": 1}}, "gamma", "no hyperparameter"),
        ({"ngd": {"schedule": {"decay": {"tau": 0}}}}, "schedule.decay.tau", "outside (0, inf)"),
        ({"ngd": {"schedule": {"warmup": {"steps": 0}}}}, "schedule.warmup.steps", "outside"),
        ("nesterov", "", "unknown method"),
        ({"adam": 0.9}, "adam", "not a mapping"),
    ],
)
def test_bad_method_entries_name_their_field(entry, field, message):
    problems = method_specification_problems(entry)
    assert any(where == field and message in problem for where, problem in problems), problems


def test_every_registered_method_is_complete():
    for name, method in REGISTRY.items():
        assert method.name == method.base == name
        assert method.label and {"color", "marker", "linestyle"} <= set(method.style)
        assert set(method.settings) == set(method.hyperparameters)
        for setting, value in method.settings.items():
            assert method.hyperparameters[setting].problem(value) is None, (name, setting)


def test_a_rows_variants_reach_its_solver_jobs_and_a_change_reruns_that_row_only():
    """Two variants of Adam are two methods of the row's jobs (their params carry the names, which
    spell the settings); changing one hyperparameter changes that row's job params and no other's."""
    from ngbench.experiments import parse_config
    from tests.test_config import mutate

    row = "experiments.fig3_gaussian_vi.methods"
    before = parse_config(mutate(row, ["gd", "ngd", {"adam": {"beta2": 0.99}}, {"adam": {"beta2": 0.9}}]))
    after = parse_config(mutate(row, ["gd", "ngd", {"adam": {"beta2": 0.99}}, {"adam": {"beta2": 0.95}}]))
    params = before.experiments["fig3_gaussian_vi"].chart_params("mean_var")
    assert params["methods"] == ["gd", "ngd", "adam_beta2_0.9", "adam_beta2_0.99"]
    changed = {
        (name, chart)
        for name, experiment in before.experiments.items()
        for chart in experiment.parameterizations
        if experiment.chart_params(chart) != after.experiments[name].chart_params(chart)
    }
    assert changed == {
        ("fig3_gaussian_vi", chart) for chart in before.experiments["fig3_gaussian_vi"].parameterizations
    }
    assert method_named("adam_beta2_0.95").settings["beta2"] == 0.95
