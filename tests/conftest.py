"""Test-session settings.

BLAS on one thread, as Snakemake runs every job (it sets OPENBLAS_NUM_THREADS to the job's
threads): the tests' matrices are small, and on a shared 2-core machine OpenBLAS's second thread
costs more than it brings (`pytest -m "not slow"` took 54 s with it, 29 s without). pytest loads
this file before any test module imports numpy; an explicit setting in the environment is kept.
"""

import os
import sys

import pytest

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")


@pytest.fixture(autouse=True)
def _no_answers_cached_from_unmutated_code():
    """Under mutmut (it sets MUTANT_UNDER_TEST), each mutant's tests run in a process forked after the
    unmutated suite ran, whose functools caches (Clopper–Pearson intervals, median ranks) would answer
    without calling the mutated code: empty them before each test. A plain pytest run keeps them."""
    if os.environ.get("MUTANT_UNDER_TEST"):
        for name, module in list(sys.modules.items()):
            if name.startswith("ngbench"):
                for value in list(vars(module).values()):
                    if callable(getattr(value, "cache_clear", None)):
                        value.cache_clear()
    yield
