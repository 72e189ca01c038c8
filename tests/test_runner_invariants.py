"""What the runner records, stated as invariants of each run alone (issue 19).

Each test is about which rows a run keeps, its learning rate, its status and where it stops, never
about how many rows follow a hit: those are the runner's business (it may stop a run at the smallest
tolerance). A run in a batch must be the run alone: a batch only saves time.
"""

from __future__ import annotations

import numpy as np
import pytest

from ngbench.methods import METHODS, gradient
from ngbench.runner import FAILURE_STATUSES, first_hits, run_batch
from ngbench.targets import make_target
from tests.oracles import BLOG_TARGET

adam = METHODS["adam"]

# KL(N(μ, v) ‖ N(3, 1)) in (μ, v): at v = 1 the variance's gradient ½(1 − 1/v) is exactly 0, so GD
# moves the mean alone, μ − 3 ← (1 − ρ)(μ − 3), and the gap ½(μ − 3)² grows by (1 − ρ)² when ρ > 2.
GAUSSIAN = make_target(BLOG_TARGET)
MEAN_VAR = GAUSSIAN.chart("mean_var")

# (start, lr, what happens) — the first run fails at once, so every later one is compacted.
MIXED_BATCH = [
    ((-2.0, float(np.e)), 10.0, "invalid"),  # v − 10·½(1 − 1/e) < 0 at the first step
    ((103.0, 1.0), 2.3, "diverged"),  # gap₀ = 5000: its limit is 1e8 · 5000
    ((3.0 + 1e-3, 1.0), 2.2, "diverged"),  # gap₀ = 5e-7 < 1: its limit is 1e8
    ((3.0 + 1e-6, 1.0), 2.1, "diverged"),  # starts next to the optimum: its limit is still 1e8
    ((3.5, 2.0), 0.3, "converged"),
]
STEPS = 400
FACTOR = 1e8
CONVERGED_GAP = 1e-14  # below every start's gap (5e-13 next to f*): no run is converged at t = 0


def _batch(runs):
    start = np.array([start for start, _, _ in runs])
    lr = np.array([lr for _, lr, _ in runs])
    return run_batch(GAUSSIAN, MEAN_VAR, gradient, start, lr, STEPS, CONVERGED_GAP, divergence_factor=FACTOR)


def _rows(result, run):
    """The run's recorded gaps, which must be the iterations 0..last with none missing."""
    recorded = result.recorded[:, run]
    last = result.last_recorded[run]
    assert recorded[: last + 1].all() and not recorded[last + 1 :].any()
    return result.loss[: last + 1, run] - GAUSSIAN.optimum_loss_for(MEAN_VAR)


def test_each_run_of_a_batch_is_the_run_alone():
    """Compaction keeps each surviving run's own learning rate, gap limit and rows."""
    batch = _batch(MIXED_BATCH)
    assert list(batch.status) == [expected for _, _, expected in MIXED_BATCH]
    for run, spec in enumerate(MIXED_BATCH):
        alone = _batch([spec])
        assert batch.status[run] == alone.status[0]
        assert batch.stop_iter[run] == alone.stop_iter[0]
        np.testing.assert_array_equal(batch.recorded[:, run], alone.recorded[:, 0])
        np.testing.assert_allclose(batch.loss[:, run], alone.loss[:, 0], rtol=1e-13, atol=0, equal_nan=True)
        np.testing.assert_allclose(
            batch.states[:, run], alone.states[:, 0], rtol=1e-13, atol=0, equal_nan=True
        )


def test_the_mean_follows_its_own_learning_rate_after_others_stop():
    """μ_t − 3 = (1 − ρ)ᵗ (μ₀ − 3) for each run's own ρ, read from the batch's rows."""
    batch = _batch(MIXED_BATCH)
    for run, ((mean, _), lr, _) in enumerate(MIXED_BATCH[1:], start=1):
        rows = batch.recorded[:, run]
        t = np.flatnonzero(rows)[:30]
        expected = 3.0 + (1.0 - lr) ** t * (mean - 3.0)
        np.testing.assert_allclose(batch.states[t, run, 0], expected, rtol=1e-9, atol=1e-12)


def test_a_run_diverges_exactly_where_its_gap_passes_the_limit():
    """diverged ⇔ a gap passed divergence_factor · max(1, gap₀); it stops on that row, and no gap
    before it did. The runs starting next to f* keep the limit 1e8 (not 1e8 · gap₀)."""
    batch = _batch(MIXED_BATCH)
    for run, (_, _, expected) in enumerate(MIXED_BATCH):
        if expected == "invalid":
            continue
        gap = _rows(batch, run)
        limit = FACTOR * max(1.0, gap[0])
        above = np.flatnonzero(gap > limit)
        if expected == "diverged":
            assert above.size == 1 and above[0] == gap.size - 1 == batch.stop_iter[run]
            # It got there by growing (1 − ρ)² a step: many steps, not one.
            assert batch.stop_iter[run] > 20
        else:
            assert above.size == 0
    # The run next to the optimum: ½(10⁻⁶)²·1.21ᵗ passes 1e8 at t = 246.
    assert batch.stop_iter[3] == pytest.approx(np.log(FACTOR / 5e-13) / np.log(1.21), abs=1.5)


