"""Exact inference (ngbench.inference) against scipy and brute force, and the coverage its intervals claim."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from ngbench.inference import (
    clopper_pearson,
    hodges_lehmann,
    median_interval,
    min_attainable_p,
    sign_test_p,
    signed_rank_p,
)
from ngbench.stats import iteration_counts

NOMINAL = 0.90
REQUIRED = 0.87  # the floor for a nominal 90 % interval at n = 20, with simulation noise


@pytest.mark.parametrize(
    ("successes", "runs"), [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (7, 20), (15, 40)]
)
def test_clopper_pearson_matches_scipy(successes, runs):
    expected = scipy_stats.binomtest(successes, runs).proportion_ci(NOMINAL, method="exact")
    low, high = clopper_pearson(successes, runs)
    assert low == pytest.approx(expected.low, abs=1e-10) and high == pytest.approx(expected.high, abs=1e-10)


@pytest.mark.parametrize("p", [0.02, 0.1, 0.3, 0.5, 0.7, 0.95])
def test_clopper_pearson_covers_at_its_level_exactly_computed(p):
    """Coverage summed over every outcome k of Binomial(20, p): no simulation noise at all."""
    coverage = sum(
        scipy_stats.binom.pmf(k, 20, p)
        for k in range(21)
        if clopper_pearson(k, 20)[0] <= p <= clopper_pearson(k, 20)[1]
    )
    assert coverage >= NOMINAL


def test_signed_rank_and_sign_tests_match_scipy_exact():
    rng = np.random.default_rng(0)
    for n in (1, 4, 9, 15):
        d = rng.normal(0.4, 1.0, n)
        p = signed_rank_p(np.abs(d).tolist(), np.sign(d).astype(int).tolist())
        assert p == pytest.approx(scipy_stats.wilcoxon(d, method="exact").pvalue, rel=1e-12)
    for wins, losses in ((0, 0), (3, 0), (9, 1), (4, 6), (12, 3)):
        p = sign_test_p(wins, losses)
        if wins + losses == 0:
            assert math.isnan(p)
        else:
            assert p == pytest.approx(scipy_stats.binomtest(wins, wins + losses).pvalue, rel=1e-12)


@pytest.mark.parametrize("pairs", [1, 2, 5, 10, 20])
def test_min_attainable_p_is_reached_by_pairs_all_one_way(pairs):
    p = signed_rank_p(list(range(1, pairs + 1)), [1] * pairs)
    assert p == min_attainable_p(pairs) == min(1.0, 2 / 2**pairs)


def test_median_interval_order_statistics_at_n_20():
    # P(Binomial(20, ½) ≤ 5) = 0.0207 ≤ 0.05 < P(≤ 6) = 0.0577: the 6th and the 15th of 20.
    values = np.arange(100, 120)
    assert median_interval(values[::-1]) == (105.0, 114.0)
    assert all(math.isnan(x) for x in median_interval([3, 1, 2, 5]))  # 2⁻⁴ > 0.05 per tail: none
    assert median_interval(range(5)) == (0.0, 4.0)  # 2⁻⁵ = 0.031 ≤ 0.05 per tail: min and max


def test_hodges_lehmann_is_the_median_of_walsh_averages():
    rng = np.random.default_rng(2)
    d = rng.normal(size=9)
    walsh = [(d[i] + d[j]) / 2 for i in range(9) for j in range(i, 9)]
    estimate, low, high = hodges_lehmann(d)
    assert estimate == pytest.approx(np.median(walsh), rel=1e-14)
    assert low <= estimate <= high
    assert all(math.isnan(x) for x in hodges_lehmann([1.0, 2.0, 3.0, 4.0])[1:])  # too few for 90 %


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng, size: rng.normal(0.7, 1.0, size),
        lambda rng, size: 0.7 + rng.laplace(0.0, 1.0, size),
        lambda rng, size: 0.7 + rng.standard_t(3, size),
        lambda rng, size: rng.uniform(-0.3, 1.7, size),
    ],
    ids=["normal", "laplace", "t3", "uniform"],
)
def test_hodges_lehmann_interval_covers_the_centre_at_n_20(draw):
    rng = np.random.default_rng(7)
    covered = 0
    trials = 1500
    for _ in range(trials):
        _, low, high = hodges_lehmann(draw(rng, 20))
        covered += low <= 0.7 <= high
    assert covered / trials >= REQUIRED


def simulated_cells(rng, trials: int, runs: int, success_probability: float) -> pd.DataFrame:
    """`trials` cells of `runs` runs each: a run succeeds with `success_probability` after a
    lognormal number of iterations (median 60, rounded up), else fails fast, at step 1."""
    success = rng.random((trials, runs)) < success_probability
    iterations = np.ceil(rng.lognormal(np.log(60.0), 0.8, (trials, runs)))
    return pd.DataFrame(
        {
            "experiment": "coverage",
            "target": "simulated",
            "parameterization": "p",
            "method": "m",
            "lr": np.repeat(np.arange(trials, dtype=float), runs),
            "seed": np.tile(np.arange(runs), trials),
            "tolerance": 1e-8,
            "hit_iter": np.where(success, iterations, np.nan).ravel(),
            "stop_iter": np.where(success, iterations, 1).ravel(),
            "budget": 1000,
            "status": np.where(success, "converged", "invalid").ravel(),
            "final_gap": np.where(success, 1e-9, 1.0).ravel(),
            "grad_evals": 1,
            "solves": 0,
            "settled": True,
        }
    )


@pytest.mark.parametrize("success_probability", [0.3, 0.7, 1.0])
def test_table_intervals_cover_at_n_20_with_fast_failures(success_probability):
    """What the iteration-count tables print, on a known runtime distribution: the success-rate
    interval covers the success probability, the median interval the median successful runtime
    (ceil of a lognormal with median 60: 60), each in ≥ 87 % of 2,000 simulated cells of 20 runs."""
    rng = np.random.default_rng(11)
    table = iteration_counts(simulated_cells(rng, 2000, 20, success_probability))
    rate_covered = (table["success_low"] <= success_probability) & (
        success_probability <= table["success_high"]
    )
    assert rate_covered.mean() >= REQUIRED
    given = table["median_iters_low"].notna()
    assert (given == (table["successes"] >= 5)).all()  # an interval exactly where n supports one
    median_covered = (table.loc[given, "median_iters_low"] <= 60) & (
        60 <= table.loc[given, "median_iters_high"]
    )
    assert median_covered.mean() >= REQUIRED
