"""What each row of a why-table carries: theory's count from that value's own target, the median's
interval from that value's successes, and only the runs at the tolerance asked for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ngbench.inference import median_interval
from ngbench.sweeps import Sweep
from ngbench.theory import gd_best_step_on_quadratic
from ngbench.why import slopes, sweep_table
from tests.test_sweeps import synthetic

SWEEP = Sweep("k", "condition_number", (1.0, 10.0, 100.0), tuple(f"k_{i}" for i in range(3)))


def _noisy(method, value, seed):
    return 5 * value * (1 + 0.3 * seed) if method == "gd" else 1 + seed


def _in_chart(frames: dict, chart: str) -> dict:
    return {experiment: frame.assign(parameterization=chart) for experiment, frame in frames.items()}


def test_gd_in_identity_carries_theorys_count_from_each_values_own_quadratic():
    summaries, best = synthetic(SWEEP, _noisy)
    summaries, best = _in_chart(summaries, "identity"), _in_chart(best, "identity")
    specs = {
        e: {
            "target": {"name": "quadratic", "condition_number": v, "optimum": [0.0, 0.0]},
            "init": {"theta_0": 1.0, "theta_1": {"uniform": [-2.0, 2.0]}},
            "seeds": [0, 1, 2, 3],
        }
        for v, e in zip(SWEEP.values, SWEEP.experiments, strict=True)
    }
    gd = sweep_table(SWEEP, summaries, best, 1e-4, specs).query("method == 'gd'").set_index("value")
    for value, experiment in zip(SWEEP.values, SWEEP.experiments, strict=True):
        spec = specs[experiment]
        expected = np.median(gd_best_step_on_quadratic(spec["target"], spec["init"], (0, 1, 2, 3), 1e-4))
        assert gd.loc[value, "theory_iters"] == expected
    assert gd["theory_iters"].is_monotonic_increasing and gd["theory_iters"].nunique() == 3


def test_each_rows_median_interval_is_that_of_its_own_successes():
    """12 seeds (4 are too few for a 90 % interval of the median): the synthetic runs, twice more
    with seeds 4–11 and other iteration counts."""
    summaries, best = synthetic(SWEEP, _noisy)
    summaries = {
        e: pd.concat(
            [f.assign(seed=f["seed"] + 4 * k, hit_iter=f["hit_iter"] * (1 + k)) for k in range(3)],
            ignore_index=True,
        )
        for e, f in summaries.items()
    }
    table = sweep_table(SWEEP, summaries, best, 1e-4)
    for row in table.itertuples():
        hits = np.array(
            [_noisy(row.method, row.value, seed) * (1 + k) for k in range(3) for seed in range(4)]
        )
        assert row.runs == 12 and row.median_iters == np.median(hits)
        assert (row.median_iters_low, row.median_iters_high) == median_interval(hits)
    assert (table["median_iters_low"] < table["median_iters_high"]).all()


def test_rows_at_a_nearby_tolerance_are_not_the_ones_asked_for():
    """A config's tolerances 1e-4 and 5e-5: the why-tables at 1e-4 count only its own runs."""
    summaries, best = synthetic(SWEEP, _noisy)
    tighter = {
        e: pd.concat([f, f.assign(tolerance=5e-5, hit_iter=f["hit_iter"] * 3)], ignore_index=True)
        for e, f in summaries.items()
    }
    pd.testing.assert_frame_equal(
        sweep_table(SWEEP, tighter, best, 1e-4), sweep_table(SWEEP, summaries, best, 1e-4)
    )
    pd.testing.assert_frame_equal(slopes(SWEEP, tighter, best, 1e-4), slopes(SWEEP, summaries, best, 1e-4))
    assert (sweep_table(SWEEP, tighter, best, 1e-4)["runs"] == 4).all()
    assert sweep_table(SWEEP, tighter, best, 5e-5)["median_iters"].tolist() == pytest.approx(
        (3 * sweep_table(SWEEP, summaries, best, 1e-4)["median_iters"]).tolist()
    )