def test_divergence_factor_is_the_one_given():
    tight = run_batch(
        GAUSSIAN,
        MEAN_VAR,
        gradient,
        np.array([[103.0, 1.0]]),
        np.array([2.3]),
        STEPS,
        1e-10,
        divergence_factor=10.0,
    )
    gap = _rows(tight, 0)
    assert tight.status[0] == "diverged"
    assert gap[-1] > 10.0 * gap[0] >= gap[-2]


def test_an_invalid_run_keeps_its_finite_rows_and_stops_where_it_left_the_domain():
    batch = _batch(MIXED_BATCH)
    assert batch.stop_iter[0] == 1 and batch.last_recorded[0] == 0
    assert batch.status[0] in FAILURE_STATUSES


# ½θᵀdiag(1, 10)θ: GD at ρ = 0.205 shrinks the soft coordinate by 0.795 a step and grows the stiff
# one by 1.05. From (1, 10⁻⁶) the gap falls to ~1e-9 near t = 45, then rises again (1.1e-5 at 150).
DIP = {"name": "quadratic", "eigenvalues": [1.0, 10.0], "angle_degrees": 0.0, "optimum": [0.0, 0.0]}


@pytest.mark.parametrize("converged_gap,status", [(1e-8, "converged"), (1e-10, "budget")])
def test_converged_means_some_gap_reached_the_tolerance_not_the_last(converged_gap, status):
    target = make_target(DIP)
    result = run_batch(
        target,
        target.chart("identity"),
        gradient,
        np.array([[1.0, 1e-6]]),
        np.array([0.205]),
        150,
        converged_gap,
    )
    gap = _rows_of(result, target)
    if status == "budget":  # it never reaches 1e-10, so it runs its budget: down to ~1e-9 and up again
        assert gap.min() < 2e-9 and gap[-1] > 1e-6
    assert (gap.min() <= converged_gap) == (status == "converged")
    assert result.status[0] == status
    hits = first_hits(result.loss - target.optimum_loss, (converged_gap,))[0, 0]
    assert hits == (np.flatnonzero(gap <= converged_gap)[0] if status == "converged" else -1)


def _rows_of(result, target):
    last = result.last_recorded[0]
    return result.loss[: last + 1, 0] - target.optimum_loss


def test_a_run_that_dips_and_rises_again_is_converged_when_it_runs_its_budget():
    """The same run with the budget it needs to rise again: while it runs on, its status stays."""
    target = make_target(DIP)
    result = run_batch(
        target, target.chart("identity"), gradient, np.array([[1.0, 1e-6]]), np.array([0.205]), 150, 1e-8
    )
    assert result.status[0] == "converged"
    if result.last_recorded[0] == 150:  # the runner ran it to its budget: it rose again
        assert result.loss[150, 0] > 1e-6


def test_first_hits_is_the_first_iteration_at_or_below_each_tolerance():
    gap = np.array(
        [
            [5.0, 5.0, 5.0],
            [1e-2, 0.5, np.nan],
            [3e-3, 1e-4, np.nan],
            [2e-2, 1e-5, np.nan],
            [1e-4, 1.0, np.nan],
        ]
    )
    np.testing.assert_array_equal(first_hits(gap, (1e-2, 1e-4, 1e-6)), [[1, 2, -1], [4, 2, -1], [-1, -1, -1]])


def test_adam_runs_of_a_batch_are_the_runs_alone_after_a_failure():
    """Adam keeps per-run memory: a failing run first, then runs of other learning rates."""
    target = make_target({"name": "gaussian_1d", "mean": 3.0, "var": 1.0})
    chart = target.chart("mean_var")
    start = np.array([[-2.0, 2.0], [-2.0, 2.0], [1.0, 0.5], [0.0, 3.0]])
    lr = np.array([5.0, 0.01, 0.05, 0.2])  # the first run's first step is ±5: v = 2 − 5 < 0
    both = run_batch(target, chart, adam, start, lr, 60, 1e-30)
    assert both.status[0] == "invalid"
    for run in range(1, 4):
        alone = run_batch(target, chart, adam, start[run : run + 1], lr[run : run + 1], 60, 1e-30)
        np.testing.assert_allclose(
            both.states[:, run], alone.states[:, 0], rtol=1e-12, atol=0, equal_nan=True
        )


