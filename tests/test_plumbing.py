"""The workflow's plumbing: every setting reaches its job through `params`, and every job that runs the
library carries the digest of the sources it runs (issue 19).

Snakemake reruns a job when its params or script change, never when a module its script imports
does: a setting that does not reach a job's params is ignored, and changing it reruns nothing; a
rule without the library's digest keeps results made by old code. These tests read the rules and
the digest function as the workflow does, without running Snakemake (test_workflow.py does that).
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from ngbench.experiments import check_config
from ngbench.solve import solve_chart, thinned_iterations
from ngbench.targets import TARGETS

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "workflow" / "rules"
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())

ROW = {
    "target": {"name": "gaussian_nd", "dim": 2, "condition_number": 4.0, "seed": 0},
    "init": {"mean": {"uniform": [-2.0, 2.0]}, "var": {"loguniform": [0.2, 5.0]}},
    "parameterizations": ["natural", "mean_chol"],
    "methods": ["gd", "ngd"],
    "learning_rates": [0.01, 0.3],
    "seeds": 2,
    "steps": 60,
}

# One edit of each field a config row may hold: each must change what the row's solver jobs run.
EDITS = {
    "target": {"name": "gaussian_nd", "dim": 2, "condition_number": 5.0, "seed": 0},
    "init": {"mean": {"uniform": [-2.0, 2.5]}, "var": {"loguniform": [0.2, 5.0]}},
    "parameterizations": None,  # a chart is a job of its own: adding one changes no other job
    "methods": ["gd", "ngd", "adam"],
    "learning_rates": [0.01, 0.2],
    "seeds": 3,
    "steps": 61,
    "divergence_factor": 1e6,
    "thin": 12,
    "gradient": {"mc": 2},
    "tolerances": [1e-2, 1e-5],
    "stop_at_target": False,
    # Not a solver setting: it reaches the aggregate job's params (`tuning_rule` in common.smk).
    "tuning_rule": None,
    # Not a solver setting: it adds or removes a swept row's per-value figure jobs (test_sweeps.py).
    "value_figures": None,
}


def plan_of(row: dict):
    config = {"tolerances": [1e-2, 1e-4], "experiments": {"row": copy.deepcopy(row)}}
    return check_config(config, SCHEMA).experiments["row"]


def test_every_row_field_has_an_edit_here():
    fields = set(SCHEMA["properties"]["experiments"]["additionalProperties"]["properties"])
    assert fields == set(EDITS), "a new row field: add an edit of it to EDITS (it must reach its jobs)"


@pytest.mark.parametrize("field", sorted(key for key, value in EDITS.items() if value is not None))
def test_editing_a_row_field_changes_the_solver_jobs_params(field):
    """Snakemake reruns a solver job when its params change: each field must be in them."""
    before = plan_of(ROW).chart_params("natural")
    after = plan_of({**ROW, field: EDITS[field]}).chart_params("natural")
    assert before != after, f"{field} does not reach the solver jobs"


def test_chart_params_carry_the_row_as_configured():
    row = {**ROW, "thin": 7, "divergence_factor": 1e5, "gradient": {"mc": 3}, "tolerances": [1e-1, 1e-3]}
    params = plan_of(row).chart_params("mean_chol")
    assert params["thin"] == 7
    assert params["divergence_factor"] == 1e5
    assert params["gradient"] == {"mc": 3}
    assert params["tolerances"] == [1e-1, 1e-3]
    assert params["steps"] == 60 and params["seeds"] == [0, 1] and params["learning_rates"] == [0.01, 0.3]
    assert params["parameterization"] == "mean_chol" and params["methods"] == ["gd", "ngd"]
    defaults = plan_of(ROW).chart_params("mean_chol")
    assert (
        defaults["thin"] is None and defaults["divergence_factor"] == 1e8 and defaults["gradient"] == "exact"
    )


def _keys_read(source: str, name: str) -> set[str]:
    return set(re.findall(rf'{name}\["(\w+)"\]', source)) | set(re.findall(rf'{name}\.get\("(\w+)"', source))


def test_every_setting_the_solver_reads_is_in_the_jobs_params():
    # The solver reads its job through JobSpec.from_params (ngbench.jobs), and a few keys itself.
    library = REPO / "src" / "ngbench"
    read = _keys_read((library / "solve.py").read_text() + (library / "jobs.py").read_text(), "params")
    assert {"thin", "divergence_factor", "tolerances", "gradient", "steps"} <= read  # the reader works
    params = plan_of(ROW).chart_params("natural")
    assert read - {"method"} <= set(params), "the solver reads settings its job's params do not carry"


def test_thin_reaches_the_files_a_solver_job_writes():
    params = plan_of({**ROW, "thin": 5}).chart_params("natural")
    thinned = solve_chart(params).trajectories.to_pandas()
    full = solve_chart(plan_of(ROW).chart_params("natural")).trajectories.to_pandas()
    assert len(thinned) < len(full) / 4
    per_run = thinned.groupby(["method", "lr", "seed"]).size()
    assert per_run.max() <= 5 + 3


def test_thinned_iterations_are_log_spaced():
    kept = np.flatnonzero(thinned_iterations(1000, 20))
    assert kept[0] == 0 and kept[-1] == 1000 and 15 <= kept.size <= 22
    # Log-spaced: each kept iteration (past the first few) a roughly constant factor after the last.
    ratios = kept[6:] / kept[5:-1]
    assert ratios.max() / ratios.min() < 1.6 and ratios.min() > 1.2


def _rules(text: str) -> dict[str, str]:
    """Rule name → its block's text."""
    blocks = re.split(r"^rule (\w+):\n", text, flags=re.MULTILINE)
    return dict(zip(blocks[1::2], blocks[2::2], strict=True))


