"""Target properties as grid axes: expansion, errors named by the swept value, and the why-tables."""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import pytest

from ngbench.experiments import ConfigError, check_config
from ngbench.sweeps import Sweep, expand_sweeps, value_token
from ngbench.why import slopes, sweep_table
from tests.test_config import SCHEMA, default_config
from tests.test_workflow import snakemake, write_config

ROW = {
    "target": {"name": "gaussian_nd", "dim": 3, "condition_number": {"sweep": [1.0, 10.0, 100.0]}, "seed": 0},
    "init": {"mean": {"uniform": [-1.0, 1.0]}, "var": 0.5},
    "parameterizations": ["natural"],
    "methods": ["gd", "ngd"],
    "learning_rates": [0.1, 1.0],
    "seeds": 4,
    "steps": 50,
}


def with_row(row=None, name="kappa"):
    config = copy.deepcopy(default_config())
    config["experiments"] = {name: copy.deepcopy(row or ROW)}
    config["figures"] = {}
    config.pop("claims", None)  # the default claims read the default rows
    return config


def test_a_swept_row_becomes_one_experiment_per_value_named_by_it():
    plan = check_config(with_row(), SCHEMA)
    names = [f"kappa_condition_number_{v}" for v in ("1", "10", "100")]
    assert list(plan.experiments) == names
    assert [plan.experiments[n].target["condition_number"] for n in names] == [1.0, 10.0, 100.0]
    assert plan.sweeps["kappa"] == Sweep("kappa", "condition_number", (1.0, 10.0, 100.0), tuple(names))
    # Everything else of the row is the same in every sub-experiment.
    assert (
        len({(e.parameterizations, e.methods, e.learning_rates, e.seeds) for e in plan.experiments.values()})
        == 1
    )


@pytest.mark.parametrize(
    ("value", "token"),
    [(1000.0, "1000"), (0.5, "0p5"), (1e-6, "1em06"), (1e20, "1e20"), (3, "3"), (-2.5, "m2p5")],
)
def test_value_tokens_are_name_fragments(value, token):
    assert value_token(value) == token


@pytest.mark.parametrize(
    ("sweep", "field", "message"),
    [
        ({"sweep": []}, "condition_number.sweep", "non-empty list"),
        ({"sweep": [1.0, "x"]}, "condition_number.sweep.1", "'x' is not a number"),
        ({"sweep": [1.0, 10.0, 1.0]}, "condition_number.sweep.2", "duplicate value 1.0"),
        ({"sweep": [1.0], "log": True}, "condition_number.log", "unknown property"),
        # The schema's bound on the field, named at the swept value that breaks it.
        ({"sweep": [1.0, 1.0e7]}, "condition_number.sweep.1", "maximum"),
        # The target's own check, likewise.
        ({"sweep": [0.5, 2.0]}, "condition_number.sweep.0", ""),
    ],
)
def test_a_bad_sweep_is_named_by_the_field_and_value_the_user_wrote(sweep, field, message):
    row = copy.deepcopy(ROW)
    row["target"]["condition_number"] = sweep
    with pytest.raises(ConfigError) as error:
        check_config(with_row(row), SCHEMA)
    lines = [line.strip() for line in str(error.value).splitlines()[1:]]
    assert any(line.startswith(f"experiments.kappa.target.{field}") and message in line for line in lines), (
        lines
    )


def test_one_swept_field_per_row_and_other_problems_name_the_row():
    row = copy.deepcopy(ROW)
    row["target"]["dim"] = {"sweep": [2, 3]}
    _, _, problems = expand_sweeps(with_row(row))
    assert problems == [
        "experiments.kappa.target.condition_number: one swept field per row (dim is swept already)"
    ]
    row = copy.deepcopy(ROW)
    row["steps"] = 0
    with pytest.raises(ConfigError, match=r"experiments\.kappa\.steps: .*minimum"):
        check_config(with_row(row), SCHEMA)


def test_value_figures_are_the_rows_switch_and_leave_its_values_settings_alone():
    plain = check_config(with_row(), SCHEMA)
    assert plain.sweeps["kappa"].value_figures is False
    row = copy.deepcopy(ROW) | {"value_figures": True}
    drawn = check_config(with_row(row), SCHEMA)
    assert drawn.sweeps["kappa"].value_figures is True
    # Taken off the row before its values are made: their settings (and jobs) are the same.
    assert drawn.experiments == plain.experiments and drawn.expanded == plain.expanded
    # `false` is the default anywhere, so a row that stops sweeping may keep it.
    unswept = copy.deepcopy(ROW) | {
        "value_figures": False,
        "target": ROW["target"] | {"condition_number": 10.0},
    }
    assert list(check_config(with_row(unswept), SCHEMA).experiments) == ["kappa"]


