"""The solver's Arrow columns and the parquet files they become."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ngbench.io import (
    TRAJECTORY_SCHEMA,
    numeric_column,
    read_provenance,
    read_trajectories,
    repeated_names,
    with_provenance,
    write_parquet,
)
from tests.test_runner import cell


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.int32])
def test_numeric_column_equals_pa_array(dtype):
    values = np.arange(-5, 20, dtype=dtype)[::2]  # not contiguous
    valid = values % 3 != 0
    assert numeric_column(values).equals(pa.array(values))
    assert numeric_column(values, valid=valid).equals(pa.array(values, mask=~valid))
    assert numeric_column(values, valid=valid).null_count == int((~valid).sum())


def test_numeric_column_refuses_booleans():
    with pytest.raises(TypeError, match="bool"):
        numeric_column(np.array([True, False]))


def test_repeated_names_equals_dictionary_encoding():
    names = ("converged", "budget", "diverged", "invalid", "ünïcode")
    codes = np.array([4, 0, 0, 3, 1, 2, 4])
    column = repeated_names(names, codes)
    assert column.to_pylist() == [names[c] for c in codes]
    assert column.dictionary.equals(pa.array(list(names)))


def test_files_hold_plain_strings_and_provenance(tmp_path):
    from ngbench.solve import solve_cell

    solved = solve_cell(cell(method="ngd", learning_rates=[0.1, 0.5, 3.0], seeds=[0, 1, 2]))
    path = tmp_path / "cell.parquet"
    write_parquet(solved.trajectories, path)
    on_disk = pq.read_schema(path)
    assert on_disk.remove_metadata().equals(TRAJECTORY_SCHEMA)
    assert read_provenance(path)["cell"]["method"] == "ngd"
    frame = read_trajectories([path])
    expected = solved.trajectories.cast(TRAJECTORY_SCHEMA).to_pandas()
    assert frame.equals(expected)
    # Each run's rows carry its own status: ρ = 3 leaves the domain at its first step (v₁ < 0).
    statuses = frame.groupby(["lr", "seed"])["status"].agg(set)
    assert statuses.to_dict() == {
        (lr, seed): {"invalid" if lr == 3.0 else "converged"} for lr in (0.1, 0.5, 3.0) for seed in (0, 1, 2)
    }
    assert (frame.loc[frame["lr"] == 3.0, "iter"] == 0).all()


def test_a_solver_job_never_imports_pandas(tmp_path):
    """A solver job is the library without pandas (importing it would cost every job ~0.25 s)."""
    code = f"""
import sys
from ngbench.io import write_parquet
from ngbench.solve import solve_chart
params = {{
    "experiment": "no_pandas",
    "target": {{"name": "gaussian_1d", "mean": 3.0, "var": 1.0}},
    "init": {{"mean": -2.0, "var": 2.718281828459045}},
    "parameterization": "mean_std",
    "methods": ["gd", "ngd"],
    "learning_rates": [0.1, 5.0],
    "seeds": [0, 1],
    "steps": 50,
    "divergence_factor": 1e8,
    "tolerances": [1e-2, 1e-8],
}}
solved = solve_chart(params)
write_parquet(solved.trajectories, {str(tmp_path / "t.parquet")!r})
write_parquet(solved.summaries, {str(tmp_path / "s.parquet")!r})
print("pandas imported:", "pandas" in sys.modules)
"""
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "pandas imported: False" in ran.stdout


def test_with_provenance_survives_the_write(tmp_path):
    table = pa.table({"x": numeric_column(np.arange(3.0))})
    path = tmp_path / "x.parquet"
    write_parquet(with_provenance(table, {"b": 1, "a": [2]}), path)
    assert read_provenance(path) == {"a": [2], "b": 1}
