"""A solver job's typed spec: the params it travels as, read back, are the same job."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from ngbench.experiments import parse_config
from ngbench.jobs import JobSpec
from ngbench.solve import solve_chart

REPO = Path(__file__).resolve().parents[1]
PLAN = parse_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
JOBS = [(name, chart) for name, e in PLAN.experiments.items() for chart in e.parameterizations]


@pytest.mark.parametrize(("experiment", "chart"), JOBS)
def test_params_read_back_are_the_same_job(experiment, chart):
    job = PLAN.experiments[experiment].job(chart)
    params = job.to_params()
    assert JobSpec.from_params(params) == job
    # As text (Snakemake compares params as text, and a job may read them back from it).
    assert JobSpec.from_params(json.loads(json.dumps(params))) == job
    assert JobSpec.from_params(params).to_params() == params
    assert [job.lr_index(lr) for lr in job.learning_rates] == list(range(len(job.learning_rates)))


def small_job(learning_rates) -> JobSpec:
    return JobSpec(
        experiment="small",
        target={"name": "gaussian_1d", "mean": 1.0, "var": 2.0},
        init={"mean": -1.0, "var": 1.0},
        parameterization="mean_var",
        methods=("ngd", "gd"),
        learning_rates=tuple(learning_rates),
        seeds=(3, 5, 8),
        steps=4,
        divergence_factor=1e8,
        thin=None,
        gradient="exact",
        tolerances=(1e-2, 1e-4),
        stop_at_target=True,
    )


def test_two_learning_rates_closer_than_any_tolerance_keep_their_own_index():
    close = 0.1 + 2 * math.ulp(0.1)
    job = small_job([0.1, close])
    assert math.isclose(0.1, close, rel_tol=1e-12)  # what a tolerance-based match would conflate
    assert (job.lr_index(0.1), job.lr_index(close)) == (0, 1)
    with pytest.raises(ValueError):
        job.lr_index(0.1 + math.ulp(0.1))  # not a grid entry: no nearest one is guessed


def test_methods_are_in_the_registrys_order_and_runs_in_the_solvers():
    job = small_job([0.05, 0.5])
    assert job.methods == ("gd", "ngd")
    summaries = solve_chart(job.to_params()).summaries.to_pandas()
    first = summaries[(summaries["method"] == "gd") & (summaries["tolerance"] == 1e-2)]
    lr_indices, seeds = job.runs()
    assert list(first["lr"]) == [job.learning_rates[i] for i in lr_indices]
    assert list(first["seed"]) == list(seeds)
    assert np.array_equal(lr_indices, [0, 0, 0, 1, 1, 1])


def test_adding_one_learning_rate_changes_only_that_rows_jobs():
    """Issue 18's guard: Snakemake reruns a solver job when its params change, so one more learning
    rate in a row must leave every other row's job params as they were."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    name = next(n for n, row in config["experiments"].items() if "sweep" not in json.dumps(row))
    row = config["experiments"][name]
    grid = list(PLAN.experiments[name].learning_rates)
    row["learning_rates"] = [*grid, grid[-1] * 1.05]
    after = parse_config(config)
    changed = {
        (experiment, chart)
        for experiment, chart in JOBS
        if PLAN.experiments[experiment].chart_params(chart)
        != after.experiments[experiment].chart_params(chart)
    }
    assert changed == {(name, chart) for chart in PLAN.experiments[name].parameterizations}
