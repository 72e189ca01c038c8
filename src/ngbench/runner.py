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

import numpy as np

from ngbench.charts import Chart
from ngbench.methods import Direction
from ngbench.targets.base import Target

STATUSES = ("converged", "budget", "diverged", "invalid")


@dataclass(frozen=True)
class BatchResult:
    """Histories indexed [iter, run]; NaN where a run has no row (after it stopped)."""

    loss: np.ndarray  # (steps + 1, B)
    states: np.ndarray  # (steps + 1, B, len(recorded_coordinates)) canonical coordinates
    status: np.ndarray  # (B,) of STATUSES
    stop_iter: np.ndarray  # (B,) the last iteration a run reached: `steps`, or where it failed

    @property
    def recorded(self) -> np.ndarray:
        return ~np.isnan(self.loss)

    @property
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
    recorded_coordinates: list[int] | None = None,
) -> BatchResult:
    """Run θ ← θ − lr·direction(θ) for `steps` steps from canonical `start` (B, k), lr of shape (B,).

    The canonical coordinates listed in `recorded_coordinates` (all by default) are kept for every
    iterate; a high-dimensional target keeps none and its history stays (steps + 1) × B.
    """
    start = np.asarray(start, dtype=float)
    lr = np.asarray(lr, dtype=float)
    batch, dim = start.shape
    recorded_coordinates = list(range(dim)) if recorded_coordinates is None else list(recorded_coordinates)
    f_star = target.optimum_loss
    losses = np.full((steps + 1, batch), np.nan)
    states = np.full((steps + 1, batch, len(recorded_coordinates)), np.nan)
    status = np.full(batch, "budget", dtype=object)
    stop_iter = np.full(batch, steps, dtype=np.int64)
    gap_limit = np.full(batch, np.inf)

    # Numerical faults are expected (that is what `diverged` and `invalid` record): silence the
    # warnings and classify each run instead.
    with np.errstate(all="ignore"):
        # A copy: identity charts return their argument, and the loop updates θ in place.
        theta = np.array(chart.from_canonical(start), dtype=float)
        active = np.arange(batch)
        everyone = True  # while no run has stopped, whole arrays stand in for gathers by index
        for t in range(steps + 1):
            th = theta if everyone else theta[active]
            canonical = chart.to_canonical(th)
            finite = np.isfinite(th).all(axis=1) & np.isfinite(canonical).all(axis=1)
            inside = chart.in_domain(th) & target.in_domain(canonical)
            loss = target.loss(canonical)
            record = finite & inside & np.isfinite(loss)
            if t == 0:
                gap_limit[active] = divergence_factor * np.maximum(1.0, loss - f_star)
            exploding = record & (loss - f_star > gap_limit[active])
            keep = record & ~exploding

            if everyone and keep.all():
                losses[t] = loss
                states[t] = canonical[:, recorded_coordinates]
            else:
                losses[t, active[record]] = loss[record]
                states[t, active[record]] = canonical[record][:, recorded_coordinates]
                status[active[finite & ~inside]] = "invalid"
                status[active[~finite | (inside & ~np.isfinite(loss)) | exploding]] = "diverged"
                stop_iter[active[~record | exploding]] = t
                active = active[keep]
                th, canonical = th[keep], canonical[keep]
                everyone = False
            if t == steps or active.size == 0:
                break
            step = lr[active, None] * direction(target, chart, th, canonical)
            if everyone:
                theta -= step
            else:
                theta[active] = th - step

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
