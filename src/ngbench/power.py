"""How small a p-value a paired comparison can reach: what the config check warns about before any
job runs, and what the paired tables print. A module of its own, without pandas or the statistics,
so that the config check (which the solver jobs import) does not depend on the statistics' code.
"""

from __future__ import annotations

from fractions import Fraction

# Random swap patterns of the paired test (ngbench.stats.swap_test) when 2ⁿ is more than one more
# than this; its p-value's floor is then 1/(SWAP_RESAMPLES + 1).
SWAP_RESAMPLES = 1999


def swap_test_floor(seeds: int) -> float:
    """The smallest p the swap test can give with `seeds` informative seeds: 2/2ⁿ (all of them one
    way) when it enumerates every pattern, never below 1/(SWAP_RESAMPLES + 1) when it samples."""
    if seeds <= 0:
        return 1.0
    exact = Fraction(2, 2**seeds)
    if 2**seeds > SWAP_RESAMPLES + 1:
        exact = max(exact, Fraction(1, SWAP_RESAMPLES + 1))
    return float(min(Fraction(1), exact))
