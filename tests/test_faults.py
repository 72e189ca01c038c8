"""A numerical exception in one run's maths ends that run as `failed`, and only that run."""

from __future__ import annotations

import logging
from functools import cache

import numpy as np
import pytest

from ngbench.io import read_summaries, read_trajectories, write_parquet
from ngbench.methods import METHODS, available_methods
from ngbench.plots import gap_quantiles, run_gaps
from ngbench.runner import FAILURE_STATUSES, run_batch
from ngbench.solve import reference_solution, solve_cell
from ngbench.stats import iteration_counts
from ngbench.targets import TARGETS, make_target
from tests.test_glm_vi import COUNTS

adam = METHODS["adam"]

# A small instance of every registered target, with a start inside its domain. A target added to the
# registry without one here fails `test_every_target_has_a_small_instance`, so it cannot go untested.
SMALL_TARGETS = {
    "gaussian_1d": ({"name": "gaussian_1d", "mean": 3.0, "var": 0.1}, {"mean": -2.0, "var": 2.0}),
    "quadratic": (
        {
            "name": "quadratic",
            "eigenvalues": [1.0, 100.0],
            "angle_degrees": 20.0,
            "optimum": [0.0, 0.0],
            "linear_map": [[1.0, 0.0], [0.0, 0.1]],
        },
        {"theta_0": {"uniform": [-5.0, 5.0]}, "theta_1": {"uniform": [-5.0, 5.0]}},
    ),
    "mixture": (
        {
            "name": "mixture",
            "weight": 0.3,
            "var": 1.0,
            "means": [-1.0, 2.0],
            "n": 60,
            "data_seed": 0,
            "damping": 1.0e-3,
        },
        {"theta_0": {"uniform": [-3.0, 4.0]}, "theta_1": {"uniform": [-3.0, 4.0]}},
    ),
    "gaussian_nd": (
        {"name": "gaussian_nd", "dim": 3, "condition_number": 10.0, "seed": 0},
        {"mean": {"uniform": [-1.0, 1.0]}, "var": 0.5},
    ),
    "logistic_vi": ({"name": "logistic_vi", "quadrature_nodes": 20}, {"mean": 0.0, "var": 0.01}),
    # Poisson: exp of the linear predictor overflows at wild steps, a fault of another kind than softplus's.
    "glm_vi": (
        {
            "name": "glm_vi",
            "likelihood": "poisson_log",
            "data": {"csv": str(COUNTS), "response": "mdvis", "features": ["lncoins", "physlm", "disea"]},
            "quadrature_nodes": 20,
        },
        {"mean": 0.0, "var": 0.01},
    ),
}
# Small enough that no run of any chart or method fails in a few steps: GD on the logistic posterior's
# covariance steps by ρ·½(E[∇²ℓ] − Σ⁻¹), whose entries reach the thousands.
STABLE_LRS = {"logistic_vi": 1e-6, "glm_vi": 1e-6}
WILD_LRS = [1e2, 1e4, 1e8]  # far past every method's stability
SEEDS = [0, 1, 2]
STEPS = {"logistic_vi": 4, "glm_vi": 4}  # its step is the costly one (569 data × 31 dimensions)


def test_every_target_has_a_small_instance():
    assert set(SMALL_TARGETS) == set(TARGETS)


@cache
def _reference(name: str):
    spec, _ = SMALL_TARGETS[name]
    return reference_solution(spec) if make_target(spec).needs_reference else None


def _cells():
    """Every (target, chart, method) a config row may hold: `newton` only on affine charts."""
    for name in sorted(SMALL_TARGETS):
        target = make_target(SMALL_TARGETS[name][0])
        for chart, geometry in sorted(target.charts.items()):
            for method in available_methods(target):
                if method == "newton" and not geometry.affine:
                    continue  # refused by the config check: its Hessian pulls back as JᵀHJ only there
                yield name, chart, method


def _params(name: str, chart: str, method: str, learning_rates: list[float], seeds=SEEDS) -> dict:
    spec, init = SMALL_TARGETS[name]
    return {
        "experiment": "faults",
        "target": spec,
        "init": init,
        "parameterization": chart,
        "method": method,
        "learning_rates": learning_rates,
        "seeds": seeds,
        "steps": STEPS.get(name, 12),
        "divergence_factor": 1e8,
        "tolerances": [1e-2, 1e-8],
    }


