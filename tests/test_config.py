"""Config rows: the default config, grid expansion, and errors that name the field."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from ngbench.experiments import (
    ConfigError,
    check_config,
    initial_states,
    learning_rate_grid,
    parse_config,
    seed_list,
)

REPO = Path(__file__).resolve().parents[1]


def default_config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_default_config_has_the_blog_row_exactly():
    row = default_config()["experiments"]["fig3_gaussian_vi"]
    assert row == {
        "target": {"name": "gaussian_1d", "mean": 3.0, "var": 1.0},
        "init": {"mean": -2.0, "var": 2.718281828459045},
        "parameterizations": ["mean_var"],
        "methods": ["gd", "ngd"],
        "learning_rates": [0.1],
        "seeds": [0],
        "steps": 100,
    }
    plan = parse_config(default_config())
    sweep = plan.experiments["gaussian_1d_sweep"]
    assert len(sweep.parameterizations) == 6 and sweep.seeds == tuple(range(20))
    assert len(sweep.learning_rates) == 14


def test_grid_expansion():
    assert learning_rate_grid({"logspace": [-3.0, 0.0, 4]}) == pytest.approx((1e-3, 1e-2, 1e-1, 1.0))
    assert learning_rate_grid([0.5, 0.1]) == (0.5, 0.1)
    assert seed_list(3) == (0, 1, 2)
    assert seed_list([4, 9]) == (4, 9)


def test_starts_are_deterministic_and_independent_of_the_other_seeds():
    init = {"mean": {"uniform": [-5.0, 5.0]}, "var": {"loguniform": [0.1, 10.0]}}
    both = initial_states(("mean", "var"), init, (0, 7))
    alone = initial_states(("mean", "var"), init, (7,))
    np.testing.assert_array_equal(both[1], alone[0])
    np.testing.assert_array_equal(both, initial_states(("mean", "var"), init, (0, 7)))
    assert (both[:, 1] >= 0.1).all() and (both[:, 1] <= 10.0).all()
    fixed_var = initial_states(("mean", "var"), {"mean": init["mean"], "var": 2.0}, (0, 7))
    np.testing.assert_array_equal(fixed_var[:, 0], both[:, 0])  # one coordinate's draw never shifts another's
    same_law = initial_states(
        ("mean", "var"), {"mean": {"uniform": [1.0, 2.0]}, "var": {"uniform": [1.0, 2.0]}}, tuple(range(50))
    )
    assert np.abs(np.corrcoef(same_law.T)[0, 1]) < 0.5  # coordinates are drawn independently


def mutate(path: str, value):
    """The default config with the value at a dotted path replaced (or deleted, for value=...)."""
    config = copy.deepcopy(default_config())
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return config


BAD_CONFIGS = [
    ("experiments.fig3_gaussian_vi.parameterizations", ["mean_var", "cholesky"], "cholesky"),
    ("experiments.fig3_gaussian_vi.methods", ["gd", "lbfgs"], "lbfgs"),
    ("experiments.fig3_gaussian_vi.methods", ["gd", "gd"], "duplicate"),
    ("experiments.fig3_gaussian_vi.learning_rates", [0.1, -0.5], "> 0"),
    ("experiments.fig3_gaussian_vi.learning_rates", [0.1, 0.0], "> 0"),
    ("experiments.fig3_gaussian_vi.learning_rates", [0.1, float("inf")], "finite"),
    ("experiments.fig3_gaussian_vi.learning_rates", [0.1, 0.1], "duplicate"),
    ("experiments.fig3_gaussian_vi.learning_rates", {"logspace": [-1.0, 0.0, 0]}, "empty"),
    ("experiments.fig3_gaussian_vi.seeds", [], "empty"),
    ("experiments.fig3_gaussian_vi.seeds", [1, 1], "duplicate"),
    ("experiments.fig3_gaussian_vi.steps", 10**9, "bound"),
    ("experiments.gaussian_1d_sweep.steps", 900_000, "GB of history"),
    ("experiments.fig3_gaussian_vi.init", {"mean": 0.0}, "missing var"),
    ("experiments.fig3_gaussian_vi.init", {"mean": 0.0, "var": 1.0, "std": 1.0}, "unknown std"),
    ("experiments.fig3_gaussian_vi.init", {"mean": 0.0, "var": -1.0}, "outside the target's domain"),
    ("experiments.fig3_gaussian_vi.init", {"mean": 0.0, "var": {"loguniform": [0.0, 1.0]}}, "> 0"),
    ("experiments.fig3_gaussian_vi.init", {"mean": {"uniform": [2.0, 1.0]}, "var": 1.0}, "low < high"),
    ("experiments.fig3_gaussian_vi.target", {"name": "gaussian_1d", "mean": 0.0, "var": -1.0}, "positive"),
    ("experiments.fig3_gaussian_vi.target", {"name": "rosenbrock"}, "unknown target"),
    ("tolerances", [1.0e-2, 1.0e-2, 1.0e-6], "decreasing"),
    ("tolerances", [1.0e-6, 1.0e-2], "decreasing"),
    ("figures.fig3_gaussian_vi.experiment", "no_such_experiment", "no experiment named"),
    ("figures.fig3_gaussian_vi.learning_rates", {"gd": 0.2}, "not in the learning-rate grid"),
    ("figures.fig3_gaussian_vi.learning_rates", {"adam": 0.1}, "method not run"),
    ("figures.fig3_gaussian_vi.seed", 3, "not a seed"),
    ("experiments.gaussian_1d_sweep.methods", ["gd", "newton"], "needs affine charts"),
    ("experiments.fig3_gaussian_vi.gradient", {"mc": 4}, "no gradient estimator 'mc'"),
    ("experiments.gaussian_nd_d100.gradient", "delta", "no gradient estimator 'delta'"),
    ("experiments.logistic_vi.tolerances", [1.0e-2, 1.0e-1], "decreasing"),
    ("experiments.logistic_vi.methods", ["gd", "em"], "'em' is not available"),
    ("experiments.gaussian_nd_d100.parameterizations", ["natural", "mean_var"], "mean_var"),
    ("experiments.gaussian_nd_d100.init", {"mean": 0.0, "var": -0.5}, "outside the target's domain"),
    ("experiments.gaussian_nd_d100.init", {"mean": 0.0}, "missing var"),
    ("experiments.gaussian_nd_d100.seeds", 10_000, "GB per step"),
    (
        "experiments.gaussian_nd_d100.target",
        {"name": "gaussian_nd", "dim": 4, "condition_number": 0.5},
        "≥ 1",
    ),
    ("figures.fig3_gaussian_vi.parameterization", "natural", "not run by experiment"),
]


@pytest.mark.parametrize("path,value,message", BAD_CONFIGS, ids=[f"{p}={v}" for p, v, _ in BAD_CONFIGS])
def test_bad_config_names_the_field(path, value, message):
    with pytest.raises(ConfigError) as excinfo:
        parse_config(mutate(path, value))
    lines = [line.strip() for line in str(excinfo.value).splitlines()[1:]]
    matching = [line for line in lines if message in line]
    assert matching, f"no line mentions {message!r}: {lines}"
    field = path if not path.startswith("experiments") else ".".join(path.split(".")[:3])
    assert any(line.startswith(field) for line in matching), lines


def test_names_that_would_escape_results_are_refused():
    config = default_config()
    config["experiments"]["../escape"] = config["experiments"].pop("gaussian_1d_sweep")
    with pytest.raises(ConfigError, match=r"experiments\.\.\./escape: name must match"):
        parse_config(config)


def test_every_problem_is_reported_at_once():
    config = mutate("tolerances", [1.0e-2, 1.0e-1])
    config["experiments"]["fig3_gaussian_vi"]["learning_rates"] = [-1.0]
    config["experiments"]["gaussian_1d_sweep"]["parameterizations"] = ["nope"]
    with pytest.raises(ConfigError) as excinfo:
        parse_config(config)
    message = str(excinfo.value)
    assert "tolerances:" in message
    assert "experiments.fig3_gaussian_vi.learning_rates" in message
    assert "experiments.gaussian_1d_sweep.parameterizations" in message


SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())

SCHEMA_VIOLATIONS = [
    (
        "experiments.fig3_gaussian_vi.learning_rates",
        ["1e-3"],
        "experiments.fig3_gaussian_vi.learning_rates.0",
        "1.0e-3",
    ),
    ("experiments.fig3_gaussian_vi.steps", -3, "experiments.fig3_gaussian_vi.steps", "minimum"),
    ("experiments.fig3_gaussian_vi.steps", 2.5, "experiments.fig3_gaussian_vi.steps", "integer"),
    (
        "experiments.fig3_gaussian_vi.steps",
        ...,
        "experiments.fig3_gaussian_vi",
        "'steps' is a required property",
    ),
    ("experiments.fig3_gaussian_vi.learnign_rates", [0.1], "experiments.fig3_gaussian_vi", "learnign_rates"),
    ("experiments.fig3_gaussian_vi.seeds", 0, "experiments.fig3_gaussian_vi.seeds", "minimum"),
    (
        "experiments.fig3_gaussian_vi.init",
        {"mean": 0.0, "var": {"loguniform": [1.0]}},
        "experiments.fig3_gaussian_vi.init.var.loguniform",
        "too short",
    ),
    (
        "experiments.fig3_gaussian_vi.target",
        {"name": "gaussian_1d", "mean": 0.0},
        "experiments.fig3_gaussian_vi.target",
        "'var' is a required property",
    ),
    ("tolerances", [], "tolerances", "should be non-empty"),
    ("figures.fig3_gaussian_vi.seed", -1, "figures.fig3_gaussian_vi.seed", "minimum"),
]


def test_default_config_satisfies_the_schema():
    assert check_config(default_config(), SCHEMA).experiments


@pytest.mark.parametrize("path,value,field,message", SCHEMA_VIOLATIONS, ids=[v[0] for v in SCHEMA_VIOLATIONS])
def test_schema_violations_name_the_field(path, value, field, message):
    with pytest.raises(ConfigError) as excinfo:
        check_config(mutate(path, value), SCHEMA)
    lines = [line.strip() for line in str(excinfo.value).splitlines()[1:]]
    assert any(line.startswith(field + ":") and message in line for line in lines), lines


def test_readme_headline_table_is_the_regenerated_one():
    import re

    readme = (REPO / "README.md").read_text()
    match = re.search(r"<!-- headline-table: (\S+) -->\n(.*?)<!-- /headline-table -->", readme, flags=re.S)
    assert match, "README.md has no headline-table block"
    assert match.group(2) == (REPO / match.group(1)).read_text()
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme):
        assert (REPO / image).is_file(), image
