"""The data contract on disk: one parquet schema for every trajectory file, one for run summaries.

`pandas.read_parquet("results/runs")` reads a whole directory with the schema of the first file
it meets and silently drops columns the others add, so every trajectory file carries the same
columns: the state columns of every target, null where a target has no such coordinate.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ngbench.integrity import load_json, move_aside, parquet_problem

# Canonical state columns of every target, in file order.
STATE_COLUMNS = ("mean", "var", "theta_0", "theta_1")
# Per-iterate metrics of high-dimensional targets, whose full state is not stored: the distance
# ‖μ − μ*‖ of the mean to the optimum's, and the held-out log-loss of a posterior approximation.
METRIC_COLUMNS = ("mean_error", "test_log_loss")

RUN_KEY_FIELDS = [
    pa.field("experiment", pa.string()),
    pa.field("target", pa.string()),
    pa.field("parameterization", pa.string()),
    pa.field("method", pa.string()),
    pa.field("lr", pa.float64()),
    pa.field("seed", pa.int64()),
]

TRAJECTORY_SCHEMA = pa.schema(
    RUN_KEY_FIELDS
    + [
        pa.field("iter", pa.int64()),
        pa.field("loss", pa.float64()),
        pa.field("gap", pa.float64()),
        pa.field("status", pa.string()),
    ]
    + [pa.field(name, pa.float64()) for name in STATE_COLUMNS + METRIC_COLUMNS]
)

# One row per (run, tolerance). `hit_iter` is the first iteration with gap ≤ tolerance (null if
# never); `stop_iter` the last iteration the run reached (its hit at the smallest tolerance if it
# stopped there, see ngbench.runner.run_batch); `budget` the steps it was allowed. The
# statistics charge a run hit_iter if it got there and the whole budget otherwise: when an unstable
# run blows up is noise (it moves from one CPU to another), that it failed is not. Wall time is not
# here: it differs between runs of the same config, and these files are byte-identical across reruns.
SUMMARY_SCHEMA = pa.schema(
    RUN_KEY_FIELDS
    + [
        pa.field("tolerance", pa.float64()),
        pa.field("hit_iter", pa.int64()),
        pa.field("stop_iter", pa.int64()),
        pa.field("budget", pa.int64()),
        pa.field("status", pa.string()),
        pa.field("initial_gap", pa.float64()),
        pa.field("final_gap", pa.float64()),
        # Whether the run ended settled (see ngbench.solve.settled_runs): only then are its final
        # metrics summarised, since where an unsettled run ends is up to chaos.
        pa.field("settled", pa.bool_()),
    ]
    # The metrics of the run's last iterate (null where a target has no such metric).
    + [pa.field(f"final_{name}", pa.float64()) for name in METRIC_COLUMNS]
    + [
        # The cost of the iterations counted above (hit_iter, else stop_iter): gradient evaluations
        # (one per Monte Carlo sample) and linear solves with a Fisher, Hessian or their surrogate.
        pa.field("grad_evals", pa.int64()),
        pa.field("solves", pa.int64()),
    ]
)


def boolean_column(values: np.ndarray) -> pa.Array:
    """An Arrow boolean array from numpy booleans (bit-packed), without `pa.array` (see below)."""
    values = np.ascontiguousarray(values, dtype=bool)
    bits = np.packbits(values, bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), values.size, [None, pa.py_buffer(bits)])


def numeric_column(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """An Arrow array over a numeric numpy array (null where `valid` is False), without a copy.

    Not `pa.array`: it imports pandas to check whether its argument is a pandas object, which was a
    quarter of a second of every solver job, a job that otherwise never needs pandas.
    """
    values = np.ascontiguousarray(values)
    if values.dtype.kind not in "iuf":  # Arrow packs booleans in bits, and objects are not numbers
        raise TypeError(f"numeric_column takes integers or floats, not {values.dtype}")
    validity, nulls = None, 0
    if valid is not None and not valid.all():
        validity, nulls = pa.py_buffer(np.packbits(valid, bitorder="little")), int((~valid).sum())
    return pa.Array.from_buffers(
        pa.from_numpy_dtype(values.dtype), len(values), [validity, pa.py_buffer(values)], null_count=nulls
    )


def repeated_names(names: tuple[str, ...], codes: np.ndarray) -> pa.DictionaryArray:
    """The column whose row i is `names[codes[i]]`, as a dictionary array (one int32 per row)."""
    encoded = [name.encode() for name in names]
    offsets = np.cumsum([0] + [len(name) for name in encoded], dtype=np.int32)
    dictionary = pa.Array.from_buffers(
        pa.string(), len(names), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    )
    return pa.DictionaryArray.from_arrays(numeric_column(codes.astype(np.int32, copy=False)), dictionary)


def with_provenance(table: pa.Table, provenance: dict) -> pa.Table:
    """Attach provenance (config cell, package versions) as schema metadata, in a stable key order."""
    text = json.dumps(provenance, sort_keys=True, default=str)
    return table.replace_schema_metadata({b"ngbench": text.encode()})


def read_provenance(path: str | Path) -> dict:
    return json.loads(pq.read_schema(path).metadata[b"ngbench"])


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write(path: str | Path, write) -> None:
    """Write through a temporary file in the same directory, then rename: readers never see half a file.

    The temporary name starts with '.', which pyarrow's dataset discovery skips.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a writer killed mid-write
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's 0600 would make results private to one user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dictionary_encoded(schema: pa.Schema) -> pa.Schema:
    """`schema` with its string columns dictionary-encoded: how the solver holds its tables.

    A trajectory file repeats a handful of names (experiment, chart, method, status) on millions of
    rows; as dictionary arrays they cost one small integer per row instead of a string.
    """
    fields = [
        field.with_type(pa.dictionary(pa.int32(), field.type)) if pa.types.is_string(field.type) else field
        for field in schema
    ]
    return pa.schema(fields, metadata=schema.metadata)