@pytest.mark.parametrize("name,chart,method", list(_cells()))
def test_wild_learning_rates_end_only_their_own_runs(name, chart, method):
    """Learning rates far past stability end their runs with a status; the cell completes and its
    stable runs step as in a cell without them, up to BLAS's rounding (below)."""
    reference = _reference(name)
    # A heavy ball's steady step is ρ/(1 − β): its stable learning rates are (1 − β) times smaller.
    stable_lr = STABLE_LRS.get(name, 1e-3) * (1.0 - METHODS[method].settings.get("beta", 0.0))
    wild = solve_cell(_params(name, chart, method, [stable_lr, *WILD_LRS]), reference).result
    calm = solve_cell(_params(name, chart, method, [stable_lr]), reference).result

    stable = slice(0, len(SEEDS))  # runs are learning-rate major: the stable lr's seeds come first
    # No learning rate far past stability converges; most runs stop early (not all: Adam's steps are
    # bounded by ρ, and GD in the natural parameters of N(3, 0.1) crawls to its budget).
    wild_runs = wild.status[len(SEEDS) :]
    if method != "lbfgs":  # L-BFGS's line search backtracks from ρ: a wild ρ can still converge
        assert "converged" not in set(wild_runs)
        assert np.isin(wild_runs, FAILURE_STATUSES).any() or method == "adam" or chart == "natural"
    assert set(wild.status[stable]) <= {"converged", "budget"}
    np.testing.assert_array_equal(wild.status[stable], calm.status)
    np.testing.assert_array_equal(wild.stop_iter[stable], calm.stop_iter)
    # "Exactly" up to BLAS's rounding, which may change with the batch's size: OpenBLAS's Haswell
    # kernels (AMD Zen) round the last row of an odd batch of a (runs × k) @ (k × n) product in
    # another order. A last-bit difference stays at the last bits, except in L-BFGS: its curvature
    # pair y = ∇(θ + s) − ∇θ over a step |s| ~ ρ = 1e-6 cancels all but ~1e-6 of the gradient, so
    # the gradient's rounding reaches the direction ~1e6 times larger (measured 2.7e-10 with the
    # GLM, with OpenBLAS's Prescott kernels; ≤ 1e-13 for every other method).
    rtol = 1e-8 if method == "lbfgs" else 1e-12
    np.testing.assert_allclose(wild.loss[:, stable], calm.loss, rtol=rtol, atol=0, equal_nan=True)
    np.testing.assert_allclose(wild.states[:, stable], calm.states, rtol=rtol, atol=0, equal_nan=True)
    # A run that stopped keeps its rows up to where it stopped, and none after.
    for run in np.flatnonzero(np.isin(wild.status, FAILURE_STATUSES)):
        assert not wild.recorded[wild.stop_iter[run] + 1 :, run].any()
        assert wild.recorded[: wild.stop_iter[run], run].all()
    if (name, method) == ("mixture", "em"):
        # The complete-data Fisher diag(Σₙrₙₐ, Σₙrₙᵦ)/σ² turns singular once a component loses every datum.
        assert (wild.status == "failed").any()
    if (wild.status == "failed").any():
        assert wild.first_fault


# --- the mixture row of the brief: EM at lr 4 from ten random starts --------------------------------

MIXTURE_SWEEP = {
    "name": "mixture",
    "weight": 0.3,
    "var": 1.0,
    "means": [-1.0, 2.0],
    "n": 200,
    "data_seed": 0,
    "damping": 1.0e-3,
}


def em_cell(learning_rates: list[float]) -> dict:
    """EM on the mixture_sweep row's target from its ten random starts, at these learning rates."""
    return {
        "experiment": "mixture_sweep",
        "target": MIXTURE_SWEEP,
        "init": {"theta_0": {"uniform": [-3.0, 4.0]}, "theta_1": {"uniform": [-3.0, 4.0]}},
        "parameterization": "identity",
        "method": "em",
        "learning_rates": learning_rates,
        "seeds": list(range(10)),
        "steps": 300,
        "divergence_factor": 1e8,
        "tolerances": [1e-2, 1e-8],
    }


@pytest.fixture(scope="module")
def em_at_lr_4():
    return solve_cell(em_cell([0.1, 4.0]), reference_solution(MIXTURE_SWEEP))


