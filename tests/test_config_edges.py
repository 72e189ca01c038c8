"""Config checks at their edges: starts outside a domain that is not a box, the memory bound of a
cell's history, and the tuning rule a row inherits from the config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ngbench.experiments import MAX_CELL_HISTORY_BYTES, ConfigError, check_config, parse_config
from ngbench.targets import make_target
from tests.test_config import mutate
from tests.test_plugins import QUADRATIC_FIELDS, SCHEMA

REPO = Path(__file__).resolve().parents[1]
DISK = "tests/plugins/disk_domain.py:DiskDomain"


def _problems(rows: dict) -> list[str]:
    try:
        check_config({"tolerances": [1e-2], "experiments": rows}, SCHEMA)
    except ConfigError as error:
        return [line.strip() for line in str(error).splitlines()[1:]]
    return []


def _row(target: dict, init: dict, seeds: int = 8, steps: int = 10, learning_rates=(0.1,)) -> dict:
    return {
        "target": target,
        "init": init,
        "parameterizations": ["identity"],
        "methods": ["gd"],
        "learning_rates": list(learning_rates),
        "seeds": seeds,
        "steps": steps,
    }


def test_starts_outside_a_domain_that_is_not_a_box_are_counted_with_the_first_seed(monkeypatch):
    monkeypatch.chdir(REPO)  # plugin paths are relative to the working directory
    target, init = {"plugin": DISK, **QUADRATIC_FIELDS}, {"theta_0": {"uniform": [-3.0, 3.0]}, "theta_1": 0.5}
    seeds = tuple(range(8))
    starts = make_target(target).initial_states(init, seeds)
    outside = np.linalg.norm(starts, axis=1) >= 2.0  # the disk of tests/plugins/disk_domain.py
    assert 0 < outside.sum() < len(seeds)
    (problem,) = _problems({"mine": _row(target, init)})
    first = seeds[int(np.flatnonzero(outside)[0])]
    assert problem == (
        f"experiments.mine.init: {int(outside.sum())} of 8 starts lie outside the target's domain "
        f"(first at seed {first})"
    )
    # Inside the disk, the same row is accepted.
    assert _problems({"mine": _row(target, {"theta_0": {"uniform": [-1.0, 1.0]}, "theta_1": 0.5})}) == []


def test_a_drawn_start_outside_the_domain_counts_the_starts_it_lets_out():
    init = {"mean": 0.0, "var": {"uniform": [-1.0, 3.0]}}
    seeds = tuple(range(10))
    draws = make_target({"name": "gaussian_1d", "mean": 1.0, "var": 2.0}).initial_states(init, seeds)[:, 1]
    assert 0 < (draws <= 0).sum() < len(seeds)
    (problem,) = _problems(
        {
            "mine": {
                **_row({"name": "gaussian_1d", "mean": 1.0, "var": 2.0}, init, 10),
                "parameterizations": ["mean_var"],
            }
        }
    )
    assert problem.startswith("experiments.mine.init.var.uniform.0: -1.0 lets seed ")
    assert f"outside the target's domain ({int((draws <= 0).sum())} of 10 starts)" in problem


def _history_bytes_per_step(target: dict, runs: int) -> int:
    """What a cell keeps per iterate: the loss and each observed column of every run, as 8-byte floats."""
    return runs * (1 + len(make_target(target).observed_columns)) * 8


def test_the_history_bound_admits_the_longest_cell_that_fits_and_no_longer():
    target = {"name": "gaussian_1d", "mean": 1.0, "var": 2.0}
    runs = 1000
    longest = MAX_CELL_HISTORY_BYTES // _history_bytes_per_step(target, runs) - 1  # steps + 1 iterates
    row = {
        **_row(target, {"mean": 0.0, "var": 1.0}, seeds=runs, steps=longest),
        "parameterizations": ["mean_var"],
    }
    assert not [p for p in _problems({"mine": row}) if "history" in p]
    (problem,) = [p for p in _problems({"mine": {**row, "steps": longest + 1}}) if "history" in p]
    assert problem.startswith(
        f"experiments.mine.steps: {longest + 1} steps × {runs} runs per cell need 4.0 GB"
    )


@pytest.mark.parametrize("rule", ["success_first", "art"])
def test_a_row_without_a_tuning_rule_takes_the_configs(rule):
    config = mutate("tuning_rule", rule)
    plan = parse_config(config)
    own = {name for name, row in config["experiments"].items() if "tuning_rule" in row}
    assert {e.tuning_rule for name, e in plan.experiments.items() if name not in own} == {rule}


def test_a_row_problem_opens_the_error_with_the_line_saying_the_config_is_invalid():
    """The headline a user reads first above the field lines, for a problem the schema cannot see
    (a learning rate listed twice in a row's grid)."""
    from tests.test_config import FIG3

    with pytest.raises(ConfigError) as excinfo:
        check_config(mutate(f"{FIG3}.learning_rates", [0.1, 0.2, 0.1]), SCHEMA)
    headline, *fields = str(excinfo.value).splitlines()
    assert headline == "invalid config:"
    assert fields == [f"  {FIG3}.learning_rates.2: duplicate learning rate 0.1"]