def write_parquet(table: pa.Table, path: str | Path) -> None:
    """Write `table`, whose string columns may be dictionary arrays, as a file of plain string columns.

    Fixed writer options: same table and library versions give the same bytes. Dictionary encoding
    pays for the repeated strings only; on float columns it is work thrown away. The Arrow schema
    is not stored, so readers see the Parquet types (string, not dictionary); the provenance
    metadata is stored as the file's key-value metadata, where `read_provenance` finds it.
    Every page carries a CRC32 of its bytes, which the readers below verify: a damaged page is an
    error naming the file, not numbers read wrong. It costs 4 bytes a page (5 kB, 0.02 %, of a
    23 MB trajectory file) and ~2 % of the time to write or read it, within this machine's noise.
    """
    strings = [field.name for field in table.schema if _is_text(field.type)]
    # One dictionary per column for the whole file: chunks with different dictionaries (one per
    # method) would make the writer fall back to plain encoding.
    table = table.unify_dictionaries()

    def write(tmp):
        options = {
            "compression": "zstd",
            "compression_level": 1,
            "use_dictionary": strings,
            "write_page_checksum": True,
        }
        with pq.ParquetWriter(tmp, table.schema.remove_metadata(), store_schema=False, **options) as writer:
            writer.write_table(table)
            if table.schema.metadata:
                writer.add_key_value_metadata(table.schema.metadata)

    atomic_write(path, write)


def _is_text(arrow_type: pa.DataType) -> bool:
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    return pa.types.is_string(arrow_type)


def write_json(data: dict, path: str | Path) -> None:
    write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", path)


def read_json(path: str | Path, required: tuple[str, ...] = ()) -> dict:
    """A JSON object with these keys; NaN or Infinity anywhere in it is an error, as is any damage."""
    data, problem = load_json(path, required)
    if problem is not None:
        raise ResultFileError(problem, path)
    return data


def write_text(text: str, path: str | Path) -> None:
    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)

    atomic_write(path, write)


class ResultFileError(ValueError):
    """A results file that is missing, unreadable or not of the expected schema: `path: problem`."""

    def __init__(self, problem: str, path: str | Path | None = None):
        super().__init__(problem if path is None else f"{path}: {problem}")
        self.path, self.problem = path, problem


def _describe(error: Exception) -> str:
    """pyarrow's message on one line: on damaged bytes it can hold newlines and the bytes themselves."""
    return " ".join("".join(c if c.isprintable() else " " for c in str(error)).split())


def _read_table(path, schema: pa.Schema) -> pa.Table:
    """The file's columns of `schema`, cast to it; every page's checksum verified if it has one."""
    if not Path(path).exists():
        raise ResultFileError("missing", path)
    try:
        present = pq.read_schema(path).names
    except (OSError, pa.ArrowException) as exc:
        raise ResultFileError(f"not a readable parquet file ({_describe(exc)})", path) from None
    missing = [name for name in schema.names if name not in present]
    if missing:
        # An old file (from before the schema gained a column) or another program's.
        raise ResultFileError(f"not an ngbench file of this kind; missing columns {', '.join(missing)}", path)
    try:
        table = pq.read_table(path, columns=schema.names, page_checksum_verification=True)
    except (OSError, pa.ArrowException) as exc:
        raise ResultFileError(f"not a readable parquet file ({_describe(exc)})", path) from None
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowException, ValueError) as exc:
        raise ResultFileError(f"columns of unexpected types ({_describe(exc)})", path) from None


def _read_checked(paths, schema: pa.Schema, columns=None):
    import pandas as pd

    if columns is not None:
        schema = pa.schema([schema.field(name) for name in columns])
    frames = [_read_table(path, schema).to_pandas() for path in paths]
    if not frames:
        raise ResultFileError("no input files")
    return pd.concat(frames, ignore_index=True)


def read_summaries(paths):
    return _read_checked(paths, SUMMARY_SCHEMA)


def read_trajectories(paths, columns=None):
    """Trajectory files as one DataFrame; `columns` reads only those (the others stay on disk)."""
    return _read_checked(paths, TRAJECTORY_SCHEMA, columns)


def result_file_problem(path: str | Path, kind: str) -> str | None:
    """Why a "runs" or "summaries" file cannot be read, or None: the whole file read, as a job would."""
    problem = parquet_problem(path)
    if problem is not None:
        return problem
    try:
        _read_table(path, {"runs": TRAJECTORY_SCHEMA, "summaries": SUMMARY_SCHEMA}[kind])
    except ResultFileError as error:
        return error.problem
    return None


@contextmanager
def damaged_inputs_end_the_job():
    """In a workflow job: a damaged input ends it with one message, and is moved aside to be recomputed.

    The message goes to the job's log and to stderr, and says what happened to the file: moved to
    results/damaged/..., where the next run of the workflow sees it missing and recomputes it and
    everything made from it. A job would otherwise end in a traceback, and fail again on every rerun.
    """
    try:
        yield
    except ResultFileError as error:
        message = f"ngbench: cannot use {error}"
        if error.path is not None and Path(error.path).exists():
            message += f".\nMoved it to {move_aside(error.path)}; run the workflow again to recompute it."
        elif error.path is not None:
            message += ".\nRun the workflow again to recompute it."
        logging.getLogger("ngbench").error(message)  # to the job's log file
        print(message, file=sys.stderr, flush=True)
        raise SystemExit(1) from None
