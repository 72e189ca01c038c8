"""The baseline a user would otherwise write: the blog's loop, one trajectory at a time, in Python floats.

Runs the same gaussian_1d grid as the pipeline (same starts, charts, methods, statuses and rows),
collects every row in Python lists (or, for a row with `thin: N`, the same log-spaced ones the
pipeline keeps) and writes one parquet file. Used by run_benchmark.py only.

    python benchmarks/blog_loop.py CONFIG OUTPUT.parquet
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd
import yaml

# This checkout's library, whatever is installed: a benchmark of a clone measures that clone.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ngbench.experiments import parse_config
from ngbench.solve import thinned_iterations
from ngbench.starts import initial_states


def chart_rules(a: float, s2: float):
    """Per chart (docs/maths.md §1.1): to canonical, from canonical, in domain, gradient, natural gradient."""

    def grads(m, v):
        return (m - a) / s2, 0.5 * (1.0 / s2 - 1.0 / v)

    def mean_var():
        def step(t1, t2, natural):
            gm, gv = grads(t1, t2)
            return (t2 * gm, 2 * t2 * t2 * gv) if natural else (gm, gv)

        return (lambda t1, t2: (t1, t2)), (lambda m, v: (m, v)), (lambda t1, t2: t2 > 0), step

    def mean_std():
        def step(t1, t2, natural):
            gm, gv = grads(t1, t2 * t2)
            return (t2 * t2 * gm, t2**3 * gv) if natural else (gm, 2 * t2 * gv)

        return (lambda t1, t2: (t1, t2 * t2)), (lambda m, v: (m, math.sqrt(v))), (lambda t1, t2: t2 > 0), step

    def mean_logstd():
        def step(t1, t2, natural):
            v = math.exp(2 * t2)
            gm, gv = grads(t1, v)
            return (v * gm, v * gv) if natural else (gm, 2 * v * gv)

        return (
            (lambda t1, t2: (t1, math.exp(2 * t2))),
            (lambda m, v: (m, 0.5 * math.log(v))),
            (lambda *_: True),
            step,
        )

    def mean_logvar():
        def step(t1, t2, natural):
            v = math.exp(t2)
            gm, gv = grads(t1, v)
            return (v * gm, 2 * v * gv) if natural else (gm, v * gv)

        return (lambda t1, t2: (t1, math.exp(t2))), (lambda m, v: (m, math.log(v))), (lambda *_: True), step

    def natural():
        def canonical(t1, t2):
            v = -0.5 / t2
            return t1 * v, v

        def step(t1, t2, natural_step):
            m, v = canonical(t1, t2)
            gm, gv = grads(m, v)
            return (gm - 2 * m * gv, gv) if natural_step else (v * gm, 2 * m * v * gm + 2 * v * v * gv)

        return canonical, (lambda m, v: (m / v, -0.5 / v)), (lambda t1, t2: t2 < 0), step

    def expectation():
        def step(t1, t2, natural_step):
            m, v = t1, t2 - t1 * t1
            gm, gv = grads(m, v)
            return (v * gm, 2 * m * v * gm + 2 * v * v * gv) if natural_step else (gm - 2 * m * gv, gv)

        return (
            (lambda t1, t2: (t1, t2 - t1 * t1)),
            (lambda m, v: (m, m * m + v)),
            (lambda t1, t2: t2 > t1 * t1),
            step,
        )

    return {f.__name__: f() for f in (mean_var, mean_std, mean_logstd, mean_logvar, natural, expectation)}


def run(config: dict, output: Path) -> int:
    plan = parse_config(config)
    columns = {
        k: []
        for k in (
            "experiment",
            "parameterization",
            "method",
            "lr",
            "seed",
            "iter",
            "loss",
            "gap",
            "status",
            "mean",
            "var",
        )
    }
    for experiment in plan.experiments.values():
        a, s2 = experiment.target["mean"], experiment.target["var"]
        starts = initial_states(("mean", "var"), experiment.init, experiment.seeds)
        rules = chart_rules(a, s2)
        kept = thinned_iterations(experiment.steps, experiment.thin)
        for chart, method in experiment.cells():
            to_canonical, from_canonical, in_domain, direction = rules[chart]
            for lr in experiment.learning_rates:
                for seed, (m0, v0) in zip(experiment.seeds, starts, strict=True):
                    rows = []
                    status = "budget"
                    t1, t2 = from_canonical(m0, v0)
                    limit = None
                    for it in range(experiment.steps + 1):
                        try:
                            if not in_domain(t1, t2):
                                status = "invalid"
                                break
                            m, v = to_canonical(t1, t2)
                            r = v / s2
                            loss = 0.5 * ((r - 1) - math.log(r)) + (m - a) ** 2 / (2 * s2)
                        except (OverflowError, ValueError, ZeroDivisionError):
                            status = "diverged"
                            break
                        if not math.isfinite(loss):
                            status = "diverged"
                            break
                        limit = experiment.divergence_factor * max(1.0, loss) if limit is None else limit
                        rows.append((it, loss, m, v))
                        if loss > limit:
                            status = "diverged"
                            break
                        if it == experiment.steps:
                            break
                        try:
                            d1, d2 = direction(t1, t2, method == "ngd")
                        except (OverflowError, ZeroDivisionError):
                            status = "diverged"
                            break
                        t1, t2 = t1 - lr * d1, t2 - lr * d2
                    reached = any(loss <= experiment.main_tolerance for _, loss, _, _ in rows)
                    if status == "budget" and reached:
                        status = "converged"
                    if experiment.thin is not None:
                        rows = [row for row in rows[:-1] if kept[row[0]]] + rows[-1:]
                    for it, loss, m, v in rows:
                        columns["experiment"].append(experiment.name)
                        columns["parameterization"].append(chart)
                        columns["method"].append(method)
                        columns["lr"].append(lr)
                        columns["seed"].append(seed)
                        columns["iter"].append(it)
                        columns["loss"].append(loss)
                        columns["gap"].append(loss)
                        columns["status"].append(status)
                        columns["mean"].append(m)
                        columns["var"].append(v)
    frame = pd.DataFrame(columns)
    frame.to_parquet(output, index=False)
    return len(frame)


if __name__ == "__main__":
    config_path, output_path = sys.argv[1:3]
    print(run(yaml.safe_load(Path(config_path).read_text()), Path(output_path)))
