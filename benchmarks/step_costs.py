"""Cost per run-step of the d-dimensional targets, each against the floor of its own arithmetic.

    python benchmarks/step_costs.py [--quick] [--dims 50 100 200] [--repeats 5] [--breakdown] [--glm]

A run-step is one iteration of one run in the vectorized runner (loss, domain checks, observation,
direction and update), measured over a batch of `BATCH` runs as the default grid's cells have
(7 learning rates × 4 seeds). Each figure is timed (CPU time of this process) alternately with its
floor in the same process, and the ratio of the fastest of each is printed, so the ratios hold on
a loaded machine where the times do not. `--quick`: d = 100, mean field at d = 100 and 400, fewer
steps and repeats (mean field otherwise at d = 100, 400 and 1600, each step of 28 runs then 2.6 M
numbers per d × d array had it formed one). Floors (issue 18):

  gaussian_nd, full covariance  one batched Cholesky + one batched d×d matmul of the batch's shapes
  mean-field charts             a pass over the run's 2d numbers and one d×d matvec (the target's own
                                O(d²) term); printed per d, then each figure's growth from the
                                smallest d to the largest against the floor's
  GLM mean field                one (N, d) @ (d,) product per run, the (runs × d) × (d × N) product
                                of the variances by the squared design (a projection's xₙᵀdiag(v)xₙ):
                                the O(N·d) unit of the mean-field form. A Bernoulli GLM on generated
                                data with N = 455 training rows (as logistic_vi) and 100 nodes, at
                                d = 100, 400, 1600 (quick: 100, 400); each figure's growth from the
                                smallest d to the largest against the floor's; and at d = 100 the
                                full-form path it replaced (V whole), timed in the same process
  logistic_vi, quadrature       one np.exp + one np.log1p over the (runs × N × nodes) node array
  logistic_vi, Monte Carlo      one sigmoid over the (runs × S × N) sampled projections plus the
                                (S × N × d) products that make them; and that floor plus the
                                quadrature one above, since every step also records the exact loss
                                (the gap is measured on it, not on the samples)

`--glm` prints the GLM mean-field, logistic and Monte Carlo rows only. `--breakdown` prints instead,
per full-covariance chart × method, the CPU µs per run-step inside its parts (Cholesky factors, potri
inverses, Adam's moments, each chart and target call), from timers put around those functions for
the measurement.

BLAS is pinned to one thread, as Snakemake pins it in solver jobs.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ngbench.methods import METHODS
from ngbench.runner import run_batch
from ngbench.targets import make_target
from ngbench.targets.gaussian_family import DiagonalNatural
from ngbench.targets.glm_vi import GLMVI
from ngbench.targets.likelihoods import BernoulliLogit

BATCH = 28
FULL_CHARTS = ("mean_cov", "mean_chol", "mean_prec", "natural", "expectation")
MEAN_FIELD_CHARTS = ("diagonal", "diagonal_natural")
METHOD_NAMES = ("gd", "ngd", "adam")


def _seconds(function) -> float:
    # CPU time of this process, not wall time: on a shared machine a process waiting for a core
    # does not count (BLAS runs on this thread, see the module's first lines).
    started = time.process_time()
    function()
    return time.process_time() - started


def paired(function, floor, repeats: int) -> tuple[float, float, float]:
    """(seconds of `function`, of `floor`, their ratio), each the fastest of `repeats` alternated
    timings: on a shared machine the fastest is the one least slowed by the others' work."""
    function(), floor()  # warm caches and lazy imports
    times, floors = [], []
    for _ in range(repeats):
        times.append(_seconds(function))
        floors.append(_seconds(floor))
    return min(times), min(floors), min(times) / min(floors)


