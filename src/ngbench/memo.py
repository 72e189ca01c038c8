"""Results shared between the calls of one runner step, found by the identity of the step's arrays.

One iteration of the runner asks a chart and a target for the canonical state, the domain, the loss
and then the direction of the same θ, and each of them would otherwise factor the same matrices
again (a d × d Cholesky factor or inverse costs more than the rest of a step). While
`STEP.scope()` is open, `STEP.get(kind, array, compute)` computes `compute()` once per (kind,
array object) and hands back the same result after.

Identity is a safe key only while no array is written in place: the runner forgets every entry
before it updates θ in place, and charts, targets and methods never write into their inputs.
Outside a scope (tests, the invariance audit, reference solves) nothing is kept and every call
computes, so no caller sees a stale result. A value `get` finds is the one the same `compute` gave,
bit for bit. `put` records what a chart knows by other means (Σ⁻¹ of a chart that holds Λ = Σ⁻¹
itself): callers in the scope then get that value, equal to what `compute` would give up to
rounding, and more accurate.

A scope also asks the C allocator to keep freed memory (`retain_freed_memory`): a step's d × d
temporaries are freed and allocated again every step, and given back to the kernel in between
they cost a page fault per 4 KiB touched, a third of a step at d = 100 (README, "Performance").
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

# glibc's mallopt parameters (malloc.h) and the largest mmap threshold it accepts on 64-bit systems.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_LARGEST_MMAP_THRESHOLD = 32 * 1024 * 1024
_retained = False


def retain_freed_memory() -> bool:
    """Have glibc's malloc serve blocks up to 32 MiB from its heap and never trim the heap back, so
    freed arrays are reused without page faults; whether it was set (False off glibc: no change).

    By default glibc maps each block above its (adaptive) threshold afresh and returns the heap's top
    to the kernel once 128 KiB or more is free: a step's 2 MiB temporaries (28 runs × 100 × 100) then
    fault every page again. The process keeps its peak heap instead; numbers are unchanged. Once per
    process; a solver job is one.
    """
    global _retained
    if _retained or not sys.platform.startswith("linux"):
        return _retained
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (or no symbol table to search): leave it alone
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # mallopt returns 1 on success; musl's stub returns 0 and changes nothing.
    _retained = bool(mallopt(_M_MMAP_THRESHOLD, _LARGEST_MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)
    )
    return _retained


class StepMemo:
    def __init__(self) -> None:
        self._open = False
        self._entries: dict[tuple[str, int], tuple[np.ndarray, Any]] = {}

    @contextmanager
    def scope(self) -> Iterator[None]:
        retain_freed_memory()
        self._open, self._entries = True, {}
        try:
            yield
        finally:
            self._open, self._entries = False, {}

    def forget(self) -> None:
        self._entries = {}

    def get(self, kind: str, array: np.ndarray, compute: Callable[[], Any]) -> Any:
        if not self._open:
            return compute()
        key = (kind, id(array))
        found = self._entries.get(key)
        # The entry holds the array itself, so its id cannot be reused by another while it lasts.
        if found is not None and found[0] is array:
            return found[1]
        value = compute()
        self._entries[key] = (array, value)
        return value

    def put(self, kind: str, array: np.ndarray, value: Any) -> None:
        """Record what is known of `array` without computing it (e.g. Σ⁻¹ of a chart that holds Λ)."""
        if self._open:
            self._entries[(kind, id(array))] = (array, value)


STEP = StepMemo()
