"""Damaged result files: the readers name them, and the workflow moves them aside and recomputes them."""

from __future__ import annotations

import filecmp
import json
import logging
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ngbench.integrity import damaged_location, parquet_problem, reference_problem, timing_problem
from ngbench.io import (
    ResultFileError,
    damaged_inputs_end_the_job,
    read_json,
    read_summaries,
    read_trajectories,
    result_file_problem,
    write_parquet,
)
from tests.test_runner import cell
from tests.test_workflow import TINY_CONFIG, output_files, snakemake, write_config


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """A solver cell's files as the workflow writes them: results/{runs,summaries}/x/chart.parquet."""
    from ngbench.solve import solve_cell

    root = tmp_path_factory.mktemp("solved")
    chart = solve_cell(cell(method="ngd", learning_rates=[0.1, 0.5], seeds=[0, 1, 2]))
    write_parquet(chart.trajectories, root / "results" / "runs" / "x" / "natural.parquet")
    write_parquet(chart.summaries, root / "results" / "summaries" / "x" / "natural.parquet")
    return root


def copy_of(solved, tmp_path, kind="summaries"):
    path = tmp_path / "results" / kind / "x" / "natural.parquet"
    path.parent.mkdir(parents=True)
    shutil.copy(solved / "results" / kind / "x" / "natural.parquet", path)
    return path


def overwrite_inside_a_data_page(path, column="loss"):
    """Overwrite the last 8 bytes of a float column's chunk: compressed page data, after the page header."""
    metadata = pq.read_metadata(path)
    chunk = metadata.row_group(0).column(metadata.schema.names.index(column))
    assert not chunk.has_dictionary_page and chunk.total_compressed_size > 60  # a header is ~30 bytes
    with open(path, "r+b") as handle:
        handle.seek(chunk.data_page_offset + chunk.total_compressed_size - 8)
        handle.write(b"\xa5" * 8)


def test_whole_files_pass_the_cheap_checks(solved):
    for kind in ("runs", "summaries"):
        path = solved / "results" / kind / "x" / "natural.parquet"
        assert parquet_problem(path) is None
        assert result_file_problem(path, kind) is None


