"""What the README's install gives a user: every command it shows works, and the licence is stated."""

from __future__ import annotations

import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from tests.checkout import benchmark_module

REPO = Path(__file__).resolve().parents[1]


def runtime_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {Requirement(spec).name.lower(): Requirement(spec) for spec in project["dependencies"]}


def test_the_install_brings_what_snakemake_report_needs():
    """`snakemake --report` refuses to run without pygments, which only snakemake's `reports` extra pulls in.

    The test extra (pytest) happens to install pygments too, so the workflow test's report passes
    either way: this checks the plain `pip install -e .` of the quick start.
    """
    requirements = runtime_requirements()
    snakemake = requirements["snakemake"]
    assert "pygments" in requirements or "reports" in snakemake.extras, snakemake
    if "reports" in snakemake.extras:
        # The extra of the installed snakemake does name pygments (an extra can change between releases).
        declared = [Requirement(spec) for spec in metadata.requires("snakemake")]
        reports = {"extra": "reports"}
        extra_needs = {r.name.lower() for r in declared if r.marker and r.marker.evaluate(reports)}
        assert "pygments" in extra_needs
    pins = {
        line.split("==")[0].lower(): line.split("==")[1]
        for line in (REPO / "constraints.txt").read_text().split()
        if "==" in line
    }
    assert pins["pygments"] == metadata.version("pygments")


def test_readme_shows_the_report_command_and_its_output_is_ignored():
    readme = (REPO / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "snakemake --report results/report.html" in quickstart
    ignored = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "-q", "results/report.html"], check=False
    )
    assert ignored.returncode == 0, "results/report.html is not git-ignored"


def test_licence_file_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert re.search(r"^Copyright \(c\) 2026 the ngbench developers$", text, flags=re.M)
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


# The modules a published number passes through (issue 19): the mutation run must mutate each.
MUTATED_MODULES = {"runner", "methods", "stats", "tables", "io", "solve", "experiments", "starts"}


def test_the_mutation_run_mutates_the_modules_published_numbers_pass_through():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    mutmut = project["tool"]["mutmut"]
    mutated = {Path(path).stem for path in mutmut["only_mutate"]}
    assert MUTATED_MODULES <= mutated
    assert all((REPO / path).is_file() for path in mutmut["only_mutate"]), "a listed module does not exist"
    extras = project["project"]["optional-dependencies"]
    assert any(spec.startswith("mutmut==") for spec in extras["mutation"])
    ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", "mutants/"], check=False)
    assert ignored.returncode == 0, "mutmut's work directory mutants/ is not git-ignored"


def test_the_targeted_mutation_run_lists_existing_test_files_of_mutated_modules():
    """`mutation_run.py --targeted` runs a module's mutants on the files MODULE_TESTS names: a renamed
    test file would otherwise leave every mutant of the module not run (pytest stops: no such file)."""
    mutation_run = benchmark_module("mutation_run")
    assert set(mutation_run.MODULE_TESTS) <= set(mutation_run.configured_modules())
    for module, files in mutation_run.MODULE_TESTS.items():
        assert files and len(set(files)) == len(files), module
        missing = [name for name in files if not (REPO / "tests" / name).is_file()]
        assert not missing, f"{module}: {missing}"


def test_every_hand_written_mutation_still_finds_its_pattern_once():
    """`benchmarks/mutation_check.py` stops before any mutant runs when a pattern no longer occurs
    exactly once in its file: an edit to the library must come with the mutation's new pattern (11
    had gone stale unnoticed once), and each mutation's test files must exist."""
    mutation_check = benchmark_module("mutation_check")
    assert len(mutation_check.MUTATIONS) >= 90
    for mutation in mutation_check.MUTATIONS:
        count = (REPO / mutation.path).read_text().count(mutation.pattern)
        assert count == 1, f"{mutation.name}: its pattern occurs {count} times in {mutation.path}"
        assert mutation.pattern != mutation.replacement, mutation.name
        missing = [name for name in mutation.tests if not (REPO / "tests" / name).is_file()]
        assert not missing, f"{mutation.name}: {missing}"
