"""One solver cell: every (learning rate × seed) run of (experiment, parameterization, method).

Turns the runner's histories into the two tables of the data contract (trajectories, summaries).
"""

from __future__ import annotations

import logging
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa

from ngbench import __version__, portable
from ngbench.experiments import learning_rate_grid, method_params, seed_list
from ngbench.io import (
    METRIC_COLUMNS,
    STATE_COLUMNS,
    SUMMARY_SCHEMA,
    TRAJECTORY_SCHEMA,
    boolean_column,
    dictionary_encoded,
    numeric_column,
    repeated_names,
    with_provenance,
)
from ngbench.jobs import JobSpec
from ngbench.methods import method_named
from ngbench.runner import FAILURE_STATUSES, STATUSES, BatchResult, first_hits, run_batch
from ngbench.targets import make_target

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CellResult:
    trajectories: pa.Table
    summaries: pa.Table
    result: BatchResult
    seconds: float  # wall time of the solve; kept out of the parquet files, which are byte-identical


def source_revision() -> str:
    """The git commit of the library's checkout, '+dirty' if its sources differ from it; else 'unknown'."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "src"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def _versions() -> dict:
    # Read from package metadata: importing pandas only for its version would cost every job ~0.2 s.
    return {
        "ngbench": __version__,
        "source": source_revision(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": metadata.version("pandas"),
        "pyarrow": pa.__version__,
    }


def solve_cell(params: dict, reference: dict | None = None) -> CellResult:
    """Run one cell described by `method_params(Experiment.chart_params(...), method)`.

    `reference` is the target's reference solution (f* and its minimisers) for targets whose optimum
    has no closed form; see `reference_solution`.
    """
    cell = _solve(_target_of(params, reference), params)
    return replace(
        cell, **_with_provenance({kind: getattr(cell, kind) for kind in TABLES}, params, reference)
    )


# The tables of a cell and of a chart, each written to its own file with its provenance.
TABLES = ("trajectories", "summaries")


def _with_provenance(
    tables: dict, params: dict, reference: dict | None, versions: dict | None = None
) -> dict:
    """The tables, each carrying the params, the reference and the versions that made them."""
    provenance = {"cell": params, "reference": reference, "versions": versions or _versions()}
    return {kind: with_provenance(table, provenance) for kind, table in tables.items()}


def _target_of(params: dict, reference: dict | None):
    target = make_target(params["target"], reference, params.get("gradient"))
    if target.needs_reference and reference is None:
        raise ValueError(f"target {target.name!r} needs its reference solution (f*) to measure gaps")
    return target


def _solve(target, params: dict, step_progress=None) -> CellResult:
    """One cell's run and tables, without provenance: the caller attaches that of its whole file.
    `step_progress` is the runner's `progress` callback (see `StepProgress`)."""
    job = JobSpec.from_params({**params, "methods": [params["method"]]})
    chart = target.chart(job.parameterization)
    method = method_named(params["method"])
    tolerances = job.tolerances

    starts = target.initial_states_for(chart, job.init, job.seeds)
    # Runs are ordered learning-rate major, seed minor; every run of a seed shares its start.
    lr_index, seed = job.runs()
    lr = np.array(job.learning_rates)[lr_index]
    start = np.tile(starts, (len(job.learning_rates), 1))
    started = time.perf_counter()
    result = run_batch(
        target,
        chart,
        method,
        start,
        lr,
        job.steps,
        converged_gap=min(tolerances),
        divergence_factor=job.divergence_factor,
        seeds=seed,
        # Cell params written before the key existed describe runs that went on to the budget.
        stop_at_target=job.stop_at_target,
        progress=step_progress,
    )
    seconds = time.perf_counter() - started
    counts = ", ".join(f"{status} {int((result.status == status).sum())}" for status in STATUSES)
    logger.info(
        "%s/%s/%s: %d runs x %d steps in %.2f s (%s)",
        params["experiment"],
        chart.name,
        params["method"],
        lr.size,
        params["steps"],
        seconds,
        counts,
    )
    failed = int((result.status == "failed").sum())
    if failed:
        logger.warning(
            "%s/%s/%s: %d of %d runs failed; the first raised %s",
            params["experiment"],
            chart.name,
            params["method"],
            failed,
            lr.size,
            result.first_fault,
        )

    keys = {
        "experiment": params["experiment"],
        "target": target.name,
        "parameterization": chart.name,
        "method": params["method"],
    }
    f_star = target.optimum_loss_for(chart)
    trajectories = _trajectory_table(result, keys, lr, seed, f_star, target.observed_columns, job.thin)
    step_cost = (target.grad_evaluations, method.solves_per_step)
    summaries = _summary_table(result, keys, lr, seed, f_star, tolerances, step_cost, target.observed_columns)
    return CellResult(trajectories=trajectories, summaries=summaries, result=result, seconds=seconds)


@dataclass(frozen=True)
class ChartResult:
    """Every method of one (experiment, parameterization): one solver job's two files."""

    trajectories: pa.Table
    summaries: pa.Table
    cells: dict[str, CellResult]