@pytest.mark.parametrize(
    "damage,problem",
    [
        (lambda p: p.write_bytes(b""), "0 bytes, too short"),
        (lambda p: os.truncate(p, p.stat().st_size // 2), "no parquet marker"),
        (
            lambda p: p.write_bytes(b"PAR1" + b"\0" * 40 + (9999).to_bytes(4, "little") + b"PAR1"),
            "footer length",
        ),
        (lambda p: p.write_bytes(b"<html>an error page saved as the file</html>"), "no parquet marker"),
    ],
)
def test_truncated_or_foreign_parquet_fails_the_cheap_check(solved, tmp_path, damage, problem):
    path = copy_of(solved, tmp_path)
    damage(path)
    assert problem in parquet_problem(path)
    with pytest.raises(ResultFileError, match=rf"^{path}: not a readable parquet file"):
        read_summaries([path])


@pytest.mark.parametrize("kind,column", [("summaries", "final_gap"), ("runs", "loss")])
def test_a_damaged_page_is_an_error_naming_the_file_not_wrong_numbers(solved, tmp_path, kind, column):
    path = copy_of(solved, tmp_path, kind)
    overwrite_inside_a_data_page(path, column)
    assert parquet_problem(path) is None  # both ends intact: only reading the pages finds it
    reader = read_summaries if kind == "summaries" else read_trajectories
    with pytest.raises(ResultFileError, match=rf"^{path}: not a readable parquet file \(.*CRC checksum"):
        reader([path])
    assert "CRC checksum" in result_file_problem(path, kind)


def test_a_file_of_an_older_schema_is_refused_by_its_missing_column(solved, tmp_path):
    path = copy_of(solved, tmp_path)
    pq.write_table(pq.read_table(path).drop_columns(["grad_evals"]), path)
    assert parquet_problem(path) is None
    with pytest.raises(
        ResultFileError, match=rf"^{path}: not an ngbench file of this kind; missing columns grad_evals$"
    ):
        read_summaries([path])
    assert result_file_problem(path, "summaries").endswith("missing columns grad_evals")


@pytest.mark.parametrize(
    "text,problem",
    [
        ("", "not valid JSON"),
        ('{"optimum_loss": 1.5, "optimum": [1.0,', "not valid JSON"),
        ('{"optimum_loss": NaN}', "holds NaN"),
        ('{"optimum_loss": 1.0, "optimum": [-Infinity]}', "holds -Infinity"),
        ('{"optimum": [1.0]}', "no optimum_loss in it"),
        ('{"optimum_loss": "1.0"}', "optimum_loss is not a number"),
        ("[1.0]", "not a JSON object"),
    ],
)
def test_damaged_reference_json_is_named(tmp_path, text, problem):
    path = tmp_path / "reference.json"
    path.write_text(text)
    assert problem in reference_problem(path)
    if "optimum_loss is not" not in problem:  # a type the target itself checks, not the reader
        with pytest.raises(ResultFileError, match=rf"^{path}: "):
            read_json(path, ("optimum_loss",))


def test_timing_records_are_checked(tmp_path):
    path = tmp_path / "timing.json"
    good = {
        "experiment": "x",
        "parameterization": "natural",
        "method": "gd",
        "seconds": 0.1,
        "runs": 3,
        "run_steps": 30,
    }
    path.write_text(json.dumps({"cells": [good]}))
    assert timing_problem(path) is None
    for data, problem in (
        ({"cells": [{**good, "seconds": None}]}, "not a number"),
        ({"cells": [{k: v for k, v in good.items() if k != "run_steps"}]}, "a cell has no run_steps"),
        ({"cells": {"gd": good}}, "not a list of objects"),
        ({}, "no cells in it"),
    ):
        path.write_text(json.dumps(data))
        assert problem in timing_problem(path)


def test_damaged_files_go_under_results_damaged_and_earlier_ones_are_kept(tmp_path):
    path = tmp_path / "results" / "runs" / "x" / "natural.parquet"
    assert damaged_location(path) == tmp_path / "results" / "damaged" / "runs" / "x" / "natural.parquet"
    damaged_location(path).parent.mkdir(parents=True)
    damaged_location(path).write_bytes(b"earlier")
    assert damaged_location(path).name == "natural.parquet.1"
    assert damaged_location(tmp_path / "elsewhere.json") == tmp_path / "damaged" / "elsewhere.json"


def test_a_job_ends_with_one_message_and_the_file_moved_aside(solved, tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.chdir(tmp_path)
    path = copy_of(solved, tmp_path).relative_to(tmp_path)
    overwrite_inside_a_data_page(path, "final_gap")
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as exit:
        with damaged_inputs_end_the_job():
            read_summaries([path])
    assert exit.value.code == 1
    moved = Path("results/damaged/summaries/x/natural.parquet")
    assert moved.exists() and not path.exists()
    stderr = capsys.readouterr().err
    assert stderr.startswith(f"ngbench: cannot use {path}: not a readable parquet file (")
    assert f"Moved it to {moved}; run the workflow again to recompute it." in stderr
    assert "Traceback" not in stderr
    assert caplog.messages == [stderr.strip()]  # the job's log says the same


# End to end. One run of a small config; each case damages a copy of it and runs Snakemake again.
CONFIG = {
    **TINY_CONFIG,
    "experiments": {
        k: TINY_CONFIG["experiments"][k] for k in ("fig3_gaussian_vi", "tiny_sweep", "tiny_mixture")
    },
    "figures": {k: TINY_CONFIG["figures"][k] for k in ("fig2_mixture", "fig3_gaussian_vi")},
}
SUMMARY = "results/summaries/tiny_sweep/natural.parquet"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("first_run")
    write_config(workdir, CONFIG)
    done = snakemake(workdir, "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def damaged_copy(first_run, tmp_path, damage):
    workdir = tmp_path / "copy"
    shutil.copytree(first_run, workdir)  # modification times too: Snakemake sees the same state
    damage(workdir)
    return workdir


def assert_same_outputs(first_run, workdir):
    """Every output (trajectories, summaries, references, tables, figures) byte for byte the first run's."""
    files = output_files(first_run)
    assert [f for f in output_files(workdir) if f.parts[1] != "damaged"] == files
    _, mismatch, errors = filecmp.cmpfiles(first_run, workdir, [str(f) for f in files], shallow=False)
    assert not mismatch and not errors


def truncate(path):
    os.truncate(path, path.stat().st_size // 2)


def overwrite_middle(path):
    with open(path, "r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        handle.write(b"\xa5" * 16)


@pytest.mark.parametrize(
    "damaged,damage",
    [
        ([SUMMARY], lambda w: truncate(w / SUMMARY)),
        ([SUMMARY], lambda w: overwrite_middle(w / SUMMARY)),
        ([SUMMARY], lambda w: overwrite_inside_a_data_page(w / SUMMARY, "final_gap")),
        (
            ["results/runs/tiny_sweep/mean_var.parquet", "results/reference/tiny_mixture.json"],
            lambda w: (
                (w / "results/runs/tiny_sweep/mean_var.parquet").write_bytes(b""),
                (w / "results/reference/tiny_mixture.json").write_text(
                    '{"optimum_loss": NaN, "optimum": [0.0, 1.0]}'
                ),
            ),
        ),
        (
            ["results/runs/tiny_mixture/identity.parquet", "results/timings/tiny_sweep/natural.json"],
            lambda w: (
                (w / "results/runs/tiny_mixture/identity.parquet").write_bytes(b"\x00garbage" * 500),
                (w / "results/timings/tiny_sweep/natural.json").write_text('{"cells": [{"experiment": "tiny'),
            ),
        ),
    ],
    ids=[
        "truncated_summary",
        "overwritten_summary",
        "damaged_summary_page",
        "empty_runs_nan_reference",
        "garbage_runs_half_timing",
    ],
)
@pytest.mark.slow
def test_the_next_run_moves_damaged_files_aside_and_recomputes_them(first_run, tmp_path, damaged, damage):
    workdir = damaged_copy(first_run, tmp_path, damage)
    copies = {path: (workdir / path).read_bytes() for path in damaged}
    again = snakemake(workdir, "--cores", "2")
    assert again.returncode == 0, again.stderr[-3000:]
    lines = [
        line
        for line in again.stderr.splitlines()
        if line.startswith("ngbench: ") and not line.startswith("ngbench: warning:")
    ]
    assert len(lines) == len(damaged), lines  # one line per file, before any job
    for path, line in zip(sorted(damaged), sorted(lines), strict=True):
        moved = damaged_location(path)
        assert line.startswith(f"ngbench: {path} is damaged (") and f"moved to {moved}" in line
        assert (workdir / moved).read_bytes() == copies[path]  # nothing lost
    assert "Traceback" not in again.stderr
    assert_same_outputs(first_run, workdir)


@pytest.mark.slow
def test_damage_found_only_by_a_job_names_the_file_and_the_next_run_recovers(first_run, tmp_path):
    """A damaged page in a file older than the tables passes every check before the jobs run."""

    def damage_in_the_past(workdir):
        path, stat = workdir / SUMMARY, (workdir / SUMMARY).stat()
        overwrite_inside_a_data_page(path, "final_gap")
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    workdir = damaged_copy(first_run, tmp_path, damage_in_the_past)
    failed = snakemake(workdir, "--cores", "2", "--forcerun", "aggregate")
    assert failed.returncode != 0
    moved = damaged_location(SUMMARY)
    message = f"ngbench: cannot use {SUMMARY}: not a readable parquet file ("
    log = (workdir / "logs" / "aggregate" / "tiny_sweep.log").read_text()
    assert log.startswith(message) and f"Moved it to {moved}; run the workflow again" in log
    assert message in failed.stderr
    assert "Traceback" not in failed.stderr
    assert (workdir / moved).exists()
    again = snakemake(workdir, "--cores", "2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert_same_outputs(first_run, workdir)