def test_singular_complete_data_fisher_fails_its_runs_and_the_batch_goes_on(em_at_lr_4, caplog):
    result = em_at_lr_4.result
    at_4 = result.status[10:]
    assert (at_4 == "failed").sum() >= 3
    assert "Singular matrix" in result.first_fault
    # The runs at lr 0.1 (EM damped to a tenth) never fail and use their whole budget.
    assert not np.isin(result.status[:10], FAILURE_STATUSES).any()
    assert (result.stop_iter[:10] == 300).all() and result.recorded[:, :10].all()
    # Runs that failed stopped at different iterations, and the batch ran on past the first of them.
    failed = np.flatnonzero(result.status == "failed")
    assert (result.stop_iter[failed] < 300).all()
    assert result.stop_iter.max() > result.stop_iter[failed].min()


def test_failed_runs_flow_through_files_statistics_and_figures(em_at_lr_4, tmp_path):
    write_parquet(em_at_lr_4.summaries, tmp_path / "summaries.parquet")
    write_parquet(em_at_lr_4.trajectories, tmp_path / "runs.parquet")
    summaries = read_summaries([tmp_path / "summaries.parquet"])
    trajectories = read_trajectories([tmp_path / "runs.parquet"])
    status = em_at_lr_4.result.status
    per_run = summaries[summaries["tolerance"] == 1e-8].sort_values(["lr", "seed"])
    assert list(per_run["status"]) == list(status)
    assert set(trajectories.loc[trajectories["lr"] == 4.0, "status"]) >= {"failed"}

    # Statistics count a failed run among the runs, charged its whole budget, and never as a success
    # unless it reached the tolerance before its step raised.
    stats = iteration_counts(summaries)
    row = stats[(stats["lr"] == 4.0) & (stats["tolerance"] == 1e-8)].iloc[0]
    runs = per_run[per_run["lr"] == 4.0]
    assert row["runs"] == 10
    assert row["successes"] == runs["hit_iter"].notna().sum()
    failed = runs[runs["status"] == "failed"]
    assert failed["hit_iter"].isna().any(), "some failed run never reached 1e-8"
    spent = runs["hit_iter"].fillna(runs["budget"]).sum()
    expected_art = spent / row["successes"] if row["successes"] else np.inf
    assert row["art"] == pytest.approx(expected_art)

    # Figures: a failed run's gap counts as +∞ from where it stopped, as a diverged run's does, and
    # it is marked at that step instead of entering the band of the runs that kept going.
    run = int(np.flatnonzero(status == "failed")[0])
    seed, stop = run - 10, int(em_at_lr_4.result.stop_iter[run])
    rows = trajectories[(trajectories["lr"] == 4.0) & (trajectories["seed"] == seed)]
    gaps, failed_at = run_gaps(rows, 300, floor=1e-10)
    assert np.isfinite(gaps[0, : stop + 1]).all() and np.isinf(gaps[0, stop + 1 :]).all()
    assert list(failed_at) == [stop + 1]
    assert np.isnan(gap_quantiles(rows, 300, floor=1e-10)).all()


def test_the_solver_log_counts_failed_runs_and_names_the_first_fault(caplog):
    params = em_cell([4.0])
    with caplog.at_level(logging.INFO, logger="ngbench.solve"):
        result = solve_cell(params, reference_solution(MIXTURE_SWEEP)).result
    failed = int((result.status == "failed").sum())
    lines = [r.getMessage() for r in caplog.records if "failed;" in r.getMessage()]
    assert lines == [
        f"mixture_sweep/identity/em: {failed} of 10 runs failed; the first raised {result.first_fault}"
    ]
    assert any(f"failed {failed})" in r.getMessage() for r in caplog.records)


# --- the runner with a direction that raises for one chosen run -------------------------------------


def raising_for(chosen: int, from_iteration: int, error=np.linalg.LinAlgError):
    """Adam, except that run `chosen` of the batch raises from `from_iteration` on, after Adam has drawn
    its noise and written its moments (so the runner must put both back before it retries).

    The run's position is kept in memory from the first step on, as a stateful method keeps its own.
    """

    def direction(target, chart, theta, canonical, context):
        run = context.memory.get("run", np.arange(theta.shape[0], dtype=float))
        context.memory["run"] = run
        step = adam(target, chart, theta, canonical, context)
        if context.iteration >= from_iteration and (run == chosen).any():
            raise error("the chosen run's step")
        return step

    return direction


def _stochastic_batch(direction, steps=15, runs=8):
    """gaussian_nd with Monte Carlo gradients: every run draws its own noise, and Adam keeps memory."""
    target = make_target({"name": "gaussian_nd", "dim": 3, "condition_number": 10.0}, gradient={"mc": 2})
    seeds = np.array([0, 1, 2, 3, 0, 1, 2, 3])[:runs]
    start = target.initial_states({"mean": {"uniform": [-1.0, 1.0]}, "var": 0.5}, tuple(range(4)))[seeds]
    lr = np.repeat([0.01, 0.05], 4)[:runs]
    chart = target.chart("mean_chol")
    return run_batch(target, chart, direction, start, lr, steps, converged_gap=1e-8, seeds=seeds)


