"""The startup cache (ngbench.startup_cache): a no-op skips the config check, and never on stale inputs."""

from __future__ import annotations

import copy
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from ngbench import startup_cache
from ngbench.experiments import check_config
from tests.checkout import copy_checkout

REPO = Path(__file__).resolve().parents[1]
SCHEMA_FILE = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_CONFIG_FILE = REPO / "config" / "config.yaml"


@pytest.fixture
def layout(tmp_path):
    """A copy of the library and the scripts, a config file and a data file it names."""
    library = tmp_path / "src" / "ngbench"
    shutil.copytree(REPO / "src" / "ngbench", library, ignore=shutil.ignore_patterns("__pycache__"))
    scripts = tmp_path / "scripts"
    shutil.copytree(REPO / "workflow" / "scripts", scripts)
    config = {
        "tolerances": [1.0e-2, 1.0e-4],
        "experiments": {"row": {"target": {"name": "glm_vi", "data": {"csv": "data/table.csv"}}, "seeds": 3}},
    }
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "table.csv").write_text("x,y\n1,0\n")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    return tmp_path, config, config_file, library, scripts


def key_of(layout, config=None):
    base, written, config_file, library, scripts = layout
    return startup_cache.startup_key(
        written if config is None else config,
        files=[config_file, SCHEMA_FILE],
        folders=[library, scripts],
        base=base,
    )


def test_the_key_is_the_same_for_the_same_inputs(layout):
    assert key_of(layout) == key_of(layout)


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda c: c["experiments"]["row"].update(seeds=4), id="a value"),
        pytest.param(lambda c: c["tolerances"].append(1.0e-6), id="a list item"),
        pytest.param(lambda c: c.update(experiments={"other": c["experiments"]["row"]}), id="a row's name"),
    ],
)
def test_an_edited_config_value_is_a_new_key(layout, edit):
    edited = copy.deepcopy(layout[1])
    edit(edited)
    assert key_of(layout, edited) != key_of(layout)


def test_reordered_rows_are_a_new_key(layout):
    """The checked plan keeps the config's row order: a cached plan in another order would differ."""
    config = {"experiments": {"a": {"seeds": 1}, "b": {"seeds": 2}}}
    swapped = {"experiments": {"b": {"seeds": 2}, "a": {"seeds": 1}}}
    assert key_of(layout, config) != key_of(layout, swapped)


@pytest.mark.parametrize(
    "where",
    [
        "src/ngbench/targets/quadratic.py",  # a library module
        "src/ngbench/data/breast_cancer.csv",  # a data file of the package
        "scripts/solve.py",  # a workflow script (the cached digests hash what it imports)
        "data/table.csv",  # a file a config value names
        "config.yaml",  # the config file's bytes (a comment: the duplicate-key check reads the text)
    ],
)
def test_an_edited_file_is_a_new_key(layout, where):
    before = key_of(layout)
    path = layout[0] / where
    path.write_bytes(path.read_bytes() + b"\n# an edit\n")
    assert key_of(layout) != before


def test_a_new_library_module_is_a_new_key(layout):
    before = key_of(layout)
    (layout[3] / "extra.py").write_text("VALUE = 1\n")
    assert key_of(layout) != before


def test_a_named_file_appearing_or_vanishing_is_a_new_key(layout):
    before = key_of(layout)
    (layout[0] / "data" / "table.csv").unlink()
    missing = key_of(layout)
    assert missing != before
    (layout[0] / "data" / "table.csv").write_text("x,y\n1,0\n")
    assert key_of(layout) == before


def test_a_package_upgrade_is_a_new_key(layout, monkeypatch):
    before = key_of(layout)
    site = layout[0] / "site-packages"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    with_site = key_of(layout)
    assert with_site != before
    (site / "jsonschema-9.9.dist-info").mkdir()  # what pip leaves after an upgrade
    os.utime(site, ns=(0, os.stat(site).st_mtime_ns + 1_000_000))
    assert key_of(layout) != with_site


def test_a_plugin_config_is_never_cached(layout, tmp_path):
    config = {"experiments": {"row": {"target": {"plugin": "my_target.py:MyTarget"}}}}
    assert key_of(layout, config) is None
    path = tmp_path / "cache.pickle"
    startup_cache.store(path, None, startup_cache.CheckedStart(plan="plan"))
    assert not path.exists()
    assert startup_cache.load(path, None) is None


