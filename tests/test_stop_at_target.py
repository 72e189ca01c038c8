"""Stopping a run at its row's smallest tolerance (issue 18, item 4), held against the same runs
left to go on to their budget: stopping may only cut histories, never change an iterate."""

from __future__ import annotations

import numpy as np
import pytest

from ngbench.experiments import parse_config
from ngbench.methods import METHODS
from ngbench.runner import first_hits, run_batch
from ngbench.solve import solve_cell
from ngbench.targets import make_target
from tests.test_config import default_config

TOLERANCES = (1e-2, 1e-4, 1e-6, 1e-8)
# Learning rates from too small to converge in the budget to past the stability limit, so that one
# batch holds runs that stop at different iterations, runs that go on, and runs that fail.
LEARNING_RATES = [0.003, 0.03, 0.3, 0.9, 1.5, 2.5]


def sweep_cell(method: str, parameterization: str, stop: bool | None) -> dict:
    params = {
        "experiment": "stop",
        "target": {"name": "gaussian_1d", "mean": 3.0, "var": 0.1},
        "init": {"mean": {"uniform": [-5.0, 5.0]}, "var": {"loguniform": [0.1, 10.0]}},
        "parameterization": parameterization,
        "method": method,
        "learning_rates": LEARNING_RATES,
        "seeds": [0, 1, 2],
        "steps": 300,
        "divergence_factor": 1e8,
        "tolerances": list(TOLERANCES),
    }
    if stop is not None:
        params["stop_at_target"] = stop
    return params


def assert_cut_from(stopped, full, converged_gap, f_star=0.0, rtol=0.0):
    """Each stopped run is the full run cut at its first hit of `converged_gap`: bit for bit, or
    within `rtol` where a batched product's last bit depends on how many runs are left in it."""
    hit = first_hits(full.loss - f_star, (converged_gap,))[0]
    for run, at in enumerate(hit):
        if at >= 0:
            assert stopped.status[run] == "converged"
            assert stopped.stop_iter[run] == at
            assert stopped.last_recorded[run] == at
            rows = slice(0, at + 1)
            assert not stopped.recorded[at + 1 :, run].any()
        else:  # never got there: nothing changes, whatever stopped around it
            assert stopped.status[run] == full.status[run]
            assert stopped.stop_iter[run] == full.stop_iter[run]
            rows = slice(None)
        np.testing.assert_allclose(stopped.loss[rows, run], full.loss[rows, run], rtol=rtol, atol=0)
        np.testing.assert_allclose(stopped.states[rows, run], full.states[rows, run], rtol=rtol, atol=0)
    return hit


@pytest.mark.parametrize(
    "method,parameterization",
    [("gd", "mean_var"), ("ngd", "natural"), ("ngd", "mean_logvar"), ("adam", "mean_logstd")],
)
def test_a_stopped_run_is_the_full_run_cut_at_its_hit(method, parameterization):
    full = solve_cell(sweep_cell(method, parameterization, stop=False))
    stopped = solve_cell(sweep_cell(method, parameterization, stop=True))
    hit = assert_cut_from(stopped.result, full.result, min(TOLERANCES))
    # The batch holds runs that stopped early and runs that went on (Adam: their moments too).
    assert (hit > 0).any() and (hit < 0).any()

    a, b = full.summaries.to_pandas(), stopped.summaries.to_pandas()
    for column in ("hit_iter", "tolerance", "lr", "seed", "budget", "initial_gap"):
        assert a[column].equals(b[column]), column
    # Cost columns count the steps taken to the hit, or to the end where there is none: the same.
    assert a["grad_evals"].equals(b["grad_evals"]) and a["solves"].equals(b["solves"])
    reached = b.groupby(["lr", "seed"])["hit_iter"].transform(lambda h: h.notna().all()).astype(bool)
    main = b[reached & (b["tolerance"] == min(TOLERANCES))]
    assert (main["stop_iter"] == main["hit_iter"]).all()
    assert (main["final_gap"] <= min(TOLERANCES)).all() and main["settled"].all()
    # The final gap of a stopped run is its gap at the hit, read from the full run's history.
    gaps = full.result.loss - 0.0
    for _, row in main.iterrows():
        run = LEARNING_RATES.index(row["lr"]) * 3 + int(row["seed"])
        assert row["final_gap"] == gaps[int(row["hit_iter"]), run]
    # Runs that never reach the tolerance keep their summaries whole.
    assert a[~reached].reset_index(drop=True).equals(b[~reached].reset_index(drop=True))


def test_cell_params_without_the_key_run_to_the_budget():
    """Params written before the key existed (old runs' provenance) described runs that went on."""
    old = solve_cell(sweep_cell("ngd", "natural", stop=None)).result
    full = solve_cell(sweep_cell("ngd", "natural", stop=False)).result
    np.testing.assert_array_equal(old.loss, full.loss)
    assert (old.stop_iter[old.status == "converged"] == 300).all()


def test_stochastic_runs_stop_without_moving_the_others_noise():
    """Monte Carlo gradients: each run keeps drawing from its own generator when others stop.

    A generator shifted by one draw would move the loss in its third digit; BLAS products over a
    smaller batch move only its last bits (as when a failed run leaves a batch).
    """
    target = make_target({"name": "logistic_vi"}, gradient={"mc": 2})
    # Gaps from a stand-in f* = 0 (no reference solve): only where runs stop matters here.
    zero = {
        "optimum_loss": 0.0,
        "optimum_mean": [0.0] * target.dim,
        "optimum_cov": np.eye(target.dim).tolist(),
    }
    target = target.with_reference({"optimum_loss": 0.0, "families": {"full": zero, "mean_field": zero}})
    chart = target.chart("natural")
    start = target.initial_states({"mean": {"uniform": [-0.5, 0.5]}, "var": 0.01}, (0, 1, 2))
    start = np.tile(start, (2, 1))
    lr, seeds = np.repeat([0.05, 0.3], 3), np.tile([0, 1, 2], 2)
    full = run_batch(target, chart, METHODS["ngd"], start, lr, 30, 0.0, seeds=seeds)
    # A level the faster runs reach within 30 steps and the slower ones do not.
    level = float(np.median(full.loss[30]))
    full = run_batch(target, chart, METHODS["ngd"], start, lr, 30, level, seeds=seeds)
    stopped = run_batch(target, chart, METHODS["ngd"], start, lr, 30, level, seeds=seeds, stop_at_target=True)
    hit = assert_cut_from(stopped, full, level, 0.0, rtol=1e-12)
    assert (hit > 0).any() and (hit < 0).any()


def test_default_config_stops_except_on_the_figure_rows():
    plan = parse_config(default_config())
    figure_rows = {figure.experiment for figure in plan.figures.values()}
    assert figure_rows == {"fig1_quadratic", "fig2_mixture", "fig3_gaussian_vi"}
    for name, experiment in plan.experiments.items():
        params = experiment.chart_params(experiment.parameterizations[0])
        assert params["stop_at_target"] is (name not in figure_rows), name