def _directive(block: str, name: str) -> str:
    """The indented lines under `name:` in a rule block."""
    match = re.search(rf"^    {name}:\n((?:        .*\n|\n)*)", block, flags=re.MULTILINE)
    return "" if match is None else match.group(1)


def all_rules() -> dict[str, str]:
    rules = {}
    for path in sorted(RULES.glob("*.smk")):
        rules.update(_rules(path.read_text()))
    return rules


def test_every_rule_whose_script_runs_the_library_carries_its_digest():
    rules = all_rules()
    scripted = {name: block for name, block in rules.items() if _directive(block, "script")}
    assert {"reference", "solve", "aggregate", "figure_paths"} <= set(scripted)
    for name, block in scripted.items():
        (script,) = re.findall(r'"(\.\./scripts/[\w.]+)"', _directive(block, "script"))
        source = (RULES / script).resolve().read_text()
        if "ngbench" not in source:
            continue
        params = _directive(block, "params")
        own = Path(script).name
        assert re.search(rf'^\s*library=library\("{re.escape(own)}"\),', params, flags=re.MULTILINE), (
            f"rule {name} runs the library but its params lack library=library({own!r})"
        )


def test_the_solver_and_reference_jobs_take_their_settings_from_params():
    rules = all_rules()
    assert re.search(r"^\s*chart=solver_params,", _directive(rules["solve"], "params"), flags=re.MULTILINE)
    assert re.search(r"^\s*target=target_spec,", _directive(rules["reference"], "params"), flags=re.MULTILINE)
    common = (RULES / "common.smk").read_text()
    # Its params are the row's chart_params (kept in the startup cache between starts: `remembered`).
    body = re.search(r"^def solver_params\(wildcards\):\n((?:    .*\n|\n)+)", common, flags=re.MULTILINE)
    assert body and re.search(r"PLAN\.experiments\[\w+\]\.chart_params\(", body.group(1)), body
    scripts = REPO / "workflow" / "scripts"
    assert "solve_chart(snakemake.params.chart, reference, progress)" in (scripts / "solve.py").read_text()
    assert "reference_solution(snakemake.params.target)" in (scripts / "reference.py").read_text()


TARGET_MODULES = tuple(sorted((name, cls.__module__) for name, cls in TARGETS.items()))


