"""The run-summary file against the trajectories it summarises, its pinned columns and its provenance.

Every published number passes through a summary row: a test here states what a row must say about
its run, computed again from the run's own trajectory rows (issue 19).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ngbench.io import SUMMARY_SCHEMA, TRAJECTORY_SCHEMA, read_provenance, read_summaries, write_parquet
from ngbench.methods import METHODS
from ngbench.runner import FAILURE_STATUSES
from ngbench.solve import reference_solution, solve_cell, solve_chart, thinned_iterations
from tests.test_runner import cell

# Random starts, learning rates from slow to past the (μ, σ²) chart's stability limit.
TOLERANCES = [10.0, 1e-1, 1e-3, 1e-6]  # some starts are within 10 of f*: hits at iteration 0
SWEEP = cell(
    target={"name": "gaussian_1d", "mean": -1.0, "var": 0.5},
    init={"mean": {"uniform": [-3.0, 3.0]}, "var": {"loguniform": [0.2, 5.0]}},
    learning_rates=[0.01, 0.1, 0.4, 0.7, 1.5],
    seeds=[0, 1, 2, 3],
    steps=120,
    tolerances=TOLERANCES,
)
KEYS = ["lr", "seed"]


@pytest.fixture(scope="module", params=["ngd", "gd"])
def solved(request):
    params = {**SWEEP, "method": request.param}
    result = solve_cell(params)
    return params, result.trajectories.to_pandas(), result.summaries.to_pandas()


def test_the_sweep_has_every_kind_of_run(solved):
    _, _, summaries = solved
    statuses = set(summaries["status"])
    assert "converged" in statuses and statuses & set(FAILURE_STATUSES)


def test_summary_rows_are_computed_from_their_own_run(solved):
    """Per (run, tolerance): keys, first hit, initial and final gap, stop and budget, from the rows."""
    params, trajectories, summaries = solved
    assert len(summaries) == len(params["learning_rates"]) * len(params["seeds"]) * len(TOLERANCES)
    hits_at_start = 0
    for (lr, seed), rows in trajectories.groupby(KEYS):
        rows = rows.sort_values("iter")
        assert (rows["iter"].to_numpy() == np.arange(len(rows))).all()  # unthinned: every iterate
        mine = summaries[(summaries["lr"] == lr) & (summaries["seed"] == seed)].sort_values("tolerance")
        assert list(mine["tolerance"]) == sorted(TOLERANCES)
        (status,) = set(mine["status"]) | set(rows["status"])
        gap = rows["gap"].to_numpy()
        assert (mine["initial_gap"] == gap[0]).all()
        assert (mine["final_gap"] == gap[-1]).all()  # the last row reached, for stopped runs too
        assert (mine["budget"] == params["steps"]).all()
        if status in FAILURE_STATUSES:
            # It stopped where it failed: on its last row (diverged) or the step after it.
            assert (mine["stop_iter"] >= rows["iter"].iloc[-1]).all()
            assert (mine["stop_iter"] <= rows["iter"].iloc[-1] + 1).all()
            assert (mine["stop_iter"] < params["steps"]).all()
        elif status == "budget":
            assert (mine["stop_iter"] == params["steps"]).all()
        for _, row in mine.iterrows():
            below = np.flatnonzero(gap <= row["tolerance"])
            if below.size:
                assert row["hit_iter"] == below[0]
            else:
                assert pd.isna(row["hit_iter"])
        hits_at_start += int((mine["hit_iter"] == 0).sum())
        # converged ⇔ did not fail and reached the smallest tolerance, on any row.
        reached = (gap <= min(TOLERANCES)).any()
        assert (status == "converged") == (reached and status not in FAILURE_STATUSES)
        if status not in FAILURE_STATUSES and not reached:
            assert status == "budget"
    assert hits_at_start > 0


def test_a_run_reaching_only_the_loose_tolerances_is_budget_not_converged(solved):
    _, _, summaries = solved
    loose = summaries[(summaries["tolerance"] == max(TOLERANCES)) & summaries["hit_iter"].notna()]
    tight = summaries[(summaries["tolerance"] == min(TOLERANCES)) & summaries["hit_iter"].isna()]
    only_loose = set(zip(loose["lr"], loose["seed"], strict=True)) & set(
        zip(tight["lr"], tight["seed"], strict=True)
    )
    assert only_loose  # the slow learning rate gets to 1e-1 and not to 1e-6 in 120 steps
    for lr, seed in only_loose:
        status = summaries.loc[(summaries["lr"] == lr) & (summaries["seed"] == seed), "status"].iloc[0]
        assert status != "converged"


def test_runs_carry_their_own_learning_rate_and_seed(solved):
    """Runs are learning-rate major: the result's run r has lr[r // seeds] and seed[r % seeds]."""
    params, trajectories, summaries = solved
    n_seeds = len(params["seeds"])
    result = solve_cell(params).result
    for run in range(result.status.size):
        lr, seed = params["learning_rates"][run // n_seeds], params["seeds"][run % n_seeds]
        mine = summaries[(summaries["lr"] == lr) & (summaries["seed"] == seed)]
        assert set(mine["status"]) == {result.status[run]}
        rows = trajectories[(trajectories["lr"] == lr) & (trajectories["seed"] == seed)].sort_values("iter")
        np.testing.assert_array_equal(rows["loss"], result.loss[: len(rows), run])


def test_cost_columns_count_the_steps_to_the_hit_or_the_stop(solved):
    params, _, summaries = solved
    spent = summaries["hit_iter"].fillna(summaries["stop_iter"]).astype(int)
    np.testing.assert_array_equal(summaries["grad_evals"], spent)
    np.testing.assert_array_equal(summaries["solves"], spent * METHODS[params["method"]].solves_per_step)


def test_summary_file_columns_are_pinned(tmp_path):
    """The run-summary file's columns, in order, with their types: a dropped column is a failure."""
    expected = [
        ("experiment", pa.string()),
        ("target", pa.string()),
        ("parameterization", pa.string()),
        ("method", pa.string()),
        ("lr", pa.float64()),
        ("seed", pa.int64()),
        ("tolerance", pa.float64()),
        ("hit_iter", pa.int64()),
        ("stop_iter", pa.int64()),
        ("budget", pa.int64()),
        ("status", pa.string()),
        ("initial_gap", pa.float64()),
        ("final_gap", pa.float64()),
        ("settled", pa.bool_()),
        ("final_mean_error", pa.float64()),
        ("final_test_log_loss", pa.float64()),
        ("grad_evals", pa.int64()),
        ("solves", pa.int64()),
    ]
    assert [(field.name, field.type) for field in SUMMARY_SCHEMA] == expected
    solved = solve_cell({**SWEEP, "method": "ngd", "learning_rates": [0.1]})
    path = tmp_path / "summaries.parquet"
    write_parquet(solved.summaries, path)
    assert [(field.name, field.type) for field in pq.read_schema(path).remove_metadata()] == expected
    assert list(read_summaries([path]).columns) == [name for name, _ in expected]


def test_trajectory_file_columns_are_pinned():
    assert TRAJECTORY_SCHEMA.names == [
        "experiment",
        "target",
        "parameterization",
        "method",
        "lr",
        "seed",
        "iter",
        "loss",
        "gap",
        "status",
        "mean",
        "var",
        "theta_0",
        "theta_1",
        "mean_error",
        "test_log_loss",
    ]


MIXTURE = {
    "name": "mixture",
    "weight": 0.3,
    "var": 1.0,
    "means": [-1.0, 2.0],
    "n": 60,
    "data_seed": 0,
    "damping": 1.0e-3,
}


@pytest.fixture(scope="module")
def mixture_files(tmp_path_factory):
    reference = reference_solution(MIXTURE)
    params = {
        **{key: value for key, value in SWEEP.items() if key != "method"},
        "experiment": "provenance",
        "target": MIXTURE,
        "init": {"theta_0": -2.5, "theta_1": -1.0},
        "parameterization": "identity",
        "methods": ["gd", "ngd"],
        "learning_rates": [0.5],
        "seeds": [0],
        "steps": 30,
    }
    solved = solve_chart(params, reference)
    folder = tmp_path_factory.mktemp("provenance")
    paths = {kind: folder / f"{kind}.parquet" for kind in ("trajectories", "summaries")}
    for kind, path in paths.items():
        write_parquet(getattr(solved, kind), path)
    return params, reference, paths, solved


def test_provenance_holds_the_cell_the_reference_solution_and_the_versions(mixture_files):
    params, reference, paths, _ = mixture_files
    for path in paths.values():
        provenance = read_provenance(path)
        assert provenance["cell"] == params
        assert provenance["reference"] == reference
        assert provenance["reference"]["optimum_loss"] == reference["optimum_loss"]
        assert {"ngbench", "source", "python", "numpy", "pandas", "pyarrow"} <= set(provenance["versions"])


def test_one_cell_provenance_holds_its_reference_too(mixture_files):
    params, reference, _, _ = mixture_files
    one = {key: value for key, value in params.items() if key != "methods"}
    solved = solve_cell({**one, "method": "ngd"}, reference)
    for table in (solved.trajectories, solved.summaries):
        provenance = read_provenance_of(table)
        assert provenance["reference"] == reference and provenance["cell"]["method"] == "ngd"


def read_provenance_of(table: pa.Table) -> dict:
    import json

    return json.loads(table.schema.metadata[b"ngbench"])


def test_gaps_are_measured_from_the_reference_optimum(mixture_files):
    _, reference, _, solved = mixture_files
    frame = solved.trajectories.to_pandas()
    np.testing.assert_array_equal(frame["gap"], frame["loss"] - reference["optimum_loss"])


@pytest.mark.parametrize("method", ["ngd", "gd"])
def test_thin_keeps_first_hits_and_run_ends_and_thins_the_rest(method):
    full = solve_cell({**SWEEP, "method": method})
    thin = solve_cell({**SWEEP, "method": method, "thin": 8})
    pd.testing.assert_frame_equal(thin.summaries.to_pandas(), full.summaries.to_pandas())
    rows, all_rows = thin.trajectories.to_pandas(), full.trajectories.to_pandas()
    assert len(rows) < len(all_rows) / 3
    kept = set(np.flatnonzero(thinned_iterations(SWEEP["steps"], 8)))
    ends_between = 0
    for (lr, seed), mine in rows.groupby(KEYS):
        everything = all_rows[(all_rows["lr"] == lr) & (all_rows["seed"] == seed)]
        last = everything["iter"].iloc[-1]
        assert mine["iter"].iloc[0] == 0 and mine["iter"].iloc[-1] == last
        ends_between += last not in kept
        assert set(mine["iter"]) == {i for i in kept if i <= last} | {last}
        merged = mine.merge(everything, on="iter", suffixes=("", "_full"), validate="one_to_one")
        np.testing.assert_array_equal(merged["loss"], merged["loss_full"])
    if method == "gd":
        assert ends_between > 0  # runs that diverged between two kept iterations end on their last row


def test_the_divergence_factor_of_the_row_is_the_runners():
    """GD at ρ = 2.3 from μ₀ − 3 = 100: a gap growing ×1.69 a step passes 10·gap₀ long before 1e8·gap₀."""
    params = cell(init={"mean": 103.0, "var": 1.0}, method="gd", learning_rates=[2.3], steps=100)
    stops = {}
    for factor in (10.0, 1e8):
        solved = solve_cell({**params, "divergence_factor": factor})
        rows = solved.trajectories.to_pandas()
        gap = rows["gap"].to_numpy()
        assert set(rows["status"]) == {"diverged"}
        assert gap[-1] > factor * gap[0] >= gap[:-1].max()
        stops[factor] = solved.summaries.to_pandas()["stop_iter"].iloc[0]
    assert stops[10.0] < stops[1e8]


# ½θᵀdiag(1, 10)θ by GD at ρ = 0.205 from (1, 10⁻⁶): the gap dips to ~1e-9, then rises to 1.1e-5
# at step 150 (tests/test_runner_invariants.py). It never reaches 1e-10, so it runs its budget.
DIP = cell(
    target={"name": "quadratic", "eigenvalues": [1.0, 10.0], "angle_degrees": 0.0, "optimum": [0.0, 0.0]},
    init={"theta_0": 1.0, "theta_1": 1e-6},
    parameterization="identity",
    method="gd",
    learning_rates=[0.205],
    steps=150,
)


@pytest.mark.parametrize("tolerances,settled", [([1e-2, 1e-10], True), ([1e-6, 1e-10], False)])
def test_a_rising_run_is_settled_only_within_the_loosest_tolerance(tolerances, settled):
    summaries = solve_cell({**DIP, "tolerances": tolerances}).summaries.to_pandas()
    assert set(summaries["status"]) == {"budget"}
    assert 1e-6 < summaries["final_gap"].iloc[0] < 1e-2
    assert set(summaries["settled"]) == {settled}


def test_failed_runs_are_never_settled_and_steady_ones_are(solved):
    _, _, summaries = solved
    failed = summaries["status"].isin(FAILURE_STATUSES)
    assert not summaries.loc[failed, "settled"].any()
    # Runs within the loosest tolerance at their end are settled whatever their last steps did.
    close = ~failed & (summaries["final_gap"] <= max(TOLERANCES))
    assert close.any() and summaries.loc[close, "settled"].all()


def test_final_metrics_are_those_of_each_runs_last_row():
    """The d-dimensional targets' final metrics, for runs that stopped early too (not NaN)."""
    params = cell(
        target={"name": "gaussian_nd", "dim": 2, "condition_number": 4.0, "seed": 0},
        init={"mean": 0.5, "var": 100.0},
        parameterization="mean_chol",
        method="gd",
        learning_rates=[0.01, 1.5],  # ρ = 1.5 leaves the chart (a negative Cholesky diagonal) at once
        seeds=[0, 1],
        steps=30,
    )
    solved = solve_cell(params)
    rows, summaries = solved.trajectories.to_pandas(), solved.summaries.to_pandas()
    assert set(summaries["status"]) == {"budget", "invalid"}
    last = rows.sort_values("iter").groupby(KEYS).tail(1).set_index(KEYS)
    for _, row in summaries.iterrows():
        end = last.loc[(row["lr"], row["seed"])]
        assert row["final_mean_error"] == end["mean_error"] and np.isfinite(row["final_mean_error"])
        assert row["final_gap"] == end["gap"]
    assert summaries["final_test_log_loss"].isna().all()  # gaussian_nd has no held-out data


@pytest.mark.parametrize("chart,lr,steps", [("diagonal", 0.1, 300), ("diagonal_natural", 0.5, 80)])
def test_mean_field_gaps_are_measured_from_the_mean_field_optimum(chart, lr, steps):
    """A diagonal q cannot reach the full family's f* (0 here); its gap is to the best diagonal q."""
    from ngbench.targets import make_target

    spec = {"name": "gaussian_nd", "dim": 3, "condition_number": 10.0, "seed": 0}
    target = make_target(spec)
    f_star = target.optimum_loss_for(target.chart(chart))
    assert f_star - target.optimum_loss > 0.1
    params = cell(
        target=spec,
        init={"mean": 0.5, "var": 1.0},
        parameterization=chart,
        method="ngd",
        learning_rates=[lr],
        steps=steps,
    )
    solved = solve_cell(params)
    rows, summaries = solved.trajectories.to_pandas(), solved.summaries.to_pandas()
    np.testing.assert_array_equal(rows["gap"], rows["loss"] - f_star)
    assert set(summaries["status"]) == {"converged"}
    assert summaries["hit_iter"].notna().all()
    assert (summaries["final_gap"] >= -1e-12).all() and (summaries["final_gap"] <= min(TOLERANCES)).all()


def test_a_solver_jobs_timings_give_each_methods_time_per_step_and_to_tolerance():
    """The costs table (results/costs, machine-dependent, so not committed): a cell's seconds over the
    steps its runs took, and that times the median iterations of its successful runs."""
    from ngbench.solve import solve_chart, timing_record
    from ngbench.stats import wall_times
    from tests.test_plumbing import ROW, plan_of

    params = plan_of(ROW).chart_params("natural")
    chart = solve_chart(params)
    record = timing_record(params, chart)
    summaries = chart.summaries.to_pandas()
    tolerance = summaries["tolerance"].max()  # where both methods have successful runs
    assert sorted(timed["method"] for timed in record["cells"]) == sorted(ROW["methods"])
    table = wall_times(summaries, record["cells"], tolerance)
    assert list(table["method"]) == sorted(ROW["methods"])
    for timed in record["cells"]:
        result = chart.cells[timed["method"]].result
        assert timed["runs"] == len(ROW["learning_rates"]) * ROW["seeds"] == result.stop_iter.size
        assert timed["run_steps"] == result.stop_iter.sum() and timed["seconds"] > 0
        row = table[table["method"] == timed["method"]].iloc[0]
        assert row["experiment"] == params["experiment"] and row["parameterization"] == "natural"
        assert row["microseconds_per_step"] == pytest.approx(1e6 * timed["seconds"] / timed["run_steps"])
        hits = summaries[(summaries["method"] == timed["method"]) & (summaries["tolerance"] == tolerance)]
        median = float(np.median(hits["hit_iter"].dropna()))
        assert row["median_hit_iter"] == median and row["tolerance"] == tolerance
        assert row["median_seconds_to_tolerance"] == pytest.approx(
            median * row["microseconds_per_step"] / 1e6
        )
