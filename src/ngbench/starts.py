"""Start states of the runs: one per seed, shared by every chart and method of a row (paired runs).

Log-uniform draws take their logarithms and exponentials from `ngbench.portable`, so a start is the
same number on every CPU.
"""

from __future__ import annotations

import numpy as np

from ngbench import portable

# Seeds of the start draws live in their own stream so later random streams (minibatches,
# Monte Carlo gradients) never shift them; every chart and method of a row shares them (paired runs).
INIT_STREAM = 0


def draw_coordinate(spec, rng: np.random.Generator) -> float:
    if isinstance(spec, dict):
        if "uniform" in spec:
            low, high = spec["uniform"]
            return float(rng.uniform(low, high))
        low, high = spec["loguniform"]
        return float(portable.exp(rng.uniform(portable.scalar_log(low), portable.scalar_log(high))))
    return float(spec)


def initial_states(state_names: tuple[str, ...], init: dict, seeds: tuple[int, ...]) -> np.ndarray:
    """Canonical start of each seed, shape (len(seeds), k).

    Each coordinate has its own generator keyed by (stream, seed, coordinate), so a start does not
    depend on which other seeds are in the grid, nor on whether other coordinates are random.
    """
    starts = np.empty((len(seeds), len(state_names)))
    for i, seed in enumerate(seeds):
        for j, name in enumerate(state_names):
            rng = np.random.default_rng([INIT_STREAM, seed, j])
            starts[i, j] = draw_coordinate(init[name], rng)
    return starts


def draw_vector(spec, rng: np.random.Generator, size: int) -> np.ndarray:
    """`size` independent draws of one coordinate spec (a number, {uniform: …} or {loguniform: …})."""
    if isinstance(spec, dict):
        if "uniform" in spec:
            low, high = spec["uniform"]
            return rng.uniform(low, high, size)
        low, high = spec["loguniform"]
        return portable.exp(rng.uniform(portable.scalar_log(low), portable.scalar_log(high), size))
    return np.full(size, float(spec))
