"""The one update loop: every (learning rate × seed) run of a cell as one vectorized array program.

A run's status is one of
  converged  reached gap ≤ the smallest tolerance and never failed,
  budget     used every step without reaching it,
  diverged   its state or loss became non-finite, or its gap exploded past
             `divergence_factor · max(1, gap₀)`,
  invalid    its state left the chart's or the target's domain (e.g. a variance ≤ 0).
A failed run stops; the rows of every iterate it reached with a finite loss are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ngbench.charts import Chart
from ngbench.methods import Direction, StepContext
from ngbench.targets.base import Target

# Monte Carlo gradient draws use their own stream, apart from the start draws (ngbench.starts).
GRADIENT_STREAM = 2

STATUSES = ("converged", "budget", "diverged", "invalid")


@dataclass(frozen=True)
class BatchResult:
    """Histories indexed [iter, run]; NaN where a run has no row (after it stopped)."""

    loss: np.ndarray  # (steps + 1, B)
    states: np.ndarray  # (steps + 1, B, len(target.observed_columns)) what `target.observe` returns
    status: np.ndarray  # (B,) of STATUSES
    stop_iter: np.ndarray  # (B,) the last iteration a run reached: `steps`, or where it failed

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
    direction: Direction,
    start: np.ndarray,
    lr: np.ndarray,
    steps: int,
    converged_gap: float,
    divergence_factor: float = 1e8,
    seeds: np.ndarray | None = None,
) -> BatchResult:
    """Run θ ← θ − lr·direction(θ) for `steps` steps from canonical `start` (B, k), lr of shape (B,).

    What `target.observe` returns is kept for every iterate: a few canonical coordinates, or for a
    high-dimensional target a few metrics, so the history stays O(steps × B). A stochastic target
    draws its gradient noise from one generator per run keyed by the run's seed (`seeds`, shape
    (B,)): runs of one seed see the same noise whatever their chart, method or learning rate.
    """
    start = np.asarray(start, dtype=float)
    lr = np.asarray(lr, dtype=float)
    batch, _ = start.shape
    f_star = target.optimum_loss_for(chart)
    observed = len(target.observed_columns)
    losses = np.full((steps + 1, batch), np.nan)
    states = np.full((steps + 1, batch, observed), np.nan)
    context = StepContext()
    if target.stochastic:
        if seeds is None:
            raise ValueError(f"target {target.name!r} draws gradient noise: run_batch needs the runs' seeds")
        context.rngs = [np.random.default_rng([GRADIENT_STREAM, int(seed)]) for seed in seeds]
    status = np.full(batch, "budget", dtype=object)
    stop_iter = np.full(batch, steps, dtype=np.int64)

    # Numerical faults are expected (that is what `diverged` and `invalid` record): silence the
    # warnings and classify each run instead.
    with np.errstate(all="ignore"):
        # θ, its learning rates and gap limits hold the active runs only, compacted when runs stop,
        # so a step costs what the runs still going cost. A copy: identity charts return their
        # argument, and the loop updates θ in place.
        theta = np.array(chart.from_canonical(start), dtype=float)
        active = np.arange(batch)  # the active runs' indices into the batch
        rates = lr[:, None]
        for t in range(steps + 1):
            canonical = chart.to_canonical(theta)
            finite = np.isfinite(theta).all(axis=1) & np.isfinite(canonical).all(axis=1)
            inside = chart.in_domain(theta) & target.in_domain(canonical)
            loss = target.loss_at(chart, theta, canonical)
            record = finite & inside & np.isfinite(loss)
            if t == 0:
                gap_limit = divergence_factor * np.maximum(1.0, loss - f_star)
            exploding = record & (loss - f_star > gap_limit)
            keep = record & ~exploding

            if keep.all():
                rows = slice(None) if active.size == batch else active
                losses[t, rows] = loss
                states[t, rows] = target.observe(canonical, chart)
            else:
                losses[t, active[record]] = loss[record]
                states[t, active[record]] = target.observe(canonical[record], chart)
                status[active[finite & ~inside]] = "invalid"
                status[active[~finite | (inside & ~np.isfinite(loss)) | exploding]] = "diverged"
                stop_iter[active[~record | exploding]] = t
                active, theta, canonical = active[keep], theta[keep], canonical[keep]
                rates, gap_limit = rates[keep], gap_limit[keep]
                context.keep(keep)
            if t == steps or active.size == 0:
                break
            context.iteration = t
            theta -= rates * direction(target, chart, theta, canonical, context)

    gap = losses - f_star
    reached = (gap <= converged_gap).any(axis=0)
    status[(status == "budget") & reached] = "converged"
    return BatchResult(loss=losses, states=states, status=status, stop_iter=stop_iter)


def first_hits(gap: np.ndarray, tolerances: tuple[float, ...]) -> np.ndarray:
    """First iteration with gap ≤ tol, per (tolerance, run); -1 where a run never gets there."""
    hits = np.full((len(tolerances), gap.shape[1]), -1, dtype=np.int64)
    for i, tol in enumerate(tolerances):
        below = gap <= tol
        reached = below.any(axis=0)
        hits[i, reached] = below[:, reached].argmax(axis=0)
    return hits
