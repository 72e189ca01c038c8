"""A copy of this checkout's workflow and library in a temporary folder, for tests that edit or run it
as a user's repository would be (without `__pycache__` folders, which would hide an edit's effect)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = ("workflow", "src", "profiles")  # with the Snakefile: what `snakemake -s` needs


def copy_checkout(destination: Path, folders=WORKFLOW, snakefile: bool = True) -> Path:
    """Copy `folders` (paths relative to the checkout) and, with `snakefile`, the Snakefile into
    `destination` (made if missing); returns `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    if snakefile:
        shutil.copy(REPO / "Snakefile", destination)
    for folder in folders:
        shutil.copytree(REPO / folder, destination / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def benchmark_module(name: str):
    """`benchmarks/<name>.py` loaded as a module (the folder is no package). It is in `sys.modules`
    while it runs: a dataclass looks its module up there by name."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module