def test_an_entry_is_read_back_under_its_key_only(tmp_path):
    path = tmp_path / ".snakemake" / "ngbench" / "entry.pickle"
    assert startup_cache.load(path, "key") is None  # nothing stored yet
    startup_cache.store(
        path, "key", startup_cache.CheckedStart(plan={"rows": 2}, memo={("library", "s.py", None): "ab"})
    )
    loaded = startup_cache.load(path, "key")
    assert loaded.plan == {"rows": 2} and loaded.memo == {("library", "s.py", None): "ab"}
    assert startup_cache.load(path, "other key") is None
    # A damaged entry (an interrupted write on another system, a disk error) is a miss, not an error.
    path.write_bytes(path.read_bytes()[:-7])
    assert startup_cache.load(path, "key") is None
    path.write_bytes(pickle.dumps(("key", "not an entry")))
    assert startup_cache.load(path, "key") is None
    assert [p.name for p in path.parent.iterdir()] == ["entry.pickle"]  # no temporary file left


def test_the_default_config_plan_survives_the_cache_unchanged(tmp_path):
    """What a no-op reads back is the plan the check built: every row, figure, sweep and claim."""
    config = yaml.safe_load(DEFAULT_CONFIG_FILE.read_text())
    schema = yaml.safe_load(SCHEMA_FILE.read_text())
    plan = check_config(copy.deepcopy(config), schema)
    path = tmp_path / "entry.pickle"
    startup_cache.store(path, "key", startup_cache.CheckedStart(plan=plan))
    loaded = startup_cache.load(path, "key").plan
    assert loaded == plan
    assert list(loaded.experiments) == list(plan.experiments)
    assert loaded.expanded == plan.expanded and loaded.claims == plan.claims and loaded.sweeps == plan.sweeps


# End to end: what a Snakemake start reads, on dry runs of a one-row config (seconds each).
ONE_ROW = {
    "tolerances": [1.0e-2, 1.0e-4],
    "experiments": {
        "tiny": {
            "target": {
                "name": "quadratic",
                "eigenvalues": [1.0, 10.0],
                "angle_degrees": 30.0,
                "optimum": [1.0, 0.5],
            },
            "init": {"theta_0": -3.0, "theta_1": 3.0},
            "parameterizations": ["identity"],
            "methods": ["gd", "ngd"],
            "learning_rates": [0.1],
            "seeds": [0],
            "steps": 10,
        }
    },
}


@pytest.mark.slow
def test_a_start_uses_the_entry_until_the_config_or_the_library_changes(tmp_path):
    """A marked entry under the right key shows whether a start read it: its plan carries a warning
    the check never writes. An edited config value is checked again (a bad one is refused before any
    job, with its field named), and so is the config after a library module changed."""
    repo = copy_checkout(tmp_path / "repo")
    work = tmp_path / "work"
    (work / "config").mkdir(parents=True)
    config_file = work / "config" / "config.yaml"
    config_file.write_text(yaml.safe_dump(ONE_ROW, sort_keys=False))
    entry = work / ".snakemake" / "ngbench" / "checked_start.pickle"

    def dry_run():
        command = [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(work), "-n"]
        ran = subprocess.run(command, capture_output=True, text=True, timeout=600)
        return ran.returncode, ran.stdout + ran.stderr

    code, output = dry_run()
    assert code == 0, output
    key, checked = pickle.loads(entry.read_bytes())
    # The first start stored the plan and, at its exit, what its jobs needed: digests, params.
    assert checked.plan.experiments.keys() == {"tiny"}
    assert ("library", "solve.py", "quadratic") in checked.memo
    assert ("solver params", "tiny", "identity") in checked.memo
    solve_digest = checked.memo["library", "solve.py", "quadratic"]
    marked = replace(checked.plan, warnings=("MARKED ENTRY",))
    startup_cache.store(entry, key, startup_cache.CheckedStart(plan=marked, memo=checked.memo))
    code, output = dry_run()
    assert code == 0 and "ngbench: warning: MARKED ENTRY" in output, output

    # A bad value: checked again, refused before any job, its field named.
    bad = copy.deepcopy(ONE_ROW)
    bad["experiments"]["tiny"]["learning_rates"] = [0.1, -0.5]
    config_file.write_text(yaml.safe_dump(bad, sort_keys=False))
    code, output = dry_run()
    assert code != 0 and "experiments.tiny.learning_rates" in output and "MARKED ENTRY" not in output, output
    assert not (work / "results").exists()

    # Back as it was: the marked entry is still the one under this key (a failed check stores nothing).
    config_file.write_text(yaml.safe_dump(ONE_ROW, sort_keys=False))
    code, output = dry_run()
    assert code == 0 and "MARKED ENTRY" in output, output

    # An edited library module: a new key, the config checked again, the digests computed anew.
    module = repo / "src" / "ngbench" / "targets" / "quadratic.py"
    module.write_text(module.read_text() + "\n# an edit\n")
    code, output = dry_run()
    assert code == 0 and "MARKED ENTRY" not in output, output
    new_key, checked = pickle.loads(entry.read_bytes())
    assert new_key != key and checked.memo["library", "solve.py", "quadratic"] != solve_digest