MIXTURE = {
    "name": "mixture",
    "weight": 0.3,
    "var": 1.0,
    "means": [-1.0, 2.0],
    "n": 60,
    "data_seed": 0,
    "damping": 1e-3,
}


def test_divergence_is_judged_on_the_gap_where_f_star_is_not_zero():
    """The mixture's f* is 1.78: a loss past the limit is not yet a gap past it."""
    from ngbench.solve import reference_solution

    target = make_target(MIXTURE, reference_solution(MIXTURE))
    chart = target.chart("identity")
    f_star = target.optimum_loss_for(chart)
    assert f_star > 1.0
    lr = np.array([3.0, 5.0, 8.0, 12.0, 20.0, 40.0])
    start = np.tile([-1.0, 2.0], (lr.size, 1))
    factor = 3.0
    result = run_batch(target, chart, gradient, start, lr, 200, 1e-8, divergence_factor=factor)
    near_the_limit = False
    for run in range(lr.size):
        last = result.last_recorded[run]
        gap = result.loss[: last + 1, run] - f_star
        limit = factor * max(1.0, gap[0])
        near_the_limit |= bool(((gap > limit - f_star) & (gap <= limit)).any())
        if result.status[run] == "diverged":
            assert (gap[:-1] <= limit).all() and gap[-1] > limit and result.stop_iter[run] == last
        else:
            assert (gap <= limit).all()
    assert (result.status == "diverged").sum() >= 3
    assert near_the_limit  # some run had a loss past the limit and a gap within it


def test_a_state_outside_the_charts_domain_is_not_recorded_even_with_a_finite_loss():
    """A Cholesky factor with a negative diagonal still gives a finite loss (Σ = LLᵀ is fine), but
    it is outside the chart: the run is invalid from that iterate, and its last row is the one before."""
    target = make_target({"name": "gaussian_nd", "dim": 2, "condition_number": 4.0, "seed": 0})
    chart = target.chart("mean_chol")
    start = target.initial_states({"mean": 0.5, "var": 100.0}, (0, 1, 2))
    lr = np.array([1.0, 0.01, 1.5])  # L = 10 − ρ·(~25) < 0 after one step for ρ ≥ 1
    result = run_batch(target, chart, gradient, start, lr, 20, 1e-8)
    theta = chart.from_canonical(start[:1]) - 1.0 * gradient(
        target, chart, chart.from_canonical(start[:1]), start[:1]
    )
    outside = chart.to_canonical(theta)
    assert not chart.in_domain(theta)[0] and np.isfinite(target.loss_at(chart, theta, outside)).all()
    assert list(result.status) == ["invalid", "budget", "invalid"]
    for run in (0, 2):
        assert result.stop_iter[run] == 1 and result.last_recorded[run] == 0
    assert result.last_recorded[1] == 20


def test_monte_carlo_runs_keep_their_own_noise_after_another_run_stops():
    """Each run draws from its seed's generator: dropping a stopped run must not shift the others'."""
    target = make_target(
        {"name": "gaussian_nd", "dim": 2, "condition_number": 4.0, "seed": 0}, gradient={"mc": 2}
    )
    chart = target.chart("mean_chol")
    seeds = np.array([0, 1, 2, 3])
    start = target.initial_states({"mean": 0.5, "var": 100.0}, tuple(seeds))
    lr = np.array([1.5, 0.01, 0.02, 0.01])
    batch = run_batch(target, chart, gradient, start, lr, 15, 1e-8, seeds=seeds)
    assert batch.status[0] == "invalid" and batch.stop_iter[0] == 1
    for run in range(1, 4):
        alone = run_batch(
            target,
            chart,
            gradient,
            start[run : run + 1],
            lr[run : run + 1],
            15,
            1e-8,
            seeds=seeds[run : run + 1],
        )
        np.testing.assert_allclose(batch.loss[:, run], alone.loss[:, 0], rtol=1e-12, atol=0)


def test_a_run_that_reached_the_tolerance_and_then_diverged_is_diverged():
    """The dipping run given 600 steps: past its dip, ×1.1025 a step takes it over 1e8 near t = 450.
    A failure is a failure whatever gap it reached first (if the runner lets it run on past its hit)."""
    target = make_target(DIP)
    result = run_batch(
        target, target.chart("identity"), gradient, np.array([[1.0, 1e-6]]), np.array([0.205]), 600, 1e-8
    )
    gap = _rows_of(result, target)
    hit = np.flatnonzero(gap <= 1e-8)[0]
    if result.last_recorded[0] > hit:
        assert result.status[0] == "diverged" and gap[-1] > 1e8
    else:  # a runner that stops runs at the smallest tolerance
        assert result.status[0] == "converged"