def solve_chart(
    params: dict,
    reference: dict | None = None,
    progress: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> ChartResult:
    """Run every method of `Experiment.chart_params(...)`, one cell after another, into one table each.

    Rows are method-major in the registry's order, then as in `solve_cell`. `progress`, if given, is
    called with a `progress_line` after each method, and while a method runs with a `StepProgress`
    line at most every `PROGRESS_INTERVAL` seconds of `clock`.
    """
    versions = _versions()
    logger.info("library: %s (%s)", Path(__file__).resolve().parent, versions["source"])
    # One target for every method: building it can mean loading and standardising a data set.
    target = _target_of(params, reference)
    started = time.perf_counter()
    cells = {}
    for method in JobSpec.from_params(params).methods:
        cell_params = method_params(params, method)
        step_progress = None if progress is None else StepProgress(cell_params, progress, clock)
        cells[method] = _solve(target, cell_params, step_progress)
        if progress is not None:
            progress(progress_line(params, cells, time.perf_counter() - started))
    tables = {kind: pa.concat_tables([getattr(cell, kind) for cell in cells.values()]) for kind in TABLES}
    return ChartResult(cells=cells, **_with_provenance(tables, params, reference, versions))


def progress_line(params: dict, cells: dict[str, CellResult], elapsed: float) -> str:
    """'ngbench: logistic_vi/natural: ngd done (28 runs x 200 steps, 12.3 s); 2 of 4 methods in
    24.6 s, about 25 s left': how far one solver job has got, for the terminal. The time left
    assumes each remaining method costs the mean of those done."""
    method, cell = list(cells.items())[-1]
    done, total = len(cells), len(params["methods"])
    line = (
        f"ngbench: {params['experiment']}/{params['parameterization']}: {method} done "
        f"({cell.result.status.size} runs x {params['steps']} steps, {cell.seconds:.1f} s); "
        f"{done} of {total} methods in {elapsed:.1f} s"
    )
    if done < total:
        line += f", about {elapsed / done * (total - done):.0f} s left"
    return line


# Seconds between two lines of one method's progress: often enough to see a long job move, rarely
# enough that the lines of two jobs running side by side stay readable.
PROGRESS_INTERVAL = 10.0


class StepProgress:
    """The runner's `progress` callback for one method of a solver job: 'ngbench: logistic_vi/natural:
    ngd step 120 of 400, 3 of 28 runs stopped; 12 s in, about 28 s left for ngd', at most once every
    `interval` seconds of `clock`. The time left assumes each remaining step costs the mean of those
    taken; runs that stop early make it an overestimate."""

    def __init__(self, params: dict, emit, clock=time.perf_counter, interval=PROGRESS_INTERVAL):
        """`params`: the cell's (`method_params`); `emit` is called with each line."""
        self.method = params["method"]
        self.where = f"ngbench: {params['experiment']}/{params['parameterization']}: {self.method}"
        self.runs = len(learning_rate_grid(params["learning_rates"])) * len(seed_list(params["seeds"]))
        self.steps = int(params["steps"])
        self.emit, self.clock, self.interval = emit, clock, interval
        self.started = self.last = clock()

    def __call__(self, step: int, active: int) -> None:
        now = self.clock()
        if now - self.last < self.interval:
            return
        self.last = now
        elapsed = now - self.started
        left = elapsed / step * (self.steps - step)
        self.emit(
            f"{self.where} step {step} of {self.steps}, {self.runs - active} of {self.runs} runs stopped; "
            f"{elapsed:.0f} s in, about {left:.0f} s left for {self.method}"
        )


def timing_record(params: dict, chart: ChartResult) -> dict:
    """Each cell's wall time, for `stats.wall_times`; machine-dependent, so kept out of the parquet files."""
    return {
        "cells": [
            {
                "experiment": params["experiment"],
                "parameterization": params["parameterization"],
                "method": method,
                "seconds": cell.seconds,
                "runs": int(cell.result.stop_iter.size),
                "run_steps": int(cell.result.stop_iter.sum()),
            }
            for method, cell in chart.cells.items()
        ]
    }


def reference_solution(target_spec: dict) -> dict:
    """f* and the local minima of a target without a closed-form optimum, computed once per experiment."""
    return make_target(target_spec).reference_solution()


def _key_columns(keys: dict, lr: np.ndarray, seed: np.ndarray, status: np.ndarray, index: np.ndarray) -> dict:
    """Columns repeated on every row of a run; names are dictionary arrays, one integer per row."""
    same = np.zeros(index.size, dtype=np.int32)
    columns = {name: repeated_names((value,), same) for name, value in keys.items()}
    columns["lr"] = numeric_column(lr[index])
    columns["seed"] = numeric_column(seed[index])
    codes = np.array([STATUSES.index(s) for s in status], dtype=np.int32)
    columns["status"] = repeated_names(STATUSES, codes[index])
    return columns


def thinned_iterations(steps: int, points: int | None) -> np.ndarray:
    """Which iterations a thinned trajectory keeps: 0, `steps`, and ~`points` log-spaced ones between."""
    if points is None:
        return np.ones(steps + 1, dtype=bool)
    keep = np.zeros(steps + 1, dtype=bool)
    keep[portable.log_spaced_integers(steps, points)] = True
    keep[[0, steps]] = True
    return keep


def _trajectory_table(result, keys, lr, seed, f_star, recorded, thin) -> pa.Table:
    rows = result.recorded & thinned_iterations(result.loss.shape[0] - 1, thin)[:, None]
    # A thinned run still ends on its last iterate: its final state, or where it failed.
    last = result.last_recorded
    rows[last[last >= 0], np.flatnonzero(last >= 0)] = True
    # Row order: run-major (lr, then seed), then iteration; boolean masks of the transposed
    # histories give exactly that order without fancy indexing.
    mask = rows.T
    runs = np.repeat(np.arange(mask.shape[0]), mask.sum(axis=1))
    iters = np.broadcast_to(np.arange(mask.shape[1]), mask.shape)[mask]
    loss = result.loss.T[mask]
    columns = _key_columns(keys, lr, seed, result.status, runs)
    columns["iter"] = numeric_column(iters.astype(np.int64))
    columns["loss"] = numeric_column(loss)
    columns["gap"] = numeric_column(loss - f_star)
    for name in STATE_COLUMNS + METRIC_COLUMNS:
        if name in recorded:
            columns[name] = numeric_column(result.states[:, :, recorded.index(name)].T[mask])
        else:
            columns[name] = pa.nulls(runs.size, pa.float64())
    return pa.table(columns, schema=dictionary_encoded(TRAJECTORY_SCHEMA))


def settled_runs(result: BatchResult, gap: np.ndarray, tolerances) -> np.ndarray:
    """(B,) runs that did not fail and ended settled: within the loosest tolerance of f*, or with a
    gap that did not rise over the last tenth of their iterations.

    A run oscillating past its stability limit, or wandering chaotically, ends wherever the last bit
    of its arithmetic takes it, which moves from one CPU to another; a settled run's last iterate is
    a reproducible number, and only settled runs' final metrics are summarised.
    """
    last = result.last_recorded
    runs = np.arange(gap.shape[1])
    rising = np.zeros(gap.shape, dtype=np.int64)
    rising[1:] = np.diff(gap, axis=0) > 0
    rises = np.cumsum(rising, axis=0)
    end = np.maximum(last, 0)
    start = np.maximum(end - np.maximum((end + 1) // 10, 1), 0)
    steady = rises[end, runs] == rises[start, runs]
    close = gap[end, runs] <= max(tolerances)
    unfailed = ~np.isin(result.status, FAILURE_STATUSES)
    return unfailed & (last >= 0) & (close | steady)


def _summary_table(result, keys, lr, seed, f_star, tolerances, step_cost, observed) -> pa.Table:
    gap = result.loss - f_star
    hits = first_hits(gap, tolerances)  # (T, B)
    n_tol, n_runs = hits.shape
    runs = np.tile(np.arange(n_runs), n_tol)
    tol_index = np.repeat(np.arange(n_tol), n_runs)
    order = np.lexsort((tol_index, runs))  # run-major, then tolerance
    runs, tol_index = runs[order], tol_index[order]
    last = result.last_recorded
    final_gap = np.where(last >= 0, gap[np.maximum(last, 0), np.arange(n_runs)], np.nan)
    hit = hits[tol_index, runs]
    columns = _key_columns(keys, lr, seed, result.status, runs)
    columns["tolerance"] = numeric_column(np.asarray(tolerances)[tol_index])
    columns["hit_iter"] = numeric_column(hit, valid=hit >= 0)
    columns["stop_iter"] = numeric_column(result.stop_iter[runs])
    columns["budget"] = numeric_column(np.full(runs.size, result.loss.shape[0] - 1, dtype=np.int64))
    columns["initial_gap"] = numeric_column(gap[0, runs])
    columns["final_gap"] = numeric_column(final_gap[runs])
    columns["settled"] = boolean_column(settled_runs(result, gap, tolerances)[runs])
    for name in METRIC_COLUMNS:
        if name in observed:
            final = result.states[np.maximum(last, 0), np.arange(n_runs), observed.index(name)]
            columns[f"final_{name}"] = numeric_column(np.where(last >= 0, final, np.nan)[runs])
        else:
            columns[f"final_{name}"] = pa.nulls(runs.size, pa.float64())
    # One gradient (and solve) per step taken: a run that stops at iteration t took t steps.
    spent = np.where(hit >= 0, hit, result.stop_iter[runs])
    grad_evals, solves = step_cost
    columns["grad_evals"] = numeric_column(spent * grad_evals)
    columns["solves"] = numeric_column(spent * solves)
    return pa.table(columns, schema=dictionary_encoded(SUMMARY_SCHEMA))
