"""benchmarks/library_run.py, the in-process floor of `run_benchmark.py`: it writes what the workflow's
`aggregate` jobs write for statistics and tables (it stopped with a KeyError once the claims, in
Markdown only, joined the tables, and nothing ran it)."""

import copy

import yaml

from tests.checkout import REPO, benchmark_module
from tests.test_workflow import TINY_CONFIG


def aggregate_outputs(experiment: str) -> set[str]:
    """The statistics and tables the `aggregate` rule names for one experiment (workflow/rules)."""
    rules = (REPO / "workflow" / "rules" / "aggregate.smk").read_text()
    block = rules[rules.index("rule aggregate:") : rules.index("rule headline:")]
    outputs = block[block.index("output:") : block.index("params:")]
    paths = {part.split('"')[1] for part in outputs.split("\n") if '"results/' in part}
    return {
        path.format(experiment=experiment)
        for path in paths
        if path.startswith(("results/stats", "results/tables"))
    }


def test_the_library_floor_writes_every_statistic_and_table_of_the_aggregate_jobs(tmp_path):
    config = copy.deepcopy(TINY_CONFIG)
    config["experiments"] = {"tiny_sweep": config["experiments"]["tiny_sweep"]}
    config.pop("figures", None)
    config.pop("claims", None)
    rows = benchmark_module("library_run").run(yaml.safe_load(yaml.safe_dump(config)), tmp_path)
    assert rows > 0
    written = {path.relative_to(tmp_path).as_posix() for path in (tmp_path / "results").rglob("*.*")}
    written = {path for path in written if path.startswith(("results/stats", "results/tables"))}
    expected = aggregate_outputs("tiny_sweep")
    assert "results/tables/tiny_sweep_claims.md" in expected and len(expected) >= 10, expected
    assert written == expected