def runner_steps(target, chart_name: str, method: str, steps: int, init: dict, chart=None):
    """A closure running `steps` steps of BATCH runs that all stay active (a small learning rate);
    `chart`, a chart object to run instead of the target's own of that name."""
    chart = target.chart(chart_name) if chart is None else chart
    seeds = tuple(range(4))
    start = np.tile(target.initial_states_for(chart, init, seeds), (BATCH // len(seeds), 1))
    lr = np.full(BATCH, 1e-6)  # small enough that no chart leaves its domain in the timed steps
    seed = np.tile(np.array(seeds), BATCH // len(seeds))

    def run():
        result = run_batch(target, chart, METHODS[method], start, lr, steps, 0.0, seeds=seed)
        assert (result.status == "budget").all(), f"a timed run stopped early: {set(result.status)}"

    return run


def full_covariance_floor(dim: int, steps: int):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((BATCH, dim, dim))
    spd = a @ np.swapaxes(a, 1, 2) / dim + np.eye(dim)

    def floor():
        for _ in range(steps + 1):
            np.linalg.cholesky(spd)
            np.matmul(spd, spd)

    return floor


def gaussian_nd_table(dims, steps: int, repeats: int, charts=FULL_CHARTS, methods=METHOD_NAMES) -> list[dict]:
    rows = []
    init = {"mean": {"uniform": [-2.0, 2.0]}, "var": 0.1}
    for dim in dims:
        target = make_target({"name": "gaussian_nd", "dim": dim, "condition_number": 100.0, "seed": 0})
        floor = full_covariance_floor(dim, steps)
        for chart in charts:
            for method in methods:
                seconds, floor_seconds, ratio = paired(
                    runner_steps(target, chart, method, steps, init), floor, repeats
                )
                per = 1e6 / (BATCH * (steps + 1))
                rows.append(
                    {
                        "figure": f"gaussian_nd d={dim} {chart} {method}",
                        "us": seconds * per,
                        "floor": "chol+matmul",
                        "floor_us": floor_seconds * per,
                        "ratio": ratio,
                        "target": 3.0,
                    }
                )
    return rows


# Where a full-covariance step's time goes (`--breakdown`): CPU time inside each of these, per run-step.
# Nested parts are counted in each (the inverse and the Cholesky factor inside `to_canonical`, ...).
BREAKDOWN_PARTS = {
    "cholesky": ("ngbench.targets.gaussian_family", "cholesky"),
    "inverse": ("ngbench.targets.gaussian_family", "inverse_from_cholesky"),
    "adam": ("ngbench.methods", "adam_moments"),
}
CHART_PARTS = ("to_canonical", "in_domain", "pullback_gradient", "natural_gradient")
TARGET_PARTS = ("loss_at", "estimate_grad", "in_domain")


def _timed(function, totals: dict, label: str):
    def timed(*args, **kwargs):
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            totals[label] = totals.get(label, 0.0) + time.process_time() - started

    return timed


def step_breakdown(dim: int, steps: int, charts=FULL_CHARTS, methods=METHOD_NAMES) -> list[str]:
    """Per chart × method: total CPU µs per run-step and the µs inside each part (manual timers put
    around the library's functions for this measurement only, then taken off)."""
    import importlib

    from ngbench import methods as method_module

    init = {"mean": {"uniform": [-2.0, 2.0]}, "var": 0.1}
    target = make_target({"name": "gaussian_nd", "dim": dim, "condition_number": 100.0, "seed": 0})
    lines = []
    for chart_name in charts:
        chart = target.chart(chart_name)
        for method in methods:
            totals: dict[str, float] = {}
            saved = []
            for label, (module_name, name) in BREAKDOWN_PARTS.items():
                module = importlib.import_module(module_name)
                saved.append((module, name, getattr(module, name)))
                setattr(module, name, _timed(getattr(module, name), totals, label))
            for owner, names, prefix in ((chart, CHART_PARTS, "chart."), (target, TARGET_PARTS, "target.")):
                for name in names:
                    saved.append((owner, name, None))
                    setattr(owner, name, _timed(getattr(owner, name), totals, prefix + name))
            transforms = dict(method_module.TRANSFORMS)
            # The registry holds the function itself: point it at the timed one for this measurement.
            adam_settings = transforms["adam_moments"][1]
            method_module.TRANSFORMS["adam_moments"] = (method_module.adam_moments, adam_settings)
            try:
                run = runner_steps(target, chart_name, method, steps, init)
                run()
                totals.clear()
                started = time.process_time()
                run()
                total = time.process_time() - started
            finally:
                method_module.TRANSFORMS.clear()
                method_module.TRANSFORMS.update(transforms)
                for owner, name, original in reversed(saved):
                    if original is None:
                        delattr(owner, name)  # the instance attribute: the class's method again
                    else:
                        setattr(owner, name, original)
            per = 1e6 / (BATCH * (steps + 1))
            parts = "  ".join(
                f"{label} {seconds * per:.0f}"
                for label, seconds in sorted(totals.items(), key=lambda item: -item[1])
            )
            lines.append(f"gaussian_nd d={dim} {chart_name} {method}: {total * per:.0f} µs = {parts}")
    return lines


def mean_field_floor(target, steps: int):
    """The target's own O(d²) per run: one pass over 2d numbers and one d × d matvec (Λ*(μ − μ*))."""
    rng = np.random.default_rng(0)
    state = rng.standard_normal((BATCH, 2 * target.dim))

    def floor():
        for _ in range(steps + 1):
            (state[:, : target.dim] - target.target_mean) @ target.target_precision
            state * 2.0

    return floor


def mean_field_table(dims, steps: int, repeats: int) -> list[dict]:
    rows = []
    init = {"mean": {"uniform": [-2.0, 2.0]}, "var": 0.1}
    for dim in dims:
        target = make_target({"name": "gaussian_nd", "dim": dim, "condition_number": 100.0, "seed": 0})
        floor = mean_field_floor(target, steps)
        for chart in MEAN_FIELD_CHARTS:
            for method in ("gd", "ngd"):
                seconds, floor_seconds, ratio = paired(
                    runner_steps(target, chart, method, steps, init), floor, repeats
                )
                per = 1e6 / (BATCH * (steps + 1))
                rows.append(
                    {
                        "figure": f"gaussian_nd d={dim} {chart} {method}",
                        "us": seconds * per,
                        "floor": "O(d²) matvec",
                        "floor_us": floor_seconds * per,
                        "ratio": ratio,
                        "target": None,
                    }
                )
    return rows


def mean_field_growth(rows: list[dict]) -> list[str]:
    """Per target × chart × method: how much its cost grew from the smallest d to the largest, against
    the floor's growth over the same dimensions (O(d²) work grows 16× from d = 400 to 1600, O(N·d) 4×)."""
    lines = []
    figures: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        target, dim, name = row["figure"].split(" ", 2)
        figures.setdefault((target, name), []).append({**row, "dim": int(dim.removeprefix("d="))})
    for (target, name), series in figures.items():
        first, last = min(series, key=lambda r: r["dim"]), max(series, key=lambda r: r["dim"])
        cost, floor = last["us"] / first["us"], last["floor_us"] / first["floor_us"]
        lines.append(
            f"{target} {name}: d = {first['dim']} → {last['dim']}: cost ×{cost:.1f}, "
            f"floor ×{floor:.1f}, ratio {first['ratio']:.1f} → {last['ratio']:.1f}"
        )
    return lines


GLM_TRAINING_ROWS, GLM_TEST_ROWS = 455, 114  # logistic_vi's split of its 569 rows


def synthetic_glm(dim: int) -> GLMVI:
    """A Bernoulli-logit GLM in `dim` dimensions (dim − 1 generated features and the intercept), with
    a stand-in reference (f* = 0, m* = 0): the runner's gaps are then losses, which costs the same."""
    rng = np.random.default_rng(dim)
    rows = GLM_TRAINING_ROWS + GLM_TEST_ROWS
    features = rng.standard_normal((rows, dim - 1))
    logits = features @ rng.standard_normal(dim - 1) / np.sqrt(dim)
    labels = (rng.uniform(size=rows) < 1.0 / (1.0 + np.exp(-logits))).astype(float)
    target = GLMVI(features, labels, BernoulliLogit(), test_fraction=GLM_TEST_ROWS / rows)
    assert target.train_x.shape == (GLM_TRAINING_ROWS, dim)
    zero = {"optimum_loss": 0.0, "optimum_mean": [0.0] * dim, "optimum_cov": []}
    return target.with_reference({"optimum_loss": 0.0, "families": {"full": zero, "mean_field": zero}})


def glm_projection_floor(target, steps: int):
    """One (N, d) @ (d,) product per run: the variances (runs × d) by the squared design's (d × N)."""
    variances = np.random.default_rng(0).uniform(0.005, 0.02, (BATCH, target.dim))
    squares = target.train_x * target.train_x

    def floor():
        for _ in range(steps + 1):
            variances @ squares.T

    return floor


def glm_mean_field_table(
    dims, steps: int, repeats: int, methods=("gd", "ngd", "ef"), full_form_dims=()
) -> list[dict]:
    """Per run-step of the GLM mean-field charts against the O(N·d) floor, per d; and at each d of
    `full_form_dims` the full-form path (V whole, `DiagonalNatural(compact=False)`), ngd."""
    rows = []
    init = {"mean": {"uniform": [-0.5, 0.5]}, "var": 0.01}
    per = 1e6 / (BATCH * (steps + 1))
    for dim in dims:
        target = synthetic_glm(dim)
        floor = glm_projection_floor(target, steps)
        runs = [(chart, method, None) for chart in MEAN_FIELD_CHARTS for method in methods]
        if dim in full_form_dims:
            runs.append(("diagonal_natural", "ngd", DiagonalNatural(dim, compact=False)))
        for chart, method, chart_object in runs:
            run = runner_steps(target, chart, method, steps, init, chart=chart_object)
            seconds, floor_seconds, ratio = paired(run, floor, repeats)
            form = " (full form)" if chart_object is not None else ""
            rows.append(
                {
                    "figure": f"glm d={dim} {chart} {method}{form}",
                    "us": seconds * per,
                    "floor": "O(N·d) matvec",
                    "floor_us": floor_seconds * per,
                    "ratio": ratio,
                    "target": None,
                }
            )
    return rows


def logistic_floor(target, steps: int):
    """One np.exp and one np.log1p over the (runs × N × nodes) array of quadrature points."""
    points = -np.abs(
        np.random.default_rng(0).standard_normal((BATCH, *target.train_x.shape[:1], target.nodes.size))
    )

    def floor():
        for _ in range(steps + 1):
            np.log1p(np.exp(points))

    return floor


# Initial variances of the timed logistic runs: the default grid's (projections' spreads: median
# 0.45, 3 % wider than the last narrow rule's limit) and one whose spreads are those near the optimum
# (median 1.4, 83 % wider: nearly every projection takes the declared rule). Over the default grid's
# runs ~44 % of the projections are wider than that limit (README, Performance).
LOGISTIC_VARIANCES = (0.01, 0.1)


def logistic_table(
    steps: int,
    repeats: int,
    charts=("mean_chol", "natural", "diagonal_natural"),
    variances=LOGISTIC_VARIANCES,
) -> list[dict]:
    target = make_target({"name": "logistic_vi"})
    target = target.with_reference(target.reference_solution())
    floor = logistic_floor(target, steps)
    rows = []
    for variance in variances:
        for chart in charts:
            for method in ("gd", "ngd", "ef"):
                init = {"mean": {"uniform": [-0.5, 0.5]}, "var": variance}
                rows.append(_logistic_row(target, chart, method, steps, repeats, init, floor))
    return rows


def _logistic_row(target, chart, method, steps, repeats, init, floor) -> dict:
    run = runner_steps(target, chart, method, steps, init)
    seconds, floor_seconds, ratio = paired(run, floor, repeats)
    per = 1e6 / (BATCH * (steps + 1))
    return {
        "figure": f"logistic_vi var {init['var']:g} {chart} {method}",
        "us": seconds * per,
        "floor": "exp+log1p",
        "floor_us": floor_seconds * per,
        "ratio": ratio,
        "target": 1.5,
    }


def logistic_mc_floor(target, steps: int, samples: int, with_loss: bool):
    """One sigmoid over (runs × S × N) projections of S draws, with their (S × N × d) products; with
    `with_loss`, also the quadrature floor (the exact loss every step records)."""
    from ngbench.targets.likelihoods import sigmoid

    draws = np.random.default_rng(1).standard_normal((BATCH, samples, target.dim))
    loss_floor = logistic_floor(target, steps) if with_loss else None

    def floor():
        for _ in range(steps + 1):
            sigmoid(draws @ target.train_x.T)
        if loss_floor is not None:
            loss_floor()

    return floor


def logistic_mc_table(
    steps: int, repeats: int, samples: int = 10, charts=("mean_chol", "natural")
) -> list[dict]:
    target = make_target({"name": "logistic_vi"})
    target = target.with_reference(target.reference_solution())
    target.set_gradient({"mc": samples})
    floors = {
        "sigmoid+SND": logistic_mc_floor(target, steps, samples, with_loss=False),
        "+exp+log1p": logistic_mc_floor(target, steps, samples, with_loss=True),
    }
    rows = []
    for chart in charts:
        run = runner_steps(target, chart, "ngd", steps, {"mean": {"uniform": [-0.5, 0.5]}, "var": 0.01})
        for name, floor in floors.items():
            seconds, floor_seconds, ratio = paired(run, floor, repeats)
            per = 1e6 / (BATCH * (steps + 1))
            rows.append(
                {
                    "figure": f"logistic_vi mc {samples} {chart} ngd",
                    "us": seconds * per,
                    "floor": name,
                    "floor_us": floor_seconds * per,
                    "ratio": ratio,
                    "target": 2.0,
                }
            )
    return rows


def print_header() -> None:
    print(f"{'per run-step':<44}{'µs':>9}  {'floor':<14}{'µs':>9}{'ratio':>8}{'target':>8}")


def print_rows(rows: list[dict]) -> None:
    for row in rows:
        mark = "" if row["target"] is None or row["ratio"] <= row["target"] else "  over"
        target = "" if row["target"] is None else f"≤{row['target']:g}"
        print(
            f"{row['figure']:<44}{row['us']:>9.1f}  {row['floor']:<14}{row['floor_us']:>9.1f}"
            f"{row['ratio']:>7.2f}x{target:>8}{mark}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="d = 100 only, fewer steps and repeats")
    parser.add_argument("--dims", type=int, nargs="+", default=[50, 100, 200])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--breakdown", action="store_true", help="only where full-covariance steps spend their time, per d"
    )
    parser.add_argument("--glm", action="store_true", help="only the GLM and logistic_vi rows")
    args = parser.parse_args()
    if args.breakdown:
        for dim in [100] if args.quick else args.dims:
            print("\n".join(step_breakdown(dim, 5 if args.quick else 10)), flush=True)
        return
    dims, steps, repeats = ([100], 5, 3) if args.quick else (args.dims, 10, args.repeats)
    mean_field_dims = [100, 400] if args.quick else [100, 400, 1600]
    print(f"batch of {BATCH} runs, {steps} steps per timing, fastest of {repeats} alternated repeats")
    print_header()
    if not args.glm:
        for dim in dims:
            print_rows(gaussian_nd_table([dim], steps, repeats))
        mean_field_rows = []
        for dim in mean_field_dims:
            rows = mean_field_table([dim], steps, repeats)
            print_rows(rows)
            mean_field_rows += rows
        print("\n".join(mean_field_growth(mean_field_rows)))
    glm_rows = []
    for dim in mean_field_dims:
        rows = glm_mean_field_table([dim], steps, repeats, full_form_dims=mean_field_dims[:1])
        print_rows(rows)
        glm_rows += rows
    print("\n".join(mean_field_growth([row for row in glm_rows if "full form" not in row["figure"]])))
    print_rows(logistic_table(steps, repeats))
    print_rows(logistic_mc_table(steps, repeats))


if __name__ == "__main__":
    main()