@pytest.fixture()
def library(tmp_path):
    """A copy of src/ and the solver script, and each target's solver-job digest of that copy
    (`ngbench.digests.script_digest`, what the solve rule's `library` param holds)."""
    from ngbench.digests import script_digest

    root = tmp_path / "src"
    shutil.copytree(REPO / "src", root, ignore=shutil.ignore_patterns("__pycache__"))
    script = tmp_path / "solve.py"
    shutil.copy(REPO / "workflow" / "scripts" / "solve.py", script)

    def digests():
        script_digest.cache_clear()
        return {name: script_digest(script, root, TARGET_MODULES, name) for name in TARGETS}

    return root, digests


def _edit(path: Path) -> None:
    path.write_text(path.read_text() + "\n# an edit\n")


@pytest.mark.parametrize(
    "module",
    [
        "runner.py",
        "solve.py",
        "io.py",
        "methods.py",
        "starts.py",
        "experiments.py",
        "portable.py",
        "charts.py",
        "targets/base.py",
        "targets/__init__.py",
    ],
)
def test_editing_a_shared_module_changes_every_targets_digest(library, module):
    root, digests = library
    before = digests()
    _edit(root / "ngbench" / module)
    after = digests()
    assert all(after[name] != before[name] for name in TARGETS), module


@pytest.mark.parametrize("target", sorted(set(TARGETS) - {"gaussian_nd", "glm_vi"}))
def test_editing_a_targets_own_module_changes_its_digest_only(library, target):
    root, digests = library
    before = digests()
    _edit(root / "ngbench" / "targets" / f"{target}.py")
    after = digests()
    assert {name for name in TARGETS if after[name] != before[name]} == {target}


def test_editing_gaussian_nds_module_changes_the_targets_built_on_it(library):
    root, digests = library
    before = digests()
    _edit(root / "ngbench" / "targets" / "gaussian_family.py")  # logistic_vi builds on it
    after = digests()
    changed = {name for name in TARGETS if after[name] != before[name]}
    assert changed == {"gaussian_nd", "logistic_vi", "glm_vi"}


@pytest.mark.parametrize("module", ["glm_vi.py", "likelihoods.py"])
def test_editing_the_glm_modules_changes_the_targets_built_on_them(library, module):
    root, digests = library
    before = digests()
    _edit(root / "ngbench" / "targets" / module)  # logistic_vi is glm_vi with a fixed likelihood and CSV
    after = digests()
    assert {name for name in TARGETS if after[name] != before[name]} == {"glm_vi", "logistic_vi"}


def test_editing_the_data_changes_the_logistic_digest(library):
    root, digests = library
    before = digests()
    data = root / "ngbench" / "data" / "breast_cancer.csv"
    data.write_bytes(data.read_bytes() + b"\n")
    after = digests()
    assert {name for name in TARGETS if after[name] != before[name]} == {"logistic_vi"}


def test_the_digest_is_of_the_sources_not_of_their_names(library):
    root, digests = library
    before = digests()
    again = digests()
    assert before == again and len(set(before.values())) == len(TARGETS)
    runner = root / "ngbench" / "runner.py"
    runner.write_text(runner.read_text().replace("1e8", "1e9", 1))
    assert all(digests()[name] != before[name] for name in TARGETS)


def test_make_target_uses_the_target_with_reference_returns(monkeypatch):
    """A target may return a new object from `with_reference` (its base declares a return): the
    one returned is the one measuring gaps."""
    from ngbench.targets import make_target
    from ngbench.targets.mixture import Mixture

    fresh = []

    def returning_a_copy(self, reference):
        import copy

        other = copy.copy(self)
        other._reference = reference
        fresh.append(other)
        return other

    monkeypatch.setattr(Mixture, "with_reference", returning_a_copy)
    spec = {
        "name": "mixture",
        "means": [-1.0, 2.0],
        "var": 1.0,
        "weight": 0.3,
        "n": 50,
        "data_seed": 0,
        "damping": 1e-3,
    }
    reference = make_target(spec).reference_solution()
    target = make_target(spec, reference)
    assert fresh and target is fresh[-1] and target.optimum_loss == reference["optimum_loss"]
