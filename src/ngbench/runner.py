"""The one update loop: every (learning rate × seed) run of a cell as one vectorized array program.

A run's status is one of
  converged  reached gap ≤ the smallest tolerance and never failed (with `stop_at_target`, it stops
             there: its last row is the first iterate within that tolerance),
  budget     used every step without reaching it,
  diverged   its state or loss became non-finite, or its gap exploded past
             `divergence_factor · max(1, gap₀)`,
  invalid    its state left the chart's or the target's domain (e.g. a variance ≤ 0),
  failed     computing its step or loss raised a numerical exception (`FAULTS`: a singular solve, the
             Cholesky factor of an indefinite matrix, a math domain error).
A run that diverged, left the domain or failed stops; the rows of every iterate it reached with a
finite loss are kept. A fault ends only the runs at fault: the step that raised is computed again run by run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, partial

import numpy as np

from ngbench.charts import Chart
from ngbench.memo import STEP
from ngbench.methods import Direction, Method, StepContext, as_method
from ngbench.targets.base import Target

# Monte Carlo gradient draws use their own stream, apart from the start draws (ngbench.starts).
GRADIENT_STREAM = 2

STATUSES = ("converged", "budget", "diverged", "invalid", "failed")
# The statuses of runs that stopped before their budget: figures draw them as failures.
FAILURE_STATUSES = ("diverged", "invalid", "failed")

# What ends a run as `failed` instead of ending the job. numpy's LinAlgError (a singular solve, the
# Cholesky factor of an indefinite matrix) is a ValueError, and so are what numpy, scipy and `math`
# raise for out-of-range numbers: `math.sqrt(-1)`, a negative scale for a random draw, scipy's
# check_finite on NaN. ArithmeticError covers Python-float overflow, division by zero and
# np.errstate(..., "raise"). Not caught: TypeError, IndexError, KeyError, AttributeError,
# NotImplementedError (bugs, which must stop the job), nor KeyboardInterrupt or MemoryError. A
# ValueError from a bug (a shape mismatch) fails every run and names itself in the solver's log.
FAULTS = (ArithmeticError, ValueError)


@dataclass(frozen=True)
class BatchResult:
    """Histories indexed [iter, run]; NaN where a run has no row (after it stopped)."""

    loss: np.ndarray  # (steps + 1, B)
    states: np.ndarray  # (steps + 1, B, len(target.observed_columns)) what `target.observe` returns
    status: np.ndarray  # (B,) of STATUSES
    stop_iter: np.ndarray  # (B,) the last iteration a run reached: `steps`, or where it failed
    first_fault: str = ""  # the first exception that made a run `failed`, as "Type: message"

    # Cached: both tables of a cell read them, and each is a pass over the whole history.
    @cached_property
    def recorded(self) -> np.ndarray:
        return ~np.isnan(self.loss)

    @cached_property
    def last_recorded(self) -> np.ndarray:
        """(B,) the last iteration each run has a row for; -1 for a run without any."""
        recorded = self.recorded
        last = recorded.shape[0] - 1 - recorded[::-1].argmax(axis=0)
        return np.where(recorded.any(axis=0), last, -1)


def run_batch(
    target: Target,
    chart: Chart,
    method: Method | Direction,
    start: np.ndarray,
    lr: np.ndarray,
    steps: int,
    converged_gap: float,
    divergence_factor: float = 1e8,
    seeds: np.ndarray | None = None,
    stop_at_target: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """Run `method` for `steps` steps from canonical `start` (B, k), lr of shape (B,): θ ← θ − ρₜ·step(θ)
    (ρₜ = lr scaled by the method's schedule), or the method's own update (a line search, averaging).
    A bare direction function is run as θ ← θ − lr·direction(θ).

    With `stop_at_target`, a run stops at its first iterate with gap ≤ `converged_gap` (status
    `converged`, `stop_iter` that iteration), as COCO stops a run at its final target: every
    iteration count is decided by then, and what comes after costs steps and decides nothing.
    Without it, converged runs go on to `steps` (for figures that show the whole trajectory).

    What `target.observe` returns is kept for every iterate: a few canonical coordinates, or for a
    high-dimensional target a few metrics, so the history stays O(steps × B). A stochastic target
    draws its gradient noise from one generator per run keyed by the run's seed (`seeds`, shape
    (B,)): runs of one seed see the same noise whatever their chart, method or learning rate.

    `progress`, if given, is called before each iteration t ≥ 1 with (t, runs still active): steps
    taken so far, for a progress line (ngbench.solve.StepProgress).
    """
    start = np.asarray(start, dtype=float)
    lr = np.asarray(lr, dtype=float)
    batch, _ = start.shape
    f_star = target.optimum_loss_for(chart)
    observed_count = len(target.observed_columns)
    losses = np.full((steps + 1, batch), np.nan)
    states = np.full((steps + 1, batch, observed_count), np.nan)
    method = as_method(method)
    context = method.init(StepContext())
    if target.stochastic:
        if seeds is None:
            raise ValueError(f"target {target.name!r} draws gradient noise: run_batch needs the runs' seeds")
        context.rngs = [np.random.default_rng([GRADIENT_STREAM, int(seed)]) for seed in seeds]
    status = np.full(batch, "budget", dtype=object)
    stop_iter = np.full(batch, steps, dtype=np.int64)

    first_fault = None

    # Numerical faults are expected (that is what `diverged`, `invalid` and `failed` record): silence
    # the warnings and classify each run instead. Within an iteration, charts and targets share the
    # factorizations of its arrays (ngbench.memo), forgotten before θ is written in place.
    with np.errstate(all="ignore"), STEP.scope():
        # θ, its learning rates and gap limits hold the active runs only, compacted when runs stop,
        # so a step costs what the runs still going cost. A copy: identity charts return their
        # argument, and a method may hand back its input.
        theta = np.array(chart.from_canonical(start), dtype=float)
        active = np.arange(batch)  # the active runs' indices into the batch
        rates = lr[:, None]
        evaluate, observe = partial(_evaluate, target, chart), partial(_observe, target, chart)
        for t in range(steps + 1):
            if progress is not None and t:
                progress(t, active.size)
            evaluated, failed, fault = _guarded(evaluate, theta)
            if evaluated is None:  # every run's state raised: none has a row at t
                status[active], stop_iter[active] = "failed", t
                first_fault = first_fault or fault
                break
            canonical, finite, inside, loss = evaluated
            record = finite & inside & np.isfinite(loss)
            if failed is not None:
                record &= ~failed
            # Observed only where recorded: a state outside the domain may not be observable.
            observable = canonical if record.all() else canonical[record]
            observations, unobservable, observe_fault = _guarded(observe, observable)
            if unobservable is not None:
                observed = (
                    np.empty((0, observed_count)) if observations is None else observations[0][~unobservable]
                )
                lost = np.flatnonzero(record)[unobservable]
                record[lost] = False
                failed = np.zeros(active.size, dtype=bool) if failed is None else failed
                failed[lost] = True
                fault = fault or observe_fault
            else:
                (observed,) = observations
            if t == 0:
                gap_limit = divergence_factor * np.maximum(1.0, loss - f_star)
            gap_now = loss - f_star
            exploding = record & (gap_now > gap_limit)
            keep = record & ~exploding
            # The same comparison as `first_hits` makes on the recorded history, so a stopped run's
            # last row is exactly its hit at the smallest tolerance.
            if stop_at_target:
                arrived = keep & (gap_now <= converged_gap)
                if arrived.any():  # most steps none does: four index operations saved
                    status[active[arrived]] = "converged"
                    stop_iter[active[arrived]] = t
                    keep &= ~arrived

            if keep.all():
                rows = slice(None) if active.size == batch else active
                losses[t, rows] = loss
                states[t, rows] = observed
            else:
                losses[t, active[record]] = loss[record]
                states[t, active[record]] = observed
                status[active[finite & ~inside]] = "invalid"
                status[active[~finite | (inside & ~np.isfinite(loss)) | exploding]] = "diverged"
                if failed is not None:
                    status[active[failed]] = "failed"
                stop_iter[active[~record | exploding]] = t
                active, theta, canonical = active[keep], theta[keep], canonical[keep]
                rates, gap_limit = rates[keep], gap_limit[keep]
                context.keep(keep)
            first_fault = first_fault or fault
            if t == steps or active.size == 0:
                break
            context.iteration = t
            stepped, failed, fault = _guarded_update(method, target, chart, theta, canonical, context, rates)
            if failed is not None:
                # The runs whose step raised stop at t, where their last row is; the rest step on.
                status[active[failed]] = "failed"
                stop_iter[active[failed]] = t
                going = ~failed
                active, theta, rates, gap_limit = active[going], theta[going], rates[going], gap_limit[going]
                first_fault = first_fault or fault
                if active.size == 0:
                    break
            STEP.forget()
            theta = stepped

    gap = losses - f_star
    reached = (gap <= converged_gap).any(axis=0)
    status[(status == "budget") & reached] = "converged"
    return BatchResult(
        loss=losses,
        states=states,
        status=status,
        stop_iter=stop_iter,
        first_fault="" if first_fault is None else f"{type(first_fault).__name__}: {first_fault}",
    )


def _evaluate(target: Target, chart: Chart, theta: np.ndarray):
    """Canonical state, finiteness, domain and loss of each run: what the runner records of an iterate."""
    canonical = chart.to_canonical(theta)
    finite = np.isfinite(theta).all(axis=1)
    if canonical is not theta:  # an identity chart's canonical state is θ itself: one pass, not two
        finite &= np.isfinite(canonical).all(axis=1)
    inside = chart.in_domain(theta) & target.in_domain(canonical)
    return canonical, finite, inside, target.loss_at(chart, theta, canonical)


def _observe(target: Target, chart: Chart, canonical: np.ndarray):
    return (target.observe(canonical, chart),)


def _guarded(compute: Callable[[np.ndarray], tuple], batch: np.ndarray):
    """`compute(batch)`, a tuple of arrays with a leading run axis, on every run at once; if that
    raises one of `FAULTS`, on each run's row of `batch` alone.

    Returns the outputs (None if every run raised), None or the (runs,) mask of the runs whose own
    computation raised, and the first exception. A raising run's rows hold NaN, or False in a mask.
    The fast path is the one call: nothing is done run by run unless it raised.
    """
    try:
        return compute(batch), None, None
    except FAULTS as error:
        first = error
    runs = batch.shape[0]
    outputs, failed = [], np.zeros(runs, dtype=bool)
    for run in range(runs):
        try:
            outputs.append(compute(batch[run : run + 1]))
        except FAULTS:
            failed[run] = True
            outputs.append(None)
    if failed.all():
        return None, failed, first
    model = next(output for output in outputs if output is not None)
    placeholder = tuple(np.full_like(part, False if part.dtype == bool else np.nan) for part in model)
    joined = tuple(
        np.concatenate([(placeholder if output is None else output)[i] for output in outputs])
        for i in range(len(model))
    )
    return joined, failed, first


def _guarded_update(method: Method, target, chart, theta, canonical, context: StepContext, rates):
    """The batch's next iterates; if computing them raises one of `FAULTS`, each run's alone.

    Returns the next iterates of the runs that did not raise, None or the mask of the runs that did,
    and the first exception; `context` then holds the surviving runs only. The batched call may have
    drawn from the generators and written memory before it raised: both are put back first, so a
    surviving run steps exactly as it would have in a batch without the failing one.
    """
    # Only a stochastic target's generators need saving, and it already draws from each one per
    # step. Memory needs a shallow copy only: methods replace their memory arrays, never write into them.
    saved_rngs = None if context.rngs is None else [rng.bit_generator.state for rng in context.rngs]
    saved_memory = dict(context.memory)
    try:
        return method.update(target, chart, theta, canonical, context, rates), None, None
    except FAULTS as error:
        first = error
    if saved_rngs is not None:
        for rng, state in zip(context.rngs, saved_rngs, strict=True):
            rng.bit_generator.state = state
    context.memory = saved_memory
    steps, parts, failed = [], [], np.zeros(theta.shape[0], dtype=bool)
    for run in range(theta.shape[0]):
        alone = context.run(run)
        rows = slice(run, run + 1)
        try:
            steps.append(method.update(target, chart, theta[rows], canonical[rows], alone, rates[rows]))
        except FAULTS:
            failed[run] = True
            continue
        parts.append(alone)
    context.join(parts)
    step = np.concatenate(steps) if steps else np.empty((0, theta.shape[1]))
    return step, failed, first


def first_hits(gap: np.ndarray, tolerances: tuple[float, ...]) -> np.ndarray:
    """First iteration with gap ≤ tol, per (tolerance, run); -1 where a run never gets there."""
    hits = np.full((len(tolerances), gap.shape[1]), -1, dtype=np.int64)
    for i, tol in enumerate(tolerances):
        below = gap <= tol
        reached = below.any(axis=0)
        hits[i, reached] = below[:, reached].argmax(axis=0)
    return hits
