"""Method settings and variant names: the checks a config row's hyperparameters pass, and the names
that carry a variant through job params, tables and figures (issue 19: mutants these tests kill)."""

from __future__ import annotations

import math

import pytest

from ngbench.methods import (
    REGISTRY,
    SCHEDULE_FIELDS,
    TRANSFORMS,
    Hyperparameter,
    available_methods,
    make_method,
    method_named,
    method_specification_problems,
    schedule_problems,
    styles,
)
from ngbench.targets import make_target


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_setting_is_refused_even_where_the_interval_is_unbounded(value):
    assert Hyperparameter(1.0).problem(value) is not None
    assert Hyperparameter(0.5, 0.0, 1.0).problem(value) is not None


def test_a_closed_bound_admits_the_bound_itself_and_an_open_one_does_not():
    closed, open_ = Hyperparameter(0.5, 0.0, 1.0), Hyperparameter(0.5, 0.0, 1.0, low_open=True)
    assert closed.problem(0.0) is None  # heavy ball with β = 0 is plain gradient descent
    assert open_.problem(0.0) is not None
    assert closed.problem(1.0) is not None  # high_open by default
    assert closed.problem(-1e-12) is not None


def test_every_default_setting_lies_in_its_own_interval():
    """A default the checks refuse would make the method without settings an invalid config."""
    fields = [field for _, settings in TRANSFORMS.values() for field in settings.values()]
    fields += [field for part in SCHEDULE_FIELDS.values() for field in part.values()]
    assert fields
    for field in fields:
        assert field.problem(field.default) is None, field


def test_an_unknown_schedule_setting_is_named_by_its_dotted_field():
    problems = schedule_problems({"decay": {"tau": 10, "kapa": 0.5}})
    assert [field for field, _ in problems] == ["decay.kapa"]
    assert "kappa" in problems[0][1]  # the message lists the known settings


@pytest.mark.parametrize(
    "schedule",
    [
        {"warmup": {"steps": 10}},
        {"decay": {"tau": 10, "kappa": 0.6}, "warmup": {"steps": 5}},
        {"decay": {"tau": 2.5, "kappa": 1}, "warmup": {"steps": 3}, "average": True},
        {"average": True},
    ],
)
def test_a_variant_name_rebuilds_the_same_schedule(schedule):
    method = make_method({"ngd": {"schedule": schedule}})
    rebuilt = method_named(method.name)
    assert rebuilt == method
    assert rebuilt.schedule.warmup_steps == schedule.get("warmup", {}).get("steps", 0)
    assert rebuilt.schedule.average == schedule.get("average", False)
    assert (rebuilt.schedule.decay_tau is None) == ("decay" not in schedule)
    for part in ("decay", "warmup", "average"):
        assert (part in method.name) == (part in schedule)


def test_registered_methods_are_told_apart_by_colour():
    drawn = styles(list(REGISTRY))
    colours = [style["color"] for style in drawn.values()]
    assert len(set(colours)) == len(colours)


def test_available_methods_are_those_whose_curvature_the_target_offers():
    quadratic = {
        "name": "quadratic",
        "eigenvalues": [1.0, 10.0],
        "angle_degrees": 30.0,
        "optimum": [1.0, 0.5],
    }
    target = make_target(quadratic)
    available = available_methods(target)
    assert {"gd", "ngd"} <= set(available)
    assert all(REGISTRY[name].preconditioner in target.curvatures for name in available)
    unoffered = {name for name, method in REGISTRY.items() if method.preconditioner not in target.curvatures}
    assert unoffered and not unoffered & set(available)


def test_a_bad_setting_and_a_bad_schedule_of_one_entry_are_both_reported():
    entry = {"adam": {"beta1": 2.0, "schedule": {"warmup": {"steps": 0}}}}
    fields = {field for field, _ in method_specification_problems(entry)}
    assert {"beta1", "schedule.warmup.steps"} <= fields
