"""Faults in what the runner records of an iterate (its loss, its domain, what it observes): the runs
at fault stop there as `failed` or `invalid` without a row at that iterate, every other run keeps
exactly the rows it has without them. Each expectation is read off the same runs on the plain target,
which never raises."""

from __future__ import annotations

import numpy as np

from ngbench.methods import METHODS
from ngbench.runner import run_batch
from ngbench.targets import make_target

QUADRATIC = {"name": "quadratic", "eigenvalues": [1.0, 100.0], "angle_degrees": 20.0, "optimum": [0.0, 0.0]}
RADIUS = 50.0
STEPS = 30
# GD on eigenvalue 100: at lr 0.005 every run shrinks; at 0.03 (2/λ_max = 0.02) it grows by |1 − 100ρ| = 2
# a step, flipping sign, so it passes RADIUS within a few steps.
CALM, WILD = 0.005, 0.03


class _Faulty:
    """The quadratic, except beyond RADIUS: where `raises` says so its loss raises (as `math.sqrt` of a
    negative number would), where `outside` says so the state leaves the target's domain, and where
    `unobservable` says so `observe` raises while its loss stays finite."""

    def __init__(self, raises=None, outside=None, unobservable=None):
        self.inner = make_target(QUADRATIC)
        self.raises, self.outside, self.unobservable = raises, outside, unobservable

    def __getattr__(self, name):
        return getattr(self.inner, name)

    @staticmethod
    def _far(canonical, side):
        return (np.linalg.norm(canonical, axis=1) > RADIUS) & side(canonical)

    def loss_at(self, chart, theta, canonical):
        if self.raises is not None and self._far(canonical, self.raises).any():
            raise ValueError("math domain error")
        return self.inner.loss_at(chart, theta, canonical)

    def in_domain(self, canonical):
        inside = self.inner.in_domain(canonical)
        return inside if self.outside is None else inside & ~self._far(canonical, self.outside)

    def observe(self, canonical, chart):
        if self.unobservable is not None and self._far(canonical, self.unobservable).any():
            raise np.linalg.LinAlgError("cannot observe")
        return self.inner.observe(canonical, chart)


def everywhere(canonical):
    return np.ones(canonical.shape[0], dtype=bool)


def first_coordinate_positive(canonical):
    return canonical[:, 0] > 0


def first_coordinate_negative(canonical):
    return canonical[:, 0] < 0


def _run(target, start, lr):
    chart = target.inner.chart("identity") if isinstance(target, _Faulty) else target.chart("identity")
    return run_batch(target, chart, METHODS["gd"], np.array(start), np.array(lr), STEPS, converged_gap=1e-8)


def _first_beyond_radius(plain, run: int) -> int:
    """The first iterate of a run of the plain target whose state lies beyond RADIUS."""
    beyond = np.linalg.norm(plain.states[:, run], axis=1) > RADIUS
    assert beyond.any(), "the wild run must pass the radius within the budget"
    return int(beyond.argmax())


def _assert_stops_at(result, plain, run: int, status: str, stop: int):
    """The run ends with `status` at `stop`, with the plain run's rows before it and none from it on."""
    assert result.status[run] == status
    assert result.stop_iter[run] == stop
    np.testing.assert_array_equal(result.loss[:stop, run], plain.loss[:stop, run])
    np.testing.assert_array_equal(result.states[:stop, run], plain.states[:stop, run])
    assert not result.recorded[stop:, run].any()


def test_a_loss_that_raises_for_every_run_at_once_fails_them_all_there():
    """Two wild runs from one start pass the radius at the same iterate: every run's loss raises, so
    the runner has nothing to record there; both are `failed` at that iterate, with their earlier rows."""
    start, lr = [[3.0, -4.0], [3.0, -4.0]], [WILD, WILD]
    plain = _run(make_target(QUADRATIC), start, lr)
    stop = _first_beyond_radius(plain, 0)
    assert 0 < stop < STEPS
    result = _run(_Faulty(raises=everywhere), start, lr)
    for run in (0, 1):
        _assert_stops_at(result, plain, run, "failed", stop)
    assert result.first_fault == "ValueError: math domain error"


def test_a_run_that_leaves_the_domain_as_another_raises_is_invalid_without_a_row_there():
    """Mirror-image wild runs pass the radius at the same iterate on opposite sides: there one's loss
    raises (`failed`), the other leaves the domain (`invalid`); neither has a row at that iterate, and
    a calm run in the same batch keeps every row it has alone."""
    start, lr = [[3.0, -4.0], [-3.0, 4.0], [3.0, -4.0]], [WILD, WILD, CALM]
    plain = _run(make_target(QUADRATIC), start, lr)
    stop = _first_beyond_radius(plain, 0)
    assert _first_beyond_radius(plain, 1) == stop
    faulty = _Faulty(raises=first_coordinate_positive, outside=first_coordinate_negative)
    result = _run(faulty, start, lr)
    at_positive = 0 if plain.states[stop, 0, 0] > 0 else 1
    _assert_stops_at(result, plain, at_positive, "failed", stop)
    _assert_stops_at(result, plain, 1 - at_positive, "invalid", stop)
    assert result.status[2] == plain.status[2]
    np.testing.assert_array_equal(result.loss[:, 2], plain.loss[:, 2])
    np.testing.assert_array_equal(result.states[:, 2], plain.states[:, 2])


def test_a_run_that_cannot_be_observed_fails_there_and_the_others_keep_their_observations():
    """A wild run whose state can no longer be observed (its loss still finite) ends as `failed` at
    that iterate; the calm run beside it keeps every observation, that iterate's included."""
    start, lr = [[3.0, -4.0], [3.0, -4.0]], [CALM, WILD]
    plain = _run(make_target(QUADRATIC), start, lr)
    stop = _first_beyond_radius(plain, 1)
    assert 0 < stop < STEPS
    result = _run(_Faulty(unobservable=everywhere), start, lr)
    _assert_stops_at(result, plain, 1, "failed", stop)
    assert result.status[0] == plain.status[0]
    np.testing.assert_array_equal(result.loss[:, 0], plain.loss[:, 0])
    np.testing.assert_array_equal(result.states[:, 0], plain.states[:, 0])
    assert result.first_fault == "LinAlgError: cannot observe"


def test_when_no_run_can_be_observed_they_all_fail_there():
    start, lr = [[3.0, -4.0], [3.0, -4.0]], [WILD, WILD]
    plain = _run(make_target(QUADRATIC), start, lr)
    stop = _first_beyond_radius(plain, 0)
    result = _run(_Faulty(unobservable=everywhere), start, lr)
    for run in (0, 1):
        _assert_stops_at(result, plain, run, "failed", stop)
