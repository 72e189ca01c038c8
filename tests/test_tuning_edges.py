"""The tuning and ranking statistics at their edges: the aRT a rule reports, a tolerance the runs were
not scored at, the order of the iteration table, and the batched signed-rank statistic with ties."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata

from ngbench.stats import _signed_rank_statistic, best_learning_rates, iteration_counts
from tests.test_stats import gaussian_1d_like, synthetic_summaries

# 8/10 successes at 10 iterations against 10/10 at 40 (tests/test_stats.py::test_tuning_rules).
RATES = {0.5: (8, 10), 0.1: (10, 40)}


@pytest.mark.parametrize(
    ("rule", "lr", "art"), [("art", 0.5, (8 * 10 + 2 * 100) / 8), ("success_first", 0.1, 40.0)]
)
def test_the_tuning_art_is_that_of_the_chosen_lr_on_the_tuning_seeds(rule, lr, art):
    """aRT by hand: the iterations of every tuning run (a failure charged its budget of 100) over the
    successes."""
    best = best_learning_rates(gaussian_1d_like(RATES), 1e-8, rule)
    assert (best["best_lr"] == lr).all()
    assert best["tuning_art"].tolist() == pytest.approx([art, art], rel=1e-12)


def test_tuning_at_a_tolerance_no_run_was_scored_at_is_refused():
    """Runs scored at 1e-8 only: tuning at the 100 times tighter 1e-10 must not quietly use them (the
    two differ by less than numpy's default absolute tolerance, 1e-8)."""
    summaries = synthetic_summaries()
    with pytest.raises(ValueError, match="no runs at tolerance 1e-10 to tune on"):
        best_learning_rates(summaries, 1e-10)


def test_the_iteration_table_lists_each_cells_learning_rates_ascending():
    summaries = synthetic_summaries()
    table = iteration_counts(summaries.iloc[::-1].reset_index(drop=True))
    for _, cell in table.groupby(["experiment", "parameterization", "method"], sort=False):
        assert cell["lr"].tolist() == [0.1, 0.5]


def _signed_rank_by_hand(first: np.ndarray, second: np.ndarray) -> float:
    """Σ sign·rank over the pairs that differ: ranks of the log speed-up, a success against a
    failure beyond every finite one (as tests/test_stats.py's oracle)."""
    both = np.isfinite(first) & np.isfinite(second)
    scores = np.where(both, np.log(np.where(both, second, 1) / np.where(both, first, 1)), 0.0)
    scores[np.isfinite(first) & ~np.isfinite(second)] = np.inf
    scores[~np.isfinite(first) & np.isfinite(second)] = -np.inf
    kept = scores[scores != 0]
    return float(np.sum(np.sign(kept) * rankdata(np.abs(kept))))


def test_the_batched_signed_rank_statistic_drops_each_rows_own_ties():
    """Rows with 0, 1 and 3 tied pairs, as the swap test's patterns have: each row's statistic is the
    one it has alone."""
    first = np.array([[10.0, 20, 30, 40, 50], [10, 20, 30, 40, 50], [10, 20, 30, 40, np.inf]])
    second = np.array([[12.0, 15, 33, 60, 45], [10, 25, 28, 44, np.inf], [10, 20, 30, 50, 40]])
    batched = _signed_rank_statistic(first, second)
    for row in range(3):
        assert batched[row] == pytest.approx(_signed_rank_by_hand(first[row], second[row]), abs=1e-12)
        assert batched[row] == _signed_rank_statistic(first[row : row + 1], second[row : row + 1])[0]
