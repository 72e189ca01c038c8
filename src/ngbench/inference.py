"""Exact, distribution-free inference for small samples, in integer or decimal arithmetic.

Every p-value and interval bound here is computed from counts with Python integers, `Fraction` or
`Decimal`, never with a library's floating-point special functions, so it is the same number on every
CPU, and its method (exact, not asymptotic) never switches with the sample size or with ties.

- `signed_rank_p`: the two-sided sign-flip test of the Wilcoxon signed-rank statistic, with midranks
  for tied magnitudes and its exact null distribution (no normal approximation, at any n).
- `hodges_lehmann`: the median of the Walsh averages and its distribution-free interval.
- `clopper_pearson`: an interval for a success probability that covers at least its level.
- `median_interval`: order statistics that cover the population median at least at their level.
- `sign_test_p`: the exact two-sided binomial test of a count of wins against ½.
"""

from __future__ import annotations

import decimal
import math
from fractions import Fraction
from functools import cache

import numpy as np

LEVEL = 0.90  # every interval of ngbench: 90 %, 5 % in each tail
from ngbench.power import SWAP_RESAMPLES, swap_test_floor  # noqa: E402,F401 (re-exported)

_DECIMAL = decimal.Context(prec=40)


def _tail(level: float) -> Fraction:
    """(1 − level)/2 as an exact fraction (0.9 → 1/20, not the float 0.04999…)."""
    return (1 - Fraction(level).limit_denominator(10**6)) / 2


