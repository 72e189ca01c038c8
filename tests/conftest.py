"""Test-session settings.

BLAS on one thread, as Snakemake runs every job (it sets OPENBLAS_NUM_THREADS to the job's
threads): the tests' matrices are small, and on a shared 2-core machine OpenBLAS's second thread
costs more than it brings (`pytest -m "not slow"` took 54 s with it, 29 s without). pytest loads
this file before any test module imports numpy; an explicit setting in the environment is kept.
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
