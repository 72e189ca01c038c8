"""Is a result file whole? Cheap checks, and moving a damaged file out of the way.

Standard library only: the workflow runs these checks on every start, a no-op rerun included,
before any job, and importing pyarrow there would cost more than the checks themselves. They
catch what an interrupted copy, a full disk or an editor leaves behind (an empty or truncated
file, foreign bytes, half a JSON document); damage inside a parquet file's data pages passes them
and is caught by the readers in `ngbench.io`, which verify the pages' checksums.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

PARQUET_MAGIC = b"PAR1"
# Where a damaged file goes, under the `results` directory that holds it: out of every path a rule
# writes and of the directories `pandas.read_parquet("results/runs")` reads whole.
DAMAGED_DIR = "damaged"
TIMING_CELL_KEYS = ("experiment", "parameterization", "method", "seconds", "runs", "run_steps")


def parquet_problem(path: str | Path) -> str | None:
    """Why `path` is certainly not a whole parquet file, or None if its two ends look right.

    A parquet file starts with PAR1 and ends with its footer's length and PAR1; a truncated or
    overwritten file almost never keeps both ends. Reads 12 bytes, not the footer.
    """
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < 12:
                return f"{size} bytes, too short for a parquet file"
            head = handle.read(4)
            handle.seek(size - 8)
            tail = handle.read(8)
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if head != PARQUET_MAGIC or tail[4:] != PARQUET_MAGIC:
        return "no parquet marker at its start or end (truncated, or not a parquet file)"
    footer = int.from_bytes(tail[:4], "little", signed=True)
    if not 0 < footer <= size - 12:
        return f"its footer length ({footer} bytes) does not fit in the file ({size} bytes)"
    return None


class _NonFinite(ValueError):
    pass


def _refuse_constant(name: str):
    raise _NonFinite(f"holds {name}")


def parse_json(text: str):
    """JSON with finite numbers only: Python's json reads NaN and Infinity, which a result never holds."""
    return json.loads(text, parse_constant=_refuse_constant)


def load_json(path: str | Path, required: tuple[str, ...] = ()) -> tuple[dict | None, str | None]:
    """(the JSON object in `path`, None), or (None, why it is no object of finite numbers with these keys)."""
    try:
        data = parse_json(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        return None, f"cannot be read ({error.strerror or error})"
    except UnicodeDecodeError:
        return None, "not text (not UTF-8)"
    except _NonFinite as error:
        return None, f"not a result: it {error}"
    except json.JSONDecodeError as error:
        return None, f"not valid JSON ({error})"
    if not isinstance(data, dict):
        return None, f"not a JSON object but a {type(data).__name__}"
    missing = [key for key in required if key not in data]
    if missing:
        return None, f"no {', '.join(missing)} in it"
    return data, None


def reference_problem(path: str | Path) -> str | None:
    """Why `path` is not a reference solution, whose f* every gap of its experiment is measured from."""
    data, problem = load_json(path, ("optimum_loss",))
    if problem is None and not _is_number(data["optimum_loss"]):
        problem = "its optimum_loss is not a number"
    return problem


def timing_problem(path: str | Path) -> str | None:
    """Why `path` is not a solver job's wall times: {"cells": [{experiment, method, seconds, ...}, ...]}."""
    data, problem = load_json(path, ("cells",))
    if problem is not None:
        return problem
    cells = data["cells"]
    if not isinstance(cells, list) or not all(isinstance(cell, dict) for cell in cells):
        return "its cells are not a list of objects"
    for cell in cells:
        missing = [key for key in TIMING_CELL_KEYS if key not in cell]
        if missing:
            return f"a cell has no {', '.join(missing)}"
        if not all(_is_number(cell[key]) for key in ("seconds", "runs", "run_steps")):
            return "a cell's seconds, runs or run_steps is not a number"
    return None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def damaged_location(path: str | Path) -> Path:
    """Where `move_aside` puts `path`: results/runs/x/y.parquet → results/damaged/runs/x/y.parquet.

    A file outside any `results` directory goes to a `damaged` directory beside it. An earlier
    damaged copy is kept: the new one gets a numbered suffix.
    """
    path = Path(path)
    parts = path.parts
    if "results" in parts[:-1]:
        root = len(parts) - 1 - parts[::-1].index("results")
        location = Path(*parts[: root + 1], DAMAGED_DIR, *parts[root + 1 :])
    else:
        location = path.parent / DAMAGED_DIR / path.name
    candidate, number = location, 1
    while candidate.exists():
        candidate = location.with_name(f"{location.name}.{number}")
        number += 1
    return candidate


def move_aside(path: str | Path) -> Path:
    """Move a damaged file to `damaged_location(path)`: the workflow recomputes the path, nothing is lost."""
    location = damaged_location(path)
    location.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, location)
    return location
