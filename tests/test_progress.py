"""Progress of a solver job where the user looks: a line per method with runs, steps and time left."""

from __future__ import annotations

import re

from ngbench.solve import solve_chart

PARAMS = {
    "experiment": "progress",
    "target": {"name": "gaussian_1d", "mean": 3.0, "var": 1.0},
    "init": {"mean": -2.0, "var": 2.718281828459045},
    "parameterization": "mean_std",
    "methods": ["gd", "ngd", "adam"],
    "learning_rates": [0.1, 5.0],
    "seeds": [0, 1, 2],
    "steps": 30,
    "divergence_factor": 1e8,
    "tolerances": [1e-2, 1e-8],
}


def test_a_solver_job_reports_each_method_as_it_finishes():
    lines = []
    solved = solve_chart(PARAMS, progress=lines.append)
    assert len(lines) == 3 == len(solved.cells)
    pattern = (
        r"ngbench: progress/mean_std: (\w+) done \(6 runs x 30 steps, [0-9.]+ s\); "
        r"(\d) of 3 methods in [0-9.]+ s(, about \d+ s left)?"
    )
    matches = [re.fullmatch(pattern, line) for line in lines]
    assert all(matches), lines
    assert [m.group(1) for m in matches] == ["gd", "ngd", "adam"]
    assert [m.group(2) for m in matches] == ["1", "2", "3"]
    # A time left while methods remain, none after the last.
    assert [bool(m.group(3)) for m in matches] == [True, True, False]


class FakeClock:
    """A clock that moves `tick` seconds each time it is read: no test here waits or times anything."""

    def __init__(self, tick: float):
        self.now, self.tick, self.readings = 0.0, tick, []

    def __call__(self) -> float:
        self.now += self.tick
        self.readings.append(self.now)
        return self.now


def test_the_runner_reports_steps_taken_and_runs_still_going():
    from ngbench.experiments import method_params
    from ngbench.solve import _solve, _target_of

    calls = []
    cell = method_params({**PARAMS, "methods": ["gd"]}, "gd")
    solved = _solve(_target_of(cell, None), cell, lambda step, active: calls.append((step, active)))
    steps = [step for step, _ in calls]
    assert steps == list(range(1, len(steps) + 1)) and steps[-1] <= PARAMS["steps"]
    # Before iteration t, the runs still going are those that stopped at t or later.
    stop_iter = solved.result.stop_iter
    assert [active for _, active in calls] == [int((stop_iter >= step).sum()) for step in steps]
    assert calls[0][1] > calls[-1][1]  # lr 5.0 diverges: some runs stop early, and the count says so


def test_a_long_method_reports_its_steps_at_most_every_interval():
    from ngbench.solve import PROGRESS_INTERVAL

    lines = []
    # 3 s a reading: a method of 30 steps reads the clock ~30 times, ~90 s, so a step line every
    # fourth step or so.
    clock = FakeClock(tick=3.0)
    solve_chart(PARAMS, progress=lines.append, clock=clock)
    pattern = (
        r"ngbench: progress/mean_std: (\w+) step (\d+) of 30, (\d) of 6 runs stopped; "
        r"(\d+) s in, about (\d+) s left for \1"
    )
    step_lines = [re.fullmatch(pattern, line) for line in lines if " step " in line]
    assert step_lines and all(step_lines), lines
    # The method's done line still follows its step lines, in the registry's order.
    done = [line.split(": ")[2].split()[0] for line in lines if " done " in line]
    assert done == ["gd", "ngd", "adam"]
    for method in ("gd", "ngd", "adam"):
        mine = [m for m in step_lines if m.group(1) == method]
        steps = [int(m.group(2)) for m in mine]
        assert steps == sorted(set(steps)), steps
        elapsed = [int(m.group(4)) for m in mine]
        assert all(b - a >= PROGRESS_INTERVAL for a, b in zip(elapsed, elapsed[1:], strict=False)), elapsed
        # The time left is the time per step so far times the steps to go.
        for m in mine:
            step, seconds, left = int(m.group(2)), int(m.group(4)), int(m.group(5))
            assert abs(left - seconds / step * (30 - step)) <= 0.5 + 1.0 * (30 - step) / step


def test_a_quick_method_prints_no_step_line():
    lines = []
    solve_chart(PARAMS, progress=lines.append, clock=FakeClock(tick=1e-3))
    assert len(lines) == 3 and not any(" step " in line for line in lines)
