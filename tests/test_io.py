"""The solver's Arrow columns and the parquet files they become."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ngbench.io import (
    TRAJECTORY_SCHEMA,
    ResultFileError,
    _describe,
    atomic_write,
    numeric_column,
    read_json,
    read_provenance,
    read_trajectories,
    repeated_names,
    result_file_problem,
    with_provenance,
    write_json,
    write_parquet,
    write_text,
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


# --- what mutation testing found unchecked (issue 19) -----------------------------------------------


def random_trajectories(rows: int, seed: int = 0) -> pa.Table:
    """A trajectory table of `rows` rows: repeated names in the string columns, random floats."""
    rng = np.random.default_rng(seed)
    columns = {}
    for field in TRAJECTORY_SCHEMA:
        if pa.types.is_string(field.type):
            columns[field.name] = pa.array(rng.choice(["gd", "ngd", "adam"], rows))
        elif pa.types.is_integer(field.type):
            columns[field.name] = pa.array(np.arange(rows), type=field.type)
        else:
            columns[field.name] = pa.array(rng.standard_normal(rows))
    return pa.table(columns, schema=TRAJECTORY_SCHEMA)


def test_a_flipped_bit_in_a_file_is_an_error_not_numbers_read_wrong(tmp_path):
    """Every page carries a checksum the readers verify. Without it, a flipped bit in a zstd block of
    floats reads back as different numbers, silently (checked: 20 of 20 positions)."""
    path = tmp_path / "runs.parquet"
    write_parquet(random_trajectories(20_000), path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(ResultFileError, match="not a readable parquet file"):
        read_trajectories([path])


def test_files_are_compressed_and_dictionary_encode_only_their_strings(tmp_path):
    path = tmp_path / "runs.parquet"
    write_parquet(random_trajectories(1000), path)
    row_group = pq.ParquetFile(path).metadata.row_group(0)
    for index, field in enumerate(TRAJECTORY_SCHEMA):
        column = row_group.column(index)
        assert column.compression == "ZSTD", field.name
        assert ("RLE_DICTIONARY" in column.encodings) == pa.types.is_string(field.type), field.name


def test_reading_some_columns_reads_only_those(tmp_path):
    path = tmp_path / "runs.parquet"
    table = random_trajectories(50)
    write_parquet(table, path)
    frame = read_trajectories([path], columns=["lr", "loss"])
    assert list(frame.columns) == ["lr", "loss"]
    np.testing.assert_array_equal(frame["loss"], table["loss"].to_numpy())


def test_json_files_are_the_same_bytes_whatever_the_key_order(tmp_path):
    """Reference solutions and timings are JSON: sorted keys, one value a line, a final newline, so a
    rerun writes the same bytes and a diff shows the one value that changed."""
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    data = {"optimum_loss": 0.25, "optimum": {"mean": [1.0, 2.0], "var": 0.5}, "nodes": 20}
    write_json(data, first)
    write_json(dict(reversed(data.items())), second)
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text()
    assert text.endswith("}\n") and len(text.splitlines()) > len(data)
    assert list(json.loads(text)) == sorted(data)
    assert read_json(first, ("optimum_loss",)) == data


def test_text_files_are_utf8_with_unix_newlines(tmp_path):
    path = tmp_path / "table.md"
    write_text("| ρ ≥ 0.5 | σ² |\n", path)
    assert path.read_bytes() == "| ρ ≥ 0.5 | σ² |\n".encode()


def test_result_file_errors_say_what_is_wrong_on_one_line(tmp_path):
    path = tmp_path / "reference.json"
    path.write_text('{"optimum_loss": NaN}')
    with pytest.raises(ResultFileError, match=r"reference\.json: not a result: it holds NaN$"):
        read_json(path, ("optimum_loss",))
    with pytest.raises(ResultFileError, match=r"^no input files$"):
        read_trajectories([])
    assert _describe(OSError("bad page\n\x00\x01 at offset 4")) == "bad page at offset 4"


def test_a_truncated_file_is_named_as_truncated(tmp_path):
    path = tmp_path / "runs.parquet"
    write_parquet(random_trajectories(100), path)
    path.write_bytes(path.read_bytes()[:-100])
    problem = result_file_problem(path, "runs")
    assert problem is not None and "truncated" in problem


def test_each_unreadable_file_is_an_error_that_says_why(tmp_path):
    good = tmp_path / "good.parquet"
    write_parquet(random_trajectories(10), good)
    with pytest.raises(ResultFileError, match=r"absent\.parquet: missing$"):
        read_trajectories([good, tmp_path / "absent.parquet"])
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    with pytest.raises(
        ResultFileError, match=r"garbage\.parquet: not a readable parquet file \((?!None\)).+\)$"
    ):
        read_trajectories([garbage])
    old = tmp_path / "old.parquet"
    write_parquet(random_trajectories(10).drop_columns(["gap", "status"]), old)
    with pytest.raises(ResultFileError, match=r"old\.parquet: .*; missing columns gap, status$"):
        read_trajectories([old])
    retyped = tmp_path / "retyped.parquet"
    table = random_trajectories(10)
    write_parquet(
        table.set_column(table.schema.get_field_index("seed"), "seed", pa.array(["x"] * 10)), retyped
    )
    with pytest.raises(
        ResultFileError, match=r"retyped\.parquet: columns of unexpected types \((?!None\)).+\)$"
    ):
        read_trajectories([retyped])


def test_files_read_together_are_one_table_with_one_row_number_each(tmp_path):
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    for seed, path in enumerate(paths):
        write_parquet(random_trajectories(5, seed), path)
    frame = read_trajectories(paths)
    assert list(frame.index) == list(range(10))


def test_writes_are_atomic_hidden_and_readable_by_the_group(tmp_path):
    """The temporary file is a dot-file beside the result (dataset discovery skips it; the rename
    stays on one file system); the result gets the mode a plain `open` would give, not mkstemp's 0600;
    a writer that fails leaves the old result and no temporary file; a killed writer's leftovers go."""
    path = tmp_path / "runs" / "cell.parquet"
    seen = []

    def write(tmp):
        seen.append(Path(tmp))
        Path(tmp).write_text("new")

    path.parent.mkdir()
    leftover = path.parent / ".cell.parquet.killed.tmp"
    leftover.write_text("half")
    atomic_write(path, write)
    assert path.read_text() == "new" and not leftover.exists()
    assert seen[0].parent == path.parent
    assert seen[0].name.startswith(".cell.parquet.") and seen[0].name.endswith(".tmp")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask

    def fail(tmp):
        Path(tmp).write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        atomic_write(path, fail)
    assert path.read_text() == "new" and sorted(path.parent.iterdir()) == [path]


def test_provenance_is_the_same_bytes_whatever_the_key_order_and_holds_paths():
    table = random_trajectories(3)
    first = with_provenance(table, {"cell": {"lr": 0.1, "method": "gd"}, "reference": Path("results/x.json")})
    second = with_provenance(
        table, {"reference": Path("results/x.json"), "cell": {"method": "gd", "lr": 0.1}}
    )
    assert first.schema.metadata == second.schema.metadata
    assert json.loads(first.schema.metadata[b"ngbench"])["reference"] == "results/x.json"
