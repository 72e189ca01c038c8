"""The conformance suite (issue 14 §4): every registered target × chart × curvature × method gets the
checks of `python -m ngbench.check`, generated from the registries, so a target is tested the day it is
registered (its small instance comes from `tests/test_faults.py::SMALL_TARGETS`, which a registration
without one fails).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from ngbench import check
from ngbench.targets import TARGETS, make_target
from tests.test_faults import SMALL_TARGETS

# (target, kind of check) that take seconds: logistic_vi's short runs (a reference solve, steps over
# 569 data × 31 dimensions) and its closed forms (Monte Carlo over 20 000 draws of q in 31 dimensions).
SLOW = {("logistic_vi", "method"), ("logistic_vi", "closed_form")}
RUN_SETTINGS = {"logistic_vi": (1e-6, 3)}  # (learning rate, steps) of the short runs


def _marks(name: str, kind: str):
    return [pytest.mark.slow] if (name, kind) in SLOW else []


@cache
def _target(name: str):
    return make_target(SMALL_TARGETS[name][0])


@cache
def _points(name: str) -> np.ndarray:
    return _target(name).initial_states(SMALL_TARGETS[name][1], check.CHECK_SEEDS)


def _rng():
    return np.random.default_rng(20261201)


def _assert_passed(verdicts):
    failed = [v.line() for v in verdicts if v.passed is False]
    assert not failed, "\n".join(failed)


def _params(kind: str):
    for name in sorted(TARGETS):
        target = make_target(SMALL_TARGETS[name][0])
        methods, curvatures = check.supported(target)
        if kind == "target":
            yield pytest.param(name, marks=_marks(name, kind), id=name)
        elif kind in ("chart", "closed_form"):
            for chart in sorted(target.charts):
                yield pytest.param(name, chart, marks=_marks(name, kind), id=f"{name}-{chart}")
        elif kind == "curvature":
            for curvature in curvatures:
                yield pytest.param(name, curvature, marks=_marks(name, kind), id=f"{name}-{curvature}")
        elif kind == "method":
            for chart in sorted(target.charts):
                for method in methods:
                    yield pytest.param(
                        name, chart, method, marks=_marks(name, kind), id=f"{name}-{chart}-{method}"
                    )


@pytest.mark.parametrize("name", list(_params("target")))
def test_gradient_against_finite_differences(name):
    _assert_passed([check.check_gradient(_target(name), _points(name), _rng())])


@pytest.mark.parametrize(("name", "chart"), list(_params("chart")))
def test_chart_round_trip_and_pulled_back_gradient(name, chart):
    target = _target(name)
    _assert_passed(check.check_chart(target, chart, target.charts[chart], _points(name), _rng()))


@pytest.mark.parametrize(("name", "curvature"), list(_params("curvature")))
def test_curvature_symmetric_psd_and_against_an_independent_computation(name, curvature):
    _assert_passed(check.check_curvature(_target(name), curvature, _points(name), _rng()))


@pytest.mark.parametrize(("name", "chart"), list(_params("closed_form")))
def test_closed_form_natural_gradient_against_the_generic_solve(name, chart):
    target = _target(name)
    _assert_passed([check.check_closed_form(target, chart, target.charts[chart], _points(name), _rng())])


@cache
def _referenced(name: str):
    target = make_target(SMALL_TARGETS[name][0])
    if target.needs_reference:
        target.with_reference(target.reference_solution())
    return target


@pytest.mark.parametrize(("name", "chart", "method"), list(_params("method")))
def test_a_short_run_of_every_method_fails_no_run(name, chart, method):
    learning_rate, steps = RUN_SETTINGS.get(name, (1e-3, 5))
    verdict = check.check_run(
        _referenced(name), chart, method, _points(name), check.CHECK_SEEDS, learning_rate, steps
    )
    _assert_passed([verdict])


def test_the_suite_covers_every_registered_target_and_something_of_each():
    """No target slips through with every check skipped: each has a gradient and a chart checked."""
    assert set(SMALL_TARGETS) == set(TARGETS)
    for name in TARGETS:
        target = _target(name)
        assert target.charts and check.supported(target)[0]


def test_a_wrong_closed_form_is_caught_without_a_fisher_matrix():
    """The Gaussian charts' closed forms have no generic solve to meet (their Fisher is never formed):
    the Monte Carlo check of wᵀFn = wᵀ∇ℒ must still see a natural gradient with its matrix block
    doubled (the vech doubling of docs/maths.md §0 applied twice, say)."""
    target = make_target(SMALL_TARGETS["gaussian_nd"][0])
    chart = target.charts["mean_chol"]
    right = chart.natural_gradient

    def wrong(theta, canonical, grad_canonical, fisher):
        direction = right(theta, canonical, grad_canonical, fisher).copy()
        direction[:, target.dim :] *= 2.0
        return direction

    assert check.check_closed_form(target, "mean_chol", chart, _points("gaussian_nd"), _rng()).passed
    chart.natural_gradient = wrong  # this instance only: the target was built for this test
    verdict = check.check_closed_form(target, "mean_chol", chart, _points("gaussian_nd"), _rng())
    assert verdict.passed is False and verdict.error > 2 * check.MONTE_CARLO_Z
