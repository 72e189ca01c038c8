"""Which jobs an edit reruns: each rule's `library` digest covers what its script imports, and only that."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ngbench.digests import imported_modules, script_digest
from ngbench.targets import TARGETS
from tests.checkout import copy_checkout

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = (
    "solve.py",
    "reference.py",
    "aggregate.py",
    "analysis_figures.py",
    "figure_paths.py",
    "invariance.py",
)
TARGET_MODULES = tuple(sorted((name, cls.__module__) for name, cls in TARGETS.items()))


def digests(repo: Path) -> dict[tuple[str, str], str]:
    script_digest.cache_clear()
    return {
        (script, target): script_digest(
            repo / "workflow" / "scripts" / script, repo / "src", TARGET_MODULES, target
        )
        for script in SCRIPTS
        for target in TARGETS
    }


@pytest.fixture()
def repo(tmp_path):
    return copy_checkout(tmp_path, ("src", "workflow"), snakefile=False)


def changed_after(repo: Path, relative: str) -> set[tuple[str, str]]:
    before = digests(repo)
    path = repo / relative
    path.write_bytes(path.read_bytes() + b"\n# an edit\n")
    after = digests(repo)
    return {key for key in before if before[key] != after[key]}


# The invariance job draws its figure too: a plotting edit reruns its tables with it.
FIGURES = {"analysis_figures.py", "figure_paths.py", "invariance.py"}
STATISTICS = {"aggregate.py"} | FIGURES  # the figures draw the tuned runs (stats.tuned_runs)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("edited", "scripts", "targets"),
    [
        ("src/ngbench/plots.py", FIGURES, set(TARGETS)),
        ("src/ngbench/stats.py", STATISTICS, set(TARGETS)),
        ("src/ngbench/inference.py", STATISTICS, set(TARGETS)),  # not the solvers: no rerun of runs
        ("src/ngbench/tables.py", {"aggregate.py", "invariance.py"}, set(TARGETS)),
        ("src/ngbench/audit.py", {"invariance.py"}, set(TARGETS)),
        ("src/ngbench/runner.py", set(SCRIPTS), set(TARGETS)),  # every script reads its statuses
        ("src/ngbench/targets/quadratic.py", set(SCRIPTS), {"quadratic"}),
        ("src/ngbench/targets/mixture.py", set(SCRIPTS), {"mixture"}),
        # gaussian_nd is defined in gaussian_family, which logistic_vi builds on.
        ("src/ngbench/targets/gaussian_family.py", set(SCRIPTS), {"gaussian_nd", "logistic_vi", "glm_vi"}),
        ("src/ngbench/targets/logistic_vi.py", set(SCRIPTS), {"logistic_vi"}),
        ("src/ngbench/targets/glm_vi.py", set(SCRIPTS), {"glm_vi", "logistic_vi"}),
        ("src/ngbench/targets/likelihoods.py", set(SCRIPTS), {"glm_vi", "logistic_vi"}),
        ("src/ngbench/data/breast_cancer.csv", set(SCRIPTS), {"logistic_vi"}),
        # A row's own CSV is hashed into that row's params (files_digest), not with the library.
        ("src/ngbench/data/randhie_400.csv", set(), set()),
        ("src/ngbench/targets/base.py", set(SCRIPTS), set(TARGETS)),
    ],
)
def test_an_edit_changes_the_digests_of_the_jobs_that_run_it_and_no_other(repo, edited, scripts, targets):
    assert changed_after(repo, edited) == {(s, t) for s in scripts for t in targets}


def test_imports_are_read_in_every_form(tmp_path):
    source = (
        "import ngbench.io\nfrom ngbench import plots\nfrom ngbench.targets.base import Target\n"
        "import numpy\nfrom . import stats\n"
    )
    root = REPO / "src"
    found = imported_modules(source, root, package="ngbench")
    assert {"ngbench", "ngbench.io", "ngbench.plots", "ngbench.targets", "ngbench.targets.base"} <= found
    assert "ngbench.stats" in found and "numpy" not in found


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import os; import ngbench.io\n", "ngbench.io"),  # after `;`: not on a line of its own
        ("if True: from ngbench import plots\n", "ngbench.plots"),
        ("from ngbench.targets.base import \\\n    Target\n", "ngbench.targets.base"),  # continued
        ("from ngbench import (\n    plots,  # the figures\n    stats,\n)\n", "ngbench.stats"),
        ("def f():\n    from ngbench import why\n", "ngbench.why"),
    ],
)
def test_an_import_in_any_layout_is_found(source, module):
    assert module in imported_modules(source, REPO / "src")


def test_the_fast_reading_of_every_repository_module_matches_a_whole_file_parse():
    """Every library module, script and plugin of the repository: the same imports either way."""
    from ngbench import digests

    files = [*(REPO / "src").rglob("*.py"), *(REPO / "workflow" / "scripts").glob("*.py")]
    files += [*(REPO / "tests" / "plugins").rglob("*.py")]
    for path in files:
        source = path.read_text()
        fast = [ast.dump(node) for node in digests._import_nodes(source)]
        whole = [
            ast.dump(node)
            for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.Import, ast.ImportFrom))
        ]
        assert sorted(node for node in fast if "Import" in node[:12]) == sorted(whole), path


def test_every_rule_hashes_the_script_it_runs():
    """A rule whose `library` param named another script would miss edits of its own imports."""
    import re

    for rules in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"(?m)^(?=rule )", rules.read_text())[1:]:
            script = re.search(r'"\.\./scripts/(\w+\.py)"', block)
            hashed = re.search(r'library=library\("(\w+\.py)"\)', block)
            if script:
                assert hashed and hashed.group(1) == script.group(1), block.splitlines()[0]