def midranks(values) -> list[Fraction]:
    """Ranks 1..n of `values` (any totally ordered keys), ties sharing the mean of their ranks."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks: list[Fraction] = [Fraction(0)] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = Fraction(start + end + 2, 2)
        for position in range(start, end + 1):
            ranks[order[position]] = shared
        start = end + 1
    return ranks


def _null_counts(doubled_ranks: tuple[int, ...]) -> list[int]:
    """counts[t] = number of the 2ⁿ sign patterns whose positive doubled ranks sum to t."""
    counts = [1]
    for rank in doubled_ranks:
        grown = counts + [0] * rank
        for total, ways in enumerate(counts):
            grown[total + rank] += ways
        counts = grown
    return counts


def signed_rank_p(magnitude_keys, signs) -> float:
    """Exact two-sided p of the signed-rank statistic under random signs.

    `magnitude_keys[i]` orders pair i's |difference| (any comparable values, e.g. `Fraction`s, or
    `math.inf` for a difference larger than every finite one); `signs[i]` is +1, −1 or 0 (0: a tie,
    dropped). The statistic is the sum of the midranks of the positive differences; the p-value is
    the probability, over the 2ⁿ equally likely sign patterns of the n non-zero pairs with these
    ranks, of a statistic at least as far from its mean as the one observed. NaN without a non-zero
    pair.
    """
    kept = [(key, sign) for key, sign in zip(magnitude_keys, signs, strict=True) if sign != 0]
    if not kept:
        return math.nan
    ranks = midranks([key for key, _ in kept])
    doubled = tuple(int(2 * rank) for rank in ranks)  # midranks are multiples of ½
    observed = sum(d for d, (_, sign) in zip(doubled, kept, strict=True) if sign > 0)
    total = sum(doubled)
    counts = _null_counts(doubled)
    # |2t − total| ≥ |2·observed − total|, in integers.
    distance = abs(2 * observed - total)
    extreme = sum(ways for t, ways in enumerate(counts) if abs(2 * t - total) >= distance)
    return float(Fraction(extreme, 2 ** len(kept)))


def min_attainable_p(pairs: int) -> float:
    """The smallest two-sided p a signed-rank or sign test on `pairs` pairs can give (all pairs
    non-tied and in one direction): 2·2⁻ⁿ, 1 with at most one pair, NaN without pairs."""
    if pairs <= 0:
        return math.nan
    return float(min(Fraction(1), Fraction(2, 2**pairs)))


def sign_test_p(wins: int, losses: int) -> float:
    """Exact two-sided binomial test of `wins` against `losses` at probability ½ (NaN if both 0)."""
    n = wins + losses
    if n == 0:
        return math.nan
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1))
    return float(min(Fraction(1), Fraction(2 * tail, 2**n)))


@cache
def _signed_rank_lower_cut(n: int, level: float) -> int:
    """The largest c with P(T⁺ ≤ c) ≤ (1 − level)/2 for the signed-rank statistic of n untied
    pairs, −1 when even c = 0 is too likely (too few pairs for an interval at this level)."""
    tail = _tail(level)
    counts = _null_counts(tuple(2 * r for r in range(1, n + 1)))  # doubled ranks 2, 4, …, 2n
    cumulative = 0
    cut = -1
    for doubled_t in range(0, len(counts), 2):  # untied statistics are whole: even doubled sums
        cumulative += counts[doubled_t]
        if Fraction(cumulative, 2**n) > tail:
            break
        cut = doubled_t // 2
    return cut


def hodges_lehmann(differences, level: float = LEVEL) -> tuple[float, float, float]:
    """(estimate, low, high): the median of the Walsh averages (dᵢ + dⱼ)/2, i ≤ j, and the
    distribution-free interval between two of their order statistics set by the exact signed-rank
    null distribution (Hollander & Wolfe): it covers the centre of a symmetric distribution of
    differences with probability ≥ `level`. low and high are NaN when there are too few
    differences for that level (fewer than 5 at 90 %); all three without any difference.
    """
    d = np.sort(np.asarray(differences, dtype=float))
    n = d.size
    if n == 0:
        return math.nan, math.nan, math.nan
    i, j = np.triu_indices(n)
    walsh = np.sort((d[i] + d[j]) / 2)
    estimate = float(np.median(walsh))
    cut = _signed_rank_lower_cut(n, level)
    if cut < 0:
        return estimate, math.nan, math.nan
    # W₍c+1₎ and W₍M−c₎ (1-based) of the M = n(n+1)/2 sorted averages.
    return estimate, float(walsh[cut]), float(walsh[walsh.size - 1 - cut])


def _binomial_tail_at_least(k: int, n: int, p: decimal.Decimal) -> decimal.Decimal:
    """P(X ≥ k) for X ~ Binomial(n, p), in 40-digit decimal."""
    q = _DECIMAL.subtract(1, p)
    total = decimal.Decimal(0)
    for i in range(k, n + 1):
        term = _DECIMAL.multiply(
            _DECIMAL.multiply(decimal.Decimal(math.comb(n, i)), _DECIMAL.power(p, i)),
            _DECIMAL.power(q, n - i),
        )
        total = _DECIMAL.add(total, term)
    return total


def _solve_increasing(function, target: decimal.Decimal) -> float:
    """The p in [0, 1] where an increasing `function(p)` crosses `target`, by 70 bisections."""
    low, high = decimal.Decimal(0), decimal.Decimal(1)
    for _ in range(70):
        middle = _DECIMAL.divide(_DECIMAL.add(low, high), 2)
        if function(middle) < target:
            low = middle
        else:
            high = middle
    return float(_DECIMAL.divide(_DECIMAL.add(low, high), 2))


@cache
def clopper_pearson(successes: int, runs: int, level: float = LEVEL) -> tuple[float, float]:
    """The Clopper–Pearson interval for a success probability from `successes` of `runs`: it covers
    the true probability with probability ≥ `level` for every probability and every n. (NaN, NaN)
    without runs."""
    if runs <= 0:
        return math.nan, math.nan
    exact_tail = _tail(level)
    tail = _DECIMAL.divide(decimal.Decimal(exact_tail.numerator), decimal.Decimal(exact_tail.denominator))
    # low: P(X ≥ k | p) = tail (increasing in p); high: P(X ≤ k | p) = tail, i.e. P(X ≥ k+1) = 1 − tail.
    low = (
        0.0
        if successes == 0
        else _solve_increasing(lambda p: _binomial_tail_at_least(successes, runs, p), tail)
    )
    high = (
        1.0
        if successes == runs
        else _solve_increasing(lambda p: _binomial_tail_at_least(successes + 1, runs, p), 1 - tail)
    )
    return low, high


@cache
def _median_rank(n: int, level: float) -> int:
    """The largest l ≥ 1 with P(Binomial(n, ½) ≤ l − 1) ≤ (1 − level)/2; 0 if none."""
    tail = _tail(level)
    rank = 0
    cumulative = 0
    for below in range(n):
        cumulative += math.comb(n, below)
        if Fraction(cumulative, 2**n) > tail:
            break
        rank = below + 1
    return rank


def median_interval(values, level: float = LEVEL) -> tuple[float, float]:
    """Order statistics [X₍ₗ₎, X₍ₙ₊₁₋ₗ₎] that cover the population median with probability ≥ `level`
    for any distribution, discrete (iteration counts) included. (NaN, NaN) when n is too small for
    that level (fewer than 5 values at 90 %)."""
    ordered = np.sort(np.asarray(values, dtype=float))
    rank = _median_rank(ordered.size, level)
    if rank == 0:
        return math.nan, math.nan
    return float(ordered[rank - 1]), float(ordered[ordered.size - rank])