@pytest.mark.parametrize("chosen", [0, 5, 7])
def test_a_run_whose_step_raises_fails_alone(chosen):
    fault_at = 6
    faulty = _stochastic_batch(raising_for(chosen, fault_at))
    clean = _stochastic_batch(raising_for(-1, fault_at))
    assert set(clean.status) <= {"converged", "budget"}

    others = np.arange(8) != chosen
    np.testing.assert_array_equal(faulty.status[others], clean.status[others])
    np.testing.assert_allclose(faulty.loss[:, others], clean.loss[:, others], rtol=1e-12, atol=0)
    np.testing.assert_allclose(faulty.states[:, others], clean.states[:, others], rtol=1e-12, atol=0)
    # The chosen run keeps every row up to the iterate whose step raised, and stops there.
    assert faulty.status[chosen] == "failed"
    assert faulty.stop_iter[chosen] == fault_at
    np.testing.assert_array_equal(faulty.loss[: fault_at + 1, chosen], clean.loss[: fault_at + 1, chosen])
    assert np.isnan(faulty.loss[fault_at + 1 :, chosen]).all()
    assert faulty.first_fault == "LinAlgError: the chosen run's step"


def test_the_last_run_left_after_a_fault_goes_on_to_its_end():
    """Two runs, the first's step raises: the second, now alone in the batch, steps on exactly as
    without the fault, to its budget."""
    faulty = _stochastic_batch(raising_for(0, 6), runs=2)
    clean = _stochastic_batch(raising_for(-1, 6), runs=2)
    assert faulty.status[0] == "failed" and faulty.status[1] == clean.status[1]
    assert faulty.stop_iter[1] == clean.stop_iter[1] > 6
    np.testing.assert_allclose(faulty.loss[:, 1], clean.loss[:, 1], rtol=1e-12, atol=0)


def test_a_batch_where_every_step_raises_ends_without_an_exception():
    def always(target, chart, theta, canonical, context):
        raise FloatingPointError("overflow")

    result = _stochastic_batch(always, steps=5)
    assert (result.status == "failed").all() and (result.stop_iter == 0).all()
    assert result.recorded[0].all() and not result.recorded[1:].any()
    assert result.first_fault == "FloatingPointError: overflow"


def test_a_bug_is_not_a_fault():
    """A TypeError or KeyError is a bug in a method: it stops the job instead of failing runs."""

    def buggy(target, chart, theta, canonical, context):
        raise TypeError("unsupported operand")

    with pytest.raises(TypeError):
        _stochastic_batch(buggy)


class _FragileQuadratic:
    """A quadratic whose loss raises beyond a radius, as `math.sqrt` of a negative number would."""

    def __init__(self, radius: float):
        self.inner = make_target(SMALL_TARGETS["quadratic"][0])
        self.radius = radius

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def loss(self, canonical):
        if (np.linalg.norm(canonical, axis=1) > self.radius).any():
            raise ValueError("math domain error")
        return self.inner.loss(canonical)

    def loss_at(self, chart, theta, canonical):  # what the runner records
        return self.loss(canonical)


def test_a_loss_that_raises_fails_its_run_at_that_iterate():
    """GD at a too-large lr grows its state past the radius; that run stops without a row there."""
    target = _FragileQuadratic(radius=50.0)
    chart = target.inner.chart("identity")
    start = np.array([[3.0, -4.0], [3.0, -4.0]])
    lr = np.array([0.005, 0.03])  # 2/λ_max = 0.02: the second run grows by |1 − 100ρ| = 2 a step
    result = run_batch(target, chart, METHODS["gd"], start, lr, 30, converged_gap=1e-8)
    alone = run_batch(target.inner, chart, METHODS["gd"], start[:1], lr[:1], 30, converged_gap=1e-8)
    assert list(result.status) == [alone.status[0], "failed"]
    np.testing.assert_allclose(result.loss[:, 0], alone.loss[:, 0], rtol=1e-12, atol=0)
    stop = result.stop_iter[1]
    assert 0 < stop < 30 and result.recorded[:stop, 1].all() and not result.recorded[stop:, 1].any()
    assert np.linalg.norm(result.states[stop - 1, 1]) <= 50.0
    assert result.first_fault == "ValueError: math domain error"
