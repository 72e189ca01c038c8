"""Performance and data profiles across problems, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ngbench.profiles import WALL_TIME, add_wall_time, data_profiles, profile_scores, profiles, ratios


def costs():
    """Three problems (one experiment, chart p, seeds 0–2); A is cheapest twice, B once, C fails twice."""
    rows = [
        # seed, method, iterations, grad evals, solves (NaN: never reached the tolerance)
        (0, "a", 10, 10, 0),
        (0, "b", 20, 20, 20),
        (0, "c", np.nan, np.nan, np.nan),
        (1, "a", 30, 30, 0),
        (1, "b", 10, 10, 10),
        (1, "c", 90, 90, 0),
        (2, "a", 5, 5, 0),
        (2, "b", 5, 5, 5),
        (2, "c", np.nan, np.nan, np.nan),
    ]
    frame = pd.DataFrame(
        rows, columns=["seed", "method", "iterations", "gradient evaluations", "linear solves"]
    )
    return frame.assign(experiment="e", parameterization="p", success=frame["iterations"].notna())


def test_ratios_to_the_cheapest_success_of_each_problem():
    table = ratios(costs(), "iterations").set_index(["seed", "method"])["ratio"]
    assert table[(0, "a")] == 1 and table[(0, "b")] == 2 and np.isinf(table[(0, "c")])
    assert table[(1, "a")] == 3 and table[(1, "b")] == 1 and table[(1, "c")] == 9
    assert table[(2, "a")] == table[(2, "b")] == 1
    # Per linear solve, a method that needs none is cheapest; the others are infinitely worse.
    solves = ratios(costs(), "linear solves").set_index(["seed", "method"])["ratio"]
    assert solves[(0, "a")] == 1 and np.isinf(solves[(0, "b")]) and solves[(1, "c")] == 1


def test_profiles_and_scores_by_hand():
    profile = profiles(costs())
    a = profile[(profile["cost"] == "iterations") & (profile["method"] == "a")].set_index("tau")["fraction"]
    assert a[1.0] == pytest.approx(2 / 3) and a[4.0] == 1.0
    scores = profile_scores(costs()).set_index(["cost", "method"])
    # Ratios a: 1, 3, 1 → ∫₁⁴ ρ = (3 + 1 + 3)/3; score = that / 3.
    assert scores.loc[("iterations", "a"), "score"] == pytest.approx((3 + 1 + 3) / 3 / 3)
    # b: 2, 1, 1 → (2 + 3 + 3)/3 / 3; c: ∞, 9, ∞ → 0.
    assert scores.loc[("iterations", "b"), "score"] == pytest.approx((2 + 3 + 3) / 9)
    assert scores.loc[("iterations", "c"), "score"] == 0.0
    assert scores.loc[("iterations", "c"), "solved"] == pytest.approx(1 / 3)
    assert scores.loc[("iterations", "a"), "cheapest"] == pytest.approx(2 / 3)
    assert (scores["problems"] == 3).all()


def test_data_profiles_count_problems_solved_within_a_budget():
    data = data_profiles(costs())
    b = data[(data["cost"] == "iterations") & (data["method"] == "b")].set_index("budget")["fraction"]
    assert b[5.0] == pytest.approx(1 / 3) and b[20.0] == 1.0
    c = data[(data["cost"] == "iterations") & (data["method"] == "c")]
    assert c["fraction"].max() == pytest.approx(1 / 3)  # never more than it solves


def test_problem_costs_are_each_seeds_runs_at_the_learning_rate_tuned_without_it():
    """One row per (experiment, chart, seed, method) at the experiment's tolerance: the seed's run at
    the lr its other fold chose (even seeds report the odd seeds' choice), its costs where it got
    there and NaN where it did not. Checked against the runtimes written by hand."""
    from ngbench.profiles import COST_AXES, problem_costs
    from ngbench.stats import best_learning_rates
    from tests.test_stats import synthetic_summaries

    runtimes = {
        ("gd", 0.1): [50, 60, None, 55, 70, 65],
        ("gd", 0.5): [30, None, None, 35, None, 40],
        ("ngd", 0.1): [20, 22, 21, 23, 19, 24],
        ("ngd", 0.5): [8, 9, 7, 10, 9, 8],
    }
    one = synthetic_summaries(runtimes)
    # A second experiment whose tolerance table also holds a looser tolerance the costs must ignore.
    loose = one.assign(tolerance=1e-2, hit_iter=1.0)
    summaries = pd.concat([one, one.assign(experiment="f"), loose.assign(experiment="f")], ignore_index=True)
    best = pd.concat(
        [best_learning_rates(part, tol) for part, tol in ((one, 1e-8), (one.assign(experiment="f"), 1e-8))]
    )
    table = problem_costs(summaries, best, {"e": 1e-8, "f": 1e-8})
    assert list(table.columns) == ["experiment", "parameterization", "seed", "method", "success", *COST_AXES]
    assert len(table) == 2 * 6 * 2
    keys = ["experiment", "parameterization", "seed", "method"]
    assert table[keys].equals(table[keys].sort_values(keys).reset_index(drop=True))
    lr_of = {(row["method"], row["fold"]): row["best_lr"] for _, row in best.iterrows()}
    for _, row in table.iterrows():
        tuned_on = "odd" if row["seed"] % 2 == 0 else "even"
        runtime = runtimes[(row["method"], lr_of[(row["method"], tuned_on)])][row["seed"]]
        assert row["success"] == (runtime is not None)
        if runtime is None:
            assert np.isnan(row["iterations"]) and np.isnan(row["gradient evaluations"])
        else:
            assert row["iterations"] == runtime and row["gradient evaluations"] == runtime
            assert row["linear solves"] == 0


def test_wall_time_is_apportioned_by_steps_and_reverses_an_iteration_ranking():
    """A run's wall time is its iterations times its cell's seconds per run-step: b, 4× dearer a step
    (a solve per step), loses the seed-1 problem it wins on iterations (10 vs a's 30)."""
    cells = pd.DataFrame(
        [
            {"experiment": "e", "parameterization": "p", "method": "a", "seconds": 0.5, "run_steps": 1000},
            {"experiment": "e", "parameterization": "p", "method": "b", "seconds": 2.0, "run_steps": 1000},
            {"experiment": "e", "parameterization": "p", "method": "c", "seconds": 1.0, "run_steps": 4000},
        ]
    )
    timed = add_wall_time(costs(), cells).set_index(["seed", "method"])[WALL_TIME]
    assert timed[(1, "a")] == pytest.approx(30 * 500.0) and timed[(1, "b")] == pytest.approx(10 * 2000.0)
    assert timed[(1, "c")] == pytest.approx(90 * 250.0) and np.isnan(timed[(0, "c")])
    scores = profile_scores(add_wall_time(costs(), cells), (WALL_TIME,)).set_index("method")
    assert list(profile_scores(costs(), ("iterations",))["cheapest"]) == pytest.approx([2 / 3, 2 / 3, 0])
    # On wall time a is cheapest on every problem (seed 2: 5·500 against b's 5·2000).
    assert scores.loc["a", "cheapest"] == 1.0 and scores.loc["b", "cheapest"] == 0.0
    assert set(profiles(add_wall_time(costs(), cells), (WALL_TIME,))["cost"]) == {WALL_TIME}
    with pytest.raises(ValueError, match="no timing for the cell e/p/c"):
        add_wall_time(costs(), cells.iloc[:2])
