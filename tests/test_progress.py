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
