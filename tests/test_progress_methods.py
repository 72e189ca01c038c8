"""Each step line of a solver job's progress names the method it is about; a comparison without
pairs has no attainable p."""

from __future__ import annotations

import math
import re

from ngbench.inference import min_attainable_p
from ngbench.solve import solve_chart
from tests.test_progress import PARAMS, FakeClock


def test_every_method_reports_its_own_steps():
    lines = []
    solve_chart(PARAMS, progress=lines.append, clock=FakeClock(tick=3.0))
    step = re.compile(r"ngbench: progress/mean_std: (\w+) step \d+ of 30, .* s left for (\w+)")
    named = [step.fullmatch(line).groups() for line in lines if " step " in line]
    assert all(where == left_for for where, left_for in named)
    assert {where for where, _ in named} == {"gd", "ngd", "adam"}


def test_no_pairs_have_no_attainable_p():
    assert math.isnan(min_attainable_p(0))
    assert min_attainable_p(1) == 1.0
