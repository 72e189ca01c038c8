"""A row with one method passes the config check, so it must aggregate and draw too: the paired
comparison it cannot make is an empty table that says why."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from ngbench.experiments import parse_config
from ngbench.solve import solve_chart
from ngbench.stats import BASELINE_COLUMNS
from ngbench.tables import PAIRED, experiment_tables
from tests.test_workflow import snakemake, write_config

GAUSSIAN_1D = {
    "target": {"name": "gaussian_1d", "mean": 3.0, "var": 0.1},
    "init": {"mean": {"uniform": [-2.0, 2.0]}, "var": {"loguniform": [0.2, 5.0]}},
    "parameterizations": ["mean_var", "natural"],
    "learning_rates": [0.01, 0.3],
    "seeds": 4,
    "steps": 40,
}
# Newton is offered on affine charts only; gaussian_nd's are mean_cov and the mean-field diagonal.
GAUSSIAN_ND = {
    "target": {"name": "gaussian_nd", "dim": 2, "condition_number": 10.0, "seed": 0},
    "init": {"mean": {"uniform": [-1.0, 1.0]}, "var": 0.5},
    "parameterizations": ["mean_cov", "diagonal"],
    "learning_rates": [0.5, 1.0],
    "seeds": 4,
    "steps": 20,
}
ONE_METHOD_ROWS = {
    "gd_only": {**GAUSSIAN_1D, "methods": ["gd"]},
    "ngd_only": {**GAUSSIAN_1D, "methods": ["ngd"]},
    "newton_only": {**GAUSSIAN_ND, "methods": ["newton"]},
}
WHY = {
    "gd_only": "No comparison: experiment gd_only has no NGD (its methods: gd).",
    "ngd_only": "No comparison: NGD is the only method of experiment ngd_only.",
    "newton_only": "No comparison: experiment newton_only has no NGD (its methods: newton).",
}
TOLERANCES = [1.0e-2, 1.0e-6]


def _summaries(name: str) -> pd.DataFrame:
    config = parse_config({"tolerances": TOLERANCES, "experiments": {name: ONE_METHOD_ROWS[name]}})
    experiment = config.experiments[name]
    frames = [
        solve_chart(experiment.chart_params(chart)).summaries.to_pandas()
        for chart in experiment.parameterizations
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("name", sorted(ONE_METHOD_ROWS))
def test_one_method_rows_aggregate_with_an_empty_paired_table_that_says_why(name):
    texts = experiment_tables(_summaries(name), name, min(TOLERANCES))
    (method,) = ONE_METHOD_ROWS[name]["methods"]

    paired = texts["_paired"]
    table = pd.read_csv(io.StringIO(paired["csv"]))
    assert table.empty and list(table.columns) == BASELINE_COLUMNS
    assert WHY[name] in paired["md"]
    assert "| chart " in paired["md"], "the Markdown copy keeps the table's header"
    escaped = WHY[name].replace("_", "\\_")
    assert f"\\multicolumn{{{len(PAIRED.columns)}}}{{c}}{{{escaped}}} \\\\" in paired["tex"]
    assert paired["tex"].count("\\toprule") == 1 and "\\bottomrule" in paired["tex"]

    # The statistics that can be made are made, for the one method in every chart.
    for suffix in ("", "_best_lr"):
        rows = pd.read_csv(io.StringIO(texts[suffix]["csv"]))
        assert set(rows["method"]) == {method}
        assert set(rows["parameterization"]) == set(ONE_METHOD_ROWS[name]["parameterizations"])
        assert "No comparison" not in texts[suffix]["md"] + texts[suffix]["tex"]


def test_a_comparison_that_can_be_made_has_no_note():
    summaries = pd.concat([_summaries("gd_only"), _summaries("ngd_only").assign(experiment="gd_only")])
    texts = experiment_tables(summaries, "gd_only", min(TOLERANCES))
    assert len(pd.read_csv(io.StringIO(texts["_paired"]["csv"]))) == 2  # one row per chart
    assert "No comparison" not in texts["_paired"]["md"] + texts["_paired"]["tex"]
    assert "\\multicolumn" not in texts["_paired"]["tex"]


@pytest.mark.slow
def test_a_workflow_of_one_method_rows_runs_to_the_end(tmp_path):
    """Solve, aggregate, the analysis figures, the invariance figure of the NGD-only row and a paths
    figure of one method: every job of the DAG succeeds."""
    config = {
        "tolerances": TOLERANCES,
        "experiments": ONE_METHOD_ROWS,
        "figures": {
            "gd_paths": {
                "experiment": "gd_only",
                "parameterization": "mean_var",
                "seed": 0,
                "learning_rates": {"gd": 0.3},
            }
        },
    }
    write_config(tmp_path, config)
    done = snakemake(tmp_path, "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    for name, why in WHY.items():
        assert pd.read_csv(tmp_path / "results" / "stats" / f"{name}_paired.csv").empty
        assert why in (tmp_path / "results" / "tables" / f"{name}_paired.md").read_text()
        for kind in ("convergence", "lr_sensitivity", "ecdf"):
            assert (tmp_path / "figures" / f"{name}_{kind}.png").stat().st_size > 0
    # Two charts of one family and NGD: the only one of the three rows with an invariance audit.
    assert sorted(p.name for p in (tmp_path / "figures").glob("*_invariance.png")) == [
        "ngd_only_invariance.png"
    ]
    assert (tmp_path / "figures" / "gd_paths.pdf").stat().st_size > 0
