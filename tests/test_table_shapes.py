"""The published profile and why-tables keep their shape whatever order their inputs come in: rows
sorted by (chart,) method, and the published columns even when there is nothing to tabulate (a
tolerance no run reached, a config without problems). A reader diffs these tables across runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ngbench.profiles import data_profiles, profile_scores, profiles
from ngbench.sweeps import Sweep
from ngbench.why import SLOPE_COLUMNS, SWEEP_COLUMNS, slopes, sweep_table
from tests.test_profiles import costs
from tests.test_sweeps import synthetic

PROFILE_TABLES = {
    profiles: ["cost", "method", "tau", "fraction"],
    data_profiles: ["cost", "method", "budget", "fraction"],
    profile_scores: ["cost", "method", "problems", "solved", "cheapest", "score"],
}


def _methods_in_order_of_cost_axis(table: pd.DataFrame) -> list[str]:
    return [method for _, group in table.groupby("cost", sort=False) for method in group["method"].unique()]


def test_profile_tables_list_methods_sorted_whatever_order_the_costs_come_in():
    shuffled = costs().iloc[::-1].reset_index(drop=True)  # methods c, b, a
    assert list(shuffled["method"].unique()) == ["c", "b", "a"]
    for make in PROFILE_TABLES:
        table = make(shuffled)
        assert _methods_in_order_of_cost_axis(table) == ["a", "b", "c"] * 3, make.__name__
        # The same numbers as from the costs in their own order.
        pd.testing.assert_frame_equal(table, make(costs()))


def test_profile_tables_of_no_problems_have_their_columns():
    for make, columns in PROFILE_TABLES.items():
        table = make(costs().iloc[:0])
        assert table.empty and list(table.columns) == columns, make.__name__


def _sweep():
    sweep = Sweep("k", "condition_number", (1.0, 4.0, 16.0), tuple(f"k_{i}" for i in range(3)))
    summaries, best = synthetic(sweep, lambda m, v, s: 10 * v if m == "gd" else 7 + s)
    return sweep, summaries, best


def _reversed(summaries: dict, best: dict, chart: str) -> tuple[dict, dict]:
    """Another chart's copy of every row, put first, and every method's rows in reverse order."""
    return (
        {e: pd.concat([f.assign(parameterization=chart), f]).iloc[::-1] for e, f in summaries.items()},
        {e: pd.concat([b.assign(parameterization=chart), b]).iloc[::-1] for e, b in best.items()},
    )


def test_why_tables_are_sorted_by_chart_and_method_whatever_order_the_runs_come_in():
    sweep, summaries, best = _sweep()
    summaries, best = _reversed(summaries, best, chart="a_chart")
    assert list(summaries["k_0"]["method"].unique()) == ["ngd", "gd"]
    fitted = slopes(sweep, summaries, best, 1e-4)
    pairs = list(zip(fitted["parameterization"], fitted["method"], strict=True))
    assert pairs == [("a_chart", "gd"), ("a_chart", "ngd"), ("p", "gd"), ("p", "ngd")]
    # Each chart's copy of the runs gives it the same slopes: GD's cost grows as κ, NGD's does not.
    by_method = fitted.set_index(["parameterization", "method"])["slope"]
    assert by_method[("a_chart", "gd")] == by_method[("p", "gd")] == pytest.approx(1.0, abs=1e-12)
    assert by_method[("a_chart", "ngd")] == by_method[("p", "ngd")] == 0.0
    table = sweep_table(sweep, summaries, best, 1e-4)
    for value, rows in table.groupby("value", sort=False):
        pairs = list(zip(rows["parameterization"], rows["method"], strict=True))
        assert pairs == [("a_chart", "gd"), ("a_chart", "ngd"), ("p", "gd"), ("p", "ngd")], value


def test_why_tables_at_a_tolerance_no_run_has_are_empty_with_their_columns():
    sweep, summaries, best = _sweep()
    assert not any(np.isclose(f["tolerance"], 1e-6).any() for f in summaries.values())
    fitted = slopes(sweep, summaries, best, 1e-6)
    assert fitted.empty and list(fitted.columns) == SLOPE_COLUMNS
    table = sweep_table(sweep, summaries, best, 1e-6)
    assert table.empty and list(table.columns) == SWEEP_COLUMNS
