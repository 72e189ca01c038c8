"""The config checks against small schemas and rows of their own: which field an error names, which
errors one figure row reports, defaults filled only when asked, the YAML hint only where it helps,
and the seed-parity warning (issue 19: mutants these tests kill)."""

from __future__ import annotations

import copy
import re

import pytest

from ngbench.experiments import ConfigError, parse_config, power_warnings, schema_problems
from tests.test_config import default_config, mutate

SCHEMA = {
    "type": "object",
    "properties": {
        "lr": {"type": "number"},
        "name": {"type": "string"},
        "steps": {"type": "integer", "default": 100},
    },
    "patternProperties": {"^x_": {}},
    "additionalProperties": False,
}


def test_defaults_are_filled_only_when_asked():
    config = {"lr": 0.1}
    assert schema_problems(config, SCHEMA) == []
    assert config == {"lr": 0.1}  # a check alone leaves the config as written
    assert schema_problems(config, SCHEMA, fill_defaults=True) == []
    assert config == {"lr": 0.1, "steps": 100}


def test_the_yaml_hint_comes_only_with_a_number_written_as_a_string():
    (numeric,) = schema_problems({"lr": "1e-3"}, SCHEMA)
    assert numeric.startswith("lr: ") and "1.0e-3" in numeric
    for config, field in (({"lr": "fast"}, "lr"), ({"name": 3}, "name"), ({"steps": 1.5}, "steps")):
        (problem,) = schema_problems(config, SCHEMA)
        assert problem.startswith(field + ": ") and "YAML" not in problem, problem


def test_a_wrong_top_level_value_is_named_config():
    (problem,) = schema_problems([1, 2], SCHEMA)
    assert problem.startswith("config: ")


def test_an_unknown_key_is_named_and_pattern_keys_are_not():
    problems = schema_problems({"lr": 0.1, "x_note": "fine", "lrr": 0.2}, SCHEMA)
    assert [problem.split(":")[0] for problem in problems] == ["lrr"]


def _figure_errors(learning_rates):
    config = mutate("figures.fig1_quadratic.learning_rates", learning_rates)
    with pytest.raises(ConfigError) as excinfo:
        parse_config(config)
    return [line.strip() for line in str(excinfo.value).splitlines()[1:]]


def test_every_bad_learning_rate_of_a_figure_is_reported():
    lines = _figure_errors({"adam": 0.1, "gd": 0.123, "ngd": 1.0})
    fields = {line.split(": ")[0] for line in lines}
    assert {
        "figures.fig1_quadratic.learning_rates.adam",
        "figures.fig1_quadratic.learning_rates.gd",
    } <= fields


def test_a_figure_takes_the_grid_value_its_learning_rate_rounds_to_and_its_name_as_default_title():
    config = copy.deepcopy(default_config())
    row = config["figures"]["fig1_quadratic"]
    row["learning_rates"] = {"gd": 0.15 * (1 + 1e-12), "ngd": 1.0}
    del row["title"]
    figure = parse_config(config).figures["fig1_quadratic"]
    assert figure.learning_rates == {"gd": 0.15, "ngd": 1.0}
    assert figure.title == "fig1_quadratic"


@pytest.mark.parametrize(("seeds", "parity"), [([0, 2, 4, 6], "even"), ([1, 3, 5, 7], "odd")])
def test_the_parity_warning_names_the_parity_all_seeds_share(seeds, parity):
    experiment = parse_config(mutate("experiments.gaussian_1d_sweep.seeds", seeds)).experiments[
        "gaussian_1d_sweep"
    ]
    (warning,) = [w for w in power_warnings(experiment) if "every seed is" in w]
    assert warning.startswith("experiments.gaussian_1d_sweep.seeds: ")
    assert f"every seed is {parity};" in warning


def test_an_unknown_start_coordinate_is_named_with_the_coordinates_the_target_needs():
    init = {"mean": 0.0, "var": 1.0, "mu": 0.0}
    with pytest.raises(ConfigError) as excinfo:
        parse_config(mutate("experiments.gaussian_1d_sweep.init", init))
    (line,) = [line.strip() for line in str(excinfo.value).splitlines() if ".init.mu:" in line]
    assert line.startswith("experiments.gaussian_1d_sweep.init.mu: ")
    needed = re.search(r"needs exactly ([^)]*)\)", line).group(1)
    assert re.findall(r"\w+", needed) == ["mean", "var"]  # the names to write, each a word of its own
