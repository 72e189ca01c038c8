"""Plugin targets from a user's file: the config check names the plugin and field at fault, the
checker catches a wrong gradient and a wrong Fisher, and the digest of a plugin row's jobs follows the
user's files (and no built-in target's module)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ngbench import check
from ngbench.digests import plugin_digest, script_digest
from ngbench.experiments import ConfigError, check_config
from ngbench.plugins import plugin_files
from ngbench.targets import TARGETS, make_target
from tests.checkout import copy_checkout

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
BROKEN = "tests/plugins/broken_models.py"
EXAMPLE = "examples/models/student_t.py:StudentT"
QUADRATIC_FIELDS = {"eigenvalues": [1.0, 10.0], "angle_degrees": 30.0, "optimum": [1.0, -0.5]}


def _line_of(text: str) -> int:
    """The line of tests/plugins/broken_models.py holding `text`: where the error message must point."""
    lines = (REPO / "tests" / "plugins" / "broken_models.py").read_text().splitlines()
    return next(number for number, line in enumerate(lines, start=1) if text in line)


QUADRATIC_INIT = {"theta_0": {"uniform": [-3.0, 3.0]}, "theta_1": {"uniform": [-3.0, 3.0]}}


@pytest.fixture(autouse=True)
def _in_the_repository(monkeypatch):
    """Plugin paths are relative to the working directory, as under `snakemake -d`."""
    monkeypatch.chdir(REPO)


def _verdicts(plugin: str, fields: dict, init: dict, run: bool = False):
    return list(check.run_checks(make_target({"plugin": plugin, **fields}), init, run=run))


def _failed(verdicts) -> set[tuple[str, str]]:
    return {(v.check, v.where) for v in verdicts if v.passed is False}


# --- the checker -----------------------------------------------------------------------------------


def test_the_checker_catches_a_wrong_gradient():
    verdicts = _verdicts(f"{BROKEN}:WrongGradient", QUADRATIC_FIELDS, QUADRATIC_INIT)
    assert ("gradient", "canonical") in _failed(verdicts)
    worst = next(v for v in verdicts if (v.check, v.where) == ("gradient", "canonical"))
    assert worst.error > 1e3 * worst.tolerance
    # The same class with its gradient right passes: the failure is the gradient's.
    assert not _failed(_verdicts(f"{BROKEN}:WrongFisher", QUADRATIC_FIELDS, QUADRATIC_INIT)) - {
        ("against", "fisher")
    }


def test_the_checker_catches_a_wrong_fisher_that_is_symmetric_and_positive():
    verdicts = _verdicts(f"{BROKEN}:WrongFisher", QUADRATIC_FIELDS, QUADRATIC_INIT)
    assert _failed(verdicts) == {("against", "fisher")}
    by_check = {(v.check, v.where): v for v in verdicts}
    assert by_check["symmetric", "fisher"].passed and by_check["psd", "fisher"].passed
    assert by_check["against", "fisher"].error > 10 * check.MONTE_CARLO_Z


def test_the_command_prints_a_verdict_per_check_and_fails_on_a_wrong_gradient(capsys):
    spec = '{"eigenvalues": [1.0, 10.0], "angle_degrees": 30.0, "optimum": [1.0, -0.5]}'
    init = '{"theta_0": 2.0, "theta_1": 1.0}'
    assert check.main([f"{BROKEN}:WrongGradient", "--spec", spec, "--init", init]) == 1
    out = capsys.readouterr().out
    assert "FAIL  gradient     canonical" in out and "tolerance 1e-06" in out
    assert check.main(["quadratic", "--spec", spec, "--init", init]) == 0
    assert "every check passed" in capsys.readouterr().out


def test_a_target_that_raises_fails_those_checks_and_the_others_still_run(capsys):
    spec = '{"eigenvalues": [1.0, 10.0], "optimum": [1.0, -0.5]}'
    assert (
        check.main([f"{BROKEN}:RaisesInLoss", "--spec", spec, "--init", '{"theta_0": 2.0, "theta_1": 1.0}'])
        == 1
    )
    out = capsys.readouterr().out
    assert "FAIL  gradient     canonical" in out and "raised RuntimeError: the user's loss has a bug" in out
    assert "pass  symmetric    fisher" in out and "pass  against      hessian" in out


def test_the_worked_example_passes_every_check_from_its_own_starts():
    target = make_target({"plugin": EXAMPLE, "dof": 4})
    verdicts = list(check.run_checks(target, target.example_init))
    assert not _failed(verdicts)
    checked = {(v.check, v.where) for v in verdicts if v.passed}
    assert {
        ("against", "fisher"),
        ("closed_form", "location_log_scale"),
        ("gradient", "canonical"),
    } <= checked


# --- the config check ------------------------------------------------------------------------------


def _row(target: dict, init: dict | None = None) -> dict:
    return {
        "target": target,
        "init": init or QUADRATIC_INIT,
        "parameterizations": ["identity"],
        "methods": ["gd", "ngd"],
        "learning_rates": [0.1],
        "seeds": 2,
        "steps": 10,
    }


def _problems(rows: dict) -> list[str]:
    config = {"tolerances": [1e-2], "experiments": rows}
    try:
        check_config(config, SCHEMA)
    except ConfigError as error:
        return [line.strip() for line in str(error).splitlines()[1:]]
    return []


EXAMPLE_INIT = {"theta_0": 20.0, "theta_1": 5.0}


def test_a_plugin_row_passes_the_config_check():
    row = {**_row({"plugin": EXAMPLE, "dof": 4}, EXAMPLE_INIT), "parameterizations": ["location_scale"]}
    assert _problems({"ok": row}) == []


@pytest.mark.parametrize(
    ("target", "init", "expected"),
    [
        # The plugin's own schema (spec_schema): a bad value, a missing and an unknown field.
        ({"plugin": EXAMPLE, "dof": -1}, EXAMPLE_INIT, f"(plugin {EXAMPLE}): dof: -1 is less than or equal"),
        ({"plugin": EXAMPLE}, EXAMPLE_INIT, f"(plugin {EXAMPLE}): dof: required property missing"),
        ({"plugin": EXAMPLE, "dof": 4, "nu": 4}, EXAMPLE_INIT, f"(plugin {EXAMPLE}): nu: unknown property"),
        # from_spec's own KeyError names the field it read.
        (
            {"plugin": f"{BROKEN}:WrongFisher", "eigenvalues": [1.0, 2.0]},
            {"theta_0": 1.0, "theta_1": 1.0},
            "optimum: required by the plugin",
        ),
        # A quadratic's A given no way at all: the target's own message names the three ways.
        (
            {"plugin": f"{BROKEN}:WrongFisher", "optimum": [0.0, 0.0]},
            None,
            "give exactly one of matrix, eigenvalues, condition_number (got none)",
        ),
        ({"plugin": "models/nowhere.py:Model"}, None, "plugin: no file models/nowhere.py in"),
        ({"plugin": f"{BROKEN}:Missing"}, None, "plugin: tests/plugins/broken_models.py defines no Missing"),
        ({"plugin": f"{BROKEN}:NotATarget"}, None, "plugin: NotATarget is not a subclass of"),
        (
            {"plugin": f"{BROKEN}:RaisesInFromSpec", "matrix": [[1.0]], "optimum": [0.0], "scale": 0},
            {"theta_0": 1.0},
            f"from_spec raised ZeroDivisionError: division by zero (broken_models.py:{_line_of('1 / spec')})",
        ),
        # Raised in the loss, during the config check's gradient check at the first start.
        (
            {"plugin": f"{BROKEN}:RaisesInLoss", **QUADRATIC_FIELDS},
            None,
            f"RuntimeError: the user's loss has a bug (broken_models.py:{_line_of('has a bug')})",
        ),
        # The checker's cheap part: a wrong gradient is refused before any job.
        (
            {"plugin": f"{BROKEN}:WrongGradient", **QUADRATIC_FIELDS},
            None,
            "grad: differs from finite differences",
        ),
    ],
)
def test_a_fault_in_a_plugin_is_reported_with_the_plugin_and_field(target, init, expected):
    row = _row(target, init)
    if "student_t" in target["plugin"]:
        row["parameterizations"] = ["location_scale"]
    problems = _problems({"mine": row})
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"experiments.mine.target (plugin {target['plugin']}): "), problems
    assert expected in problems[0], problems
    assert "Traceback" not in problems[0]


def test_a_malformed_plugin_reference_is_refused_by_the_schema():
    problems = _problems({"mine": _row({"plugin": "student_t.StudentT"})})
    assert problems and problems[0].startswith("experiments.mine.target.plugin: "), problems


# --- what reruns ----------------------------------------------------------------------------------

TARGET_MODULES = tuple(sorted((name, cls.__module__) for name, cls in TARGETS.items()))
SOLVE = "solve.py"
BUILT_IN = ("quadratic", "gaussian_1d")  # two are enough to tell "this one only" from "all" (each costs)


@pytest.fixture()
def project(tmp_path):
    """A copy of the library and the example, with a sibling module the plugin imports."""
    copy_checkout(tmp_path, ("src/ngbench", "workflow/scripts"), snakefile=False)
    shutil.copytree(REPO / "examples", tmp_path / "work", ignore=shutil.ignore_patterns("__pycache__"))
    models = tmp_path / "work" / "models"
    (models / "tables").mkdir()
    (models / "tables" / "extra.csv").write_text("x\n1\n")
    (models / "helpers.py").write_text(
        "from pathlib import Path\n\n"
        'EXTRA = Path(__file__).parent / "tables" / "extra.csv"\n'
        'ELSEWHERE = "/etc/hostname"  # absolute: not the project\'s\n'
    )
    plugin = models / "student_t.py"
    plugin.write_text(
        plugin.read_text().replace(
            "from pathlib import Path\n", "from pathlib import Path\n\nimport helpers\n"
        )
    )
    return tmp_path


def _digests(project: Path) -> dict[str, str]:
    script_digest.cache_clear()
    scripts = project / "workflow" / "scripts"
    digests = {
        name: script_digest(scripts / SOLVE, project / "src", TARGET_MODULES, name) for name in BUILT_IN
    }
    digests["plugin"] = plugin_digest(
        scripts / SOLVE, project / "src", TARGET_MODULES, "models/student_t.py:StudentT", project / "work"
    )
    return digests


@pytest.mark.parametrize(
    ("edited", "changed"),
    [
        ("work/models/student_t.py", {"plugin"}),
        # ~1.5 s each (the digests parse every module twice): the quick loop keeps the first.
        *(
            pytest.param(*case, marks=pytest.mark.slow)
            for case in [
                ("work/models/newcomb.csv", {"plugin"}),  # named by the plugin: its data
                ("work/models/helpers.py", {"plugin"}),  # a sibling module it imports
                ("work/models/tables/extra.csv", {"plugin"}),  # named by that module
                ("src/ngbench/targets/quadratic.py", {"quadratic"}),  # not the plugin's: no rerun of it
                ("src/ngbench/charts.py", set(BUILT_IN) | {"plugin"}),  # the plugin imports it, as all do
                ("src/ngbench/plugins.py", set(BUILT_IN) | {"plugin"}),  # make_target runs it for every row
            ]
        ),
    ],
)
def test_editing_a_plugin_file_changes_only_its_rows_digest(project, edited, changed):
    before = _digests(project)
    path = project / edited
    path.write_text(path.read_text() + "\n")
    after = _digests(project)
    assert {key for key in before if before[key] != after[key]} == changed


def test_the_plugins_files_are_found_without_importing_it(project):
    files = plugin_files("models/student_t.py:StudentT", project / "work")
    assert {path.name for path in files} == {"student_t.py", "helpers.py", "newcomb.csv", "extra.csv"}


# --- the worked example, run as a user would -------------------------------------------------------


@pytest.mark.slow
def test_the_worked_example_runs_and_an_edit_of_its_plugin_reruns_only_its_jobs(tmp_path):
    work = tmp_path / "work"
    shutil.copytree(REPO / "examples", work, ignore=shutil.ignore_patterns("__pycache__"))
    config = yaml.safe_load((work / "config.yaml").read_text())
    row = config["experiments"]["newcomb_student_t"]
    row.update(seeds=[0, 1], steps=40, learning_rates=[0.1, 1.0], methods=["gd", "ngd"])
    config["experiments"]["builtin"] = {
        "target": {"name": "gaussian_1d", "mean": 1.0, "var": 2.0},
        "init": {"mean": -1.0, "var": 1.0},
        "parameterizations": ["mean_var"],
        "methods": ["gd", "ngd"],
        "learning_rates": [0.5],
        "seeds": [0, 1],
        "steps": 20,
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    def snakemake(*args):
        command = [
            sys.executable,
            "-m",
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--configfile",
            "config.yaml",
        ]
        return subprocess.run([*command, *args], cwd=work, capture_output=True, text=True, timeout=600)

    done = snakemake("--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    table = (work / "results" / "tables" / "newcomb_student_t.md").read_text()
    assert "location_log_scale" in table and "| ngd " in table
    assert (work / "results" / "reference" / "newcomb_student_t.json").is_file()

    plugin = work / "models" / "student_t.py"
    plugin.write_text(plugin.read_text() + "\n# an edit\n")
    dry = snakemake("-n")
    assert dry.returncode == 0, dry.stderr[-3000:]
    # Each job as its rule's message names it ("Job 3: solve newcomb_student_t/location_scale").
    jobs = set(re.findall(r"Job \d+: (.+)$", dry.stdout, re.MULTILINE))
    # The example has one row: its two solver jobs rerun, and what reads them (its tables, figures and
    # the cross-experiment headline, profiles and ledger); the reference solve (f*) is recomputed too.
    assert "reference solution (f*) of newcomb_student_t" in jobs, jobs
    assert {job for job in jobs if job.startswith("solve ")} == {
        "solve newcomb_student_t/location_scale",
        "solve newcomb_student_t/location_log_scale",
    }