@pytest.mark.parametrize("target", ["gaussian_nd", ["gaussian_nd"], None])
@pytest.mark.parametrize("value_figures", [{}, {"value_figures": True}])
def test_a_target_that_is_no_mapping_is_named_by_the_schema_not_a_traceback(target, value_figures):
    with pytest.raises(ConfigError) as error:
        check_config(with_row(copy.deepcopy(ROW) | {"target": target} | value_figures), SCHEMA)
    lines = [line.strip() for line in str(error.value).splitlines()[1:]]
    assert any(line.startswith("experiments.kappa.target") for line in lines), lines
    assert not any("value_figures" in line for line in lines), lines


@pytest.mark.parametrize(
    ("row_change", "message"),
    [
        ({"value_figures": "yes"}, "experiments.kappa.value_figures: must be true or false, got 'yes'"),
        (
            {"value_figures": True, "target": ROW["target"] | {"condition_number": 10.0}},
            "experiments.kappa.value_figures: only a swept row",
        ),
    ],
)
def test_a_bad_value_figures_is_named(row_change, message):
    with pytest.raises(ConfigError) as error:
        check_config(with_row(copy.deepcopy(ROW) | row_change), SCHEMA)
    assert message in str(error.value)


@pytest.mark.parametrize("value_figures", [False, True])
def test_a_sweeps_values_are_drawn_only_when_the_row_asks(tmp_path, value_figures):
    row = copy.deepcopy(ROW) | ({"value_figures": True} if value_figures else {})
    write_config(tmp_path, with_row(row))
    done = snakemake(tmp_path, "--cores", "1", "--dry-run", "--quiet", "rules", "all")
    assert done.returncode == 0, done.stderr[-3000:]
    counts = (re.fullmatch(r"(\w+)\s+(\d+)", line.strip()) for line in done.stdout.splitlines())
    jobs = {match[1]: int(match[2]) for match in counts if match}
    assert jobs.get("analysis_figures", 0) == (3 if value_figures else 0), done.stdout
    assert jobs["why_figure"] == 1 and jobs["aggregate"] == 3, done.stdout  # every value tabulated


def synthetic(sweep: Sweep, iterations, fail_value=None):
    """Summaries and tuned lrs per sub-experiment: 4 seeds, one lr, hit = iterations(value, seed)."""
    summaries, best = {}, {}
    for value, experiment in zip(sweep.values, sweep.experiments, strict=True):
        rows = []
        for method in ("gd", "ngd"):
            for seed in range(4):
                hit = iterations(method, value, seed)
                failed = method == "gd" and value == fail_value
                rows.append(
                    {
                        "experiment": experiment,
                        "parameterization": "p",
                        "method": method,
                        "lr": 0.1,
                        "seed": seed,
                        "tolerance": 1e-4,
                        "hit_iter": np.nan if failed else float(hit),
                    }
                )
        summaries[experiment] = pd.DataFrame(rows)
        best[experiment] = pd.DataFrame(
            [
                {"experiment": experiment, "parameterization": "p", "method": m, "fold": f, "best_lr": 0.1}
                for m in ("gd", "ngd")
                for f in ("even", "odd")
            ]
        )
    return summaries, best


def test_slopes_recover_a_known_power_law_and_count_failures():
    sweep = Sweep("k", "condition_number", (1.0, 4.0, 16.0, 64.0), tuple(f"k_{i}" for i in range(4)))
    # GD: 10·κ² (slope 2), with seed noise that cancels in the median of pairwise slopes; NGD: 7 always.
    summaries, best = synthetic(sweep, lambda m, v, s: 10 * v**2 * (1 + 0.01 * s) if m == "gd" else 7)
    fitted = slopes(sweep, summaries, best, 1e-4).set_index("method")
    assert fitted.loc["gd", "slope"] == pytest.approx(2.0, abs=1e-9)
    assert fitted.loc["gd", "slope_low"] <= 2.0 <= fitted.loc["gd", "slope_high"]
    assert (fitted.loc["ngd", ["slope", "slope_low", "slope_high"]] == 0.0).all()
    # GD never succeeds at κ = 64: that value has no median, and the slope uses the other three.
    summaries, best = synthetic(sweep, lambda m, v, s: 10 * v**2 if m == "gd" else 7, fail_value=64.0)
    table = sweep_table(sweep, summaries, best, 1e-4)
    failed = table[(table["method"] == "gd") & (table["value"] == 64.0)].iloc[0]
    assert (failed["runs"], failed["successes"]) == (4, 0) and np.isnan(failed["median_iters"])
    fitted = slopes(sweep, summaries, best, 1e-4).set_index("method")
    assert fitted.loc["gd", "values_with_successes"] == 3 and fitted.loc["gd", "slope"] == pytest.approx(2.0)


