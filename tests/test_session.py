"""The test session's settings (tests/conftest.py) hold in the process that runs a test, a pytest-xdist
worker (`pytest -n 2`) included."""

from __future__ import annotations

import os

import numpy as np
import pytest


@pytest.mark.parametrize("probe", range(4))  # several, so that under `-n 2` each worker runs some
def test_blas_runs_on_the_sessions_threads_in_every_test_process(probe):
    """conftest.py sets OPENBLAS_NUM_THREADS=1 (an explicit setting is kept) before numpy loads
    OpenBLAS; a worker started by pytest-xdist inherits it and loads conftest.py itself first."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    np.ones((2, 2)) @ np.ones((2, 2))  # BLAS loaded
    pools = [pool for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]
    assert pools, threadpoolctl.threadpool_info()
    wanted = int(os.environ["OPENBLAS_NUM_THREADS"])
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    assert all(pool["num_threads"] == wanted for pool in pools), (worker, pools)
