"""A solver job of a target with Monte Carlo gradients (each run's noise drawn from its own seed), the
line a job logs for each method, and a run stopped at its start."""

from __future__ import annotations

import logging

from ngbench.solve import solve_chart
from tests.test_progress import PARAMS

NOISY = {
    **PARAMS,
    "target": {"name": "gaussian_nd", "dim": 2, "condition_number": 2.0, "seed": 0},
    "init": {"mean": 1.0, "var": 0.5},
    "parameterization": "mean_cov",
    "methods": ["gd"],
    "learning_rates": [0.1],
    "steps": 5,
    "gradient": {"mc": 4},
}


def test_a_job_with_monte_carlo_gradients_runs_each_seed_on_its_own_noise():
    (cell,) = solve_chart(NOISY).cells.values()
    history = cell.trajectories.to_pandas()
    assert "failed" not in set(cell.summaries.to_pandas()["status"])
    # The seeds' runs at one learning rate start alike (one start per seed drawn from a fixed init)
    # and part at the first step, by their own gradient noise.
    assert history[history["iter"] == 0]["loss"].nunique() == 1
    first = history[history["iter"] == 1]
    assert first.groupby("lr")["loss"].nunique().min() == len(PARAMS["seeds"])


def test_a_job_logs_each_method_under_its_experiment_and_chart(caplog):
    with caplog.at_level(logging.INFO, logger="ngbench.solve"):
        solve_chart(NOISY)
    lines = [record.getMessage() for record in caplog.records]
    assert any(line.startswith("progress/mean_cov/gd: 3 runs x 5 steps in ") for line in lines), lines


def test_a_run_that_starts_at_the_optimum_stops_there_settled():
    """Stopped at iteration 0 (its start within every tolerance), a run's last iterate is its start: a
    reproducible number, so the run counts as settled and its final metrics are summarised."""
    at_optimum = {**PARAMS, "init": {"mean": 3.0, "var": 1.0}, "methods": ["gd"], "stop_at_target": True}
    (cell,) = solve_chart(at_optimum).cells.values()
    summary = cell.summaries.to_pandas()
    assert set(summary["stop_iter"]) == {0} and set(summary["status"]) == {"converged"}
    assert summary["settled"].all()