def test_why_tables_carry_theory_where_it_has_something_to_say():
    """On a quadratic over κ, NGD (any chart) has theory's one step and slope 0; GD in chart "p" (not
    `identity`, where its best-step count holds) has none: NaN, never a made-up number."""
    sweep = Sweep("k", "condition_number", (1.0, 10.0, 100.0), tuple(f"k_{i}" for i in range(3)))
    summaries, best = synthetic(sweep, lambda m, v, s: 5 * v if m == "gd" else 1)
    specs = {
        e: {
            "target": {"name": "quadratic", "condition_number": v, "optimum": [0.0, 0.0]},
            "init": {"theta_0": 1.0, "theta_1": 2.0},
            "seeds": [0, 1, 2, 3],
        }
        for v, e in zip(sweep.values, sweep.experiments, strict=True)
    }
    table = sweep_table(sweep, summaries, best, 1e-4, specs)
    ngd = table[table["method"] == "ngd"]
    assert (ngd["theory_iters"] == 1.0).all() and (ngd["theory_label"] != "").all()
    assert table.loc[table["method"] == "gd", "theory_iters"].isna().all()
    fitted = slopes(sweep, summaries, best, 1e-4, specs).set_index("method")
    assert fitted.loc["ngd", "theory_slope"] == 0.0 and np.isnan(fitted.loc["gd", "theory_slope"])
    # In `identity`, GD's count at ρ* = 2/(1+κ) from the start (1, 2): one step at κ = 1, then growing with κ.
    from ngbench.theory import gd_best_step_on_quadratic, theory_for

    gd = theory_for("quadratic", "condition_number", "identity", "gd")
    assert gd.slope == 1.0
    counts = [
        gd_best_step_on_quadratic(specs[e]["target"], specs[e]["init"], (0,), 1e-4)[0]
        for e in sweep.experiments
    ]
    assert counts[0] == 1 and counts[0] < counts[1] < counts[2]
    # Without specs (a caller that has none), the columns are there and empty.
    assert sweep_table(sweep, summaries, best, 1e-4)["theory_iters"].isna().all()


@pytest.mark.slow
def test_a_swept_row_runs_to_its_why_tables(tmp_path):
    config = with_row()
    write_config(tmp_path, config)
    done = snakemake(tmp_path, "--cores", "2", "results")
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results" / "stats" / "sweeps" / "kappa.csv")
    assert sorted(set(table["value"])) == [1.0, 10.0, 100.0] and set(table["method"]) == {"gd", "ngd"}
    assert (table["runs"] == 4).all()
    fitted = pd.read_csv(tmp_path / "results" / "stats" / "sweeps" / "kappa_slopes.csv")
    assert set(fitted["method"]) == {"gd", "ngd"}
    assert "Theil–Sen" in (tmp_path / "results" / "tables" / "sweeps" / "kappa_slopes.md").read_text()


def test_slope_intervals_are_90_percent_and_only_the_given_tolerance_counts():
    """The interval is Sen's at 90 % (scipy's `theilslopes` on the pooled points, as the independent
    computation); rows at another tolerance are left out; a sweep through 0 is fitted log-linear;
    rows come sorted by chart and method, with the published columns."""
    from scipy.stats import theilslopes

    from ngbench.why import SLOPE_COLUMNS

    sweep = Sweep("k", "condition_number", (1.0, 2.0, 4.0, 8.0, 16.0), tuple(f"k_{i}" for i in range(5)))
    noisy = np.random.default_rng(3).uniform(0.5, 2.0, size=(5, 4))

    def iterations(method, value, seed):
        return 10 * value * noisy[sweep.values.index(value), seed] if method == "gd" else 7 + seed

    summaries, best = synthetic(sweep, iterations)
    for experiment in sweep.experiments:  # a looser tolerance, reached at once: not the slope's
        frame = summaries[experiment]
        summaries[experiment] = pd.concat(
            [frame, frame.assign(tolerance=1e-1, hit_iter=1.0)], ignore_index=True
        )
    fitted = slopes(sweep, summaries, best, 1e-4)
    assert list(fitted.columns) == SLOPE_COLUMNS and list(fitted["method"]) == ["gd", "ngd"]
    assert list(fitted["parameterization"]) == ["p", "p"]
    assert set(fitted["scale"]) == {"log-log"}
    x = np.log(np.repeat(sweep.values, 4))
    y = np.log([iterations("gd", v, s) for v in sweep.values for s in range(4)])
    expected = theilslopes(y, x, alpha=0.90)
    gd = fitted.iloc[0]
    assert gd[["slope", "slope_low", "slope_high"]].tolist() == pytest.approx(
        [expected.slope, expected.low_slope, expected.high_slope], rel=1e-9
    )
    wider = theilslopes(y, x, alpha=0.95)
    assert wider.high_slope - wider.low_slope > gd["slope_high"] - gd["slope_low"]
    through_zero = Sweep("s", "shift", (-1.0, 0.0, 1.0), ("s_0", "s_1", "s_2"))
    summaries, best = synthetic(through_zero, lambda m, v, s: 10 + v)
    assert set(slopes(through_zero, summaries, best, 1e-4)["scale"]) == {"log-linear"}
