"""The config check's result and what the workflow derives from it (the library digests, the solver
jobs' params), kept between Snakemake starts while nothing they depend on has changed.

Every Snakemake start parses the workflow, and the workflow checks the whole config before any job
can run (`ngbench.experiments.check_config`: the JSON schema, then every row's target built once, its
starts drawn) and hashes the library modules each job's script imports (`ngbench.digests`). On a
no-op nothing of this has changed since the last start, and it was most of what a no-op costs beyond
Snakemake's own start (README, "Performance").

`startup_key` hashes everything the check and the digests read: the config as Snakemake merged it
and the bytes of each config file (the duplicate-key check reads them), the schema, every file of the
library package and of the workflow's scripts, the rules file that uses them, each file a config
value names (a `glm_vi` row's CSV, relative to the working directory), the Python version and the
installed packages (`_environment_stamp`). An entry is used only under the same key, so an edited
config value is checked again (a bad one gets its error before any job runs, as without the cache) and an
edited library module or data file invalidates the entry. A config with a plugin target is never
cached: a plugin may import files from its own folder, which the key does not follow.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Bumped when what an entry holds changes shape: an entry of another format is never read.
FORMAT = 1


@dataclass
class CheckedStart:
    """What a start computes before any job: the checked config, and what the workflow has derived
    from it and the library so far.

    `memo` maps a question to its answer, each a function of the plan and the library only (both
    fixed under the entry's key): a script's library digest for a target, a row's data files, a
    solver job's params. A start adds what its jobs needed; the next one reads them back.
    """

    plan: object  # ngbench.experiments.Config
    memo: dict = field(default_factory=dict)


def _environment_stamp() -> str:
    """The Python version and the modification time of each package folder on the path: pip adds and
    removes a versioned `*.dist-info` folder there on every install, upgrade or removal, so any of
    them is a new key. Two stats, where asking each package its version takes ~25 ms."""
    folders = [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")]
    return "\n".join([sys.version, *(f"{p} {os.stat(p).st_mtime_ns}" for p in folders if os.path.isdir(p))])


def _named_files(value, base: Path):
    """Each existing file a string of the config names, relative to `base` (sorted, without repeats)."""
    strings = []

    def walk(node):
        if isinstance(node, dict):
            for item in node.values():
                walk(item)
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item)
        elif isinstance(node, str):
            strings.append(node)

    walk(value)
    return sorted({text for text in strings if text and (base / text).is_file()})


def _folder_files(folder: Path):
    return sorted(path for path in folder.rglob("*") if path.is_file() and "__pycache__" not in path.parts)


def startup_key(config: dict, files, folders, base: Path = Path(".")) -> str | None:
    """The hash of everything a start's check and digests read, or None when the config cannot be
    cached (it names a plugin target).

    `files`: the config files, the schema, the rules file; `folders`: the library package and the
    workflow's scripts, every file in them counted; `base`: where the config's relative paths start.
    """
    # In the config's own order: the checked plan keeps the rows in it.
    text = json.dumps(config, default=repr)
    if '"plugin"' in text:
        return None
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("format", str(FORMAT).encode())
    add("environment", _environment_stamp().encode())
    add("config", text.encode())
    for path in files:
        add(f"file {path}", Path(path).read_bytes())
    for folder in folders:
        for path in _folder_files(Path(folder)):
            add(f"library {path.relative_to(folder).as_posix()}", path.read_bytes())
    for name in _named_files(config, Path(base)):
        add(f"named {name}", (Path(base) / name).read_bytes())
    return digest.hexdigest()


def load(path: Path, key: str | None) -> CheckedStart | None:
    """The entry stored under `key`, or None (no entry, another key, or an unreadable file)."""
    if key is None:
        return None
    try:
        with open(path, "rb") as handle:
            stored_key, checked = pickle.load(handle)
    except Exception:  # missing, truncated, or written by other code: checked anew
        return None
    if stored_key != key or not isinstance(checked, CheckedStart):
        return None
    return checked


def store(path: Path, key: str | None, checked: CheckedStart) -> None:
    """Write the entry (replacing any other) atomically; a folder that cannot be written is no error:
    the next start checks the config again."""
    if key is None:
        return
    from ngbench.io import atomic_write  # only when an entry is written: a no-op start does not

    def write(temporary):
        with open(temporary, "wb") as handle:
            pickle.dump((key, checked), handle, protocol=pickle.HIGHEST_PROTOCOL)

    try:
        atomic_write(path, write)
    except OSError:
        pass
