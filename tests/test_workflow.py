"""End to end: `snakemake` on a tiny config in a temporary directory, read back as a user would."""

from __future__ import annotations

import filecmp
import math
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
import yaml

from tests.oracles import blog_recurrence

REPO = Path(__file__).resolve().parents[1]

TINY_CONFIG = {
    "tolerances": [1.0e-2, 1.0e-4, 1.0e-6, 1.0e-8],
    "experiments": {
        "fig3_gaussian_vi": {
            "target": {"name": "gaussian_1d", "mean": 3.0, "var": 1.0},
            "init": {"mean": -2.0, "var": 2.718281828459045},
            "parameterizations": ["mean_var"],
            "methods": ["gd", "ngd"],
            "learning_rates": [0.1],
            "seeds": [0],
            "steps": 100,
        },
        "tiny_sweep": {
            "target": {"name": "gaussian_1d", "mean": -1.0, "var": 0.5},
            "init": {"mean": {"uniform": [-2.0, 2.0]}, "var": {"loguniform": [0.2, 5.0]}},
            "parameterizations": ["natural", "mean_var"],
            "methods": ["gd", "ngd"],
            "learning_rates": [0.01, 0.3, 1.5],
            "seeds": 3,
            "steps": 60,
        },
    },
    "figures": {
        "fig3_gaussian_vi": {
            "experiment": "fig3_gaussian_vi",
            "parameterization": "mean_var",
            "seed": 0,
            "learning_rates": {"gd": 0.1, "ngd": 0.1},
        }
    },
}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def run_two_cores(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("two_cores")
    write_config(workdir, TINY_CONFIG)
    done = snakemake(workdir, "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def output_files(workdir: Path) -> list[Path]:
    return sorted(
        p.relative_to(workdir)
        for d in ("results", "figures")
        for p in (workdir / d).rglob("*")
        if p.is_file()
    )


def test_trajectories_load_as_one_table(run_two_cores):
    runs = pd.read_parquet(run_two_cores / "results" / "runs")
    expected_columns = {
        "experiment",
        "target",
        "parameterization",
        "method",
        "lr",
        "seed",
        "iter",
        "loss",
        "gap",
        "status",
        "mean",
        "var",
    }
    assert expected_columns <= set(runs.columns)
    keys = runs.groupby(["experiment", "parameterization", "method", "lr", "seed"])
    assert keys.ngroups == 2 + 2 * 2 * 3 * 3  # every run is kept, failed ones included
    assert (keys["iter"].min() == 0).all()
    assert set(runs["status"]) <= {"converged", "budget", "diverged", "invalid"}
    assert "invalid" in set(runs["status"])  # (μ, σ²)-NGD at ρ = 1.5 leaves the domain
    np.testing.assert_allclose(runs["gap"], runs["loss"])  # f* = 0 for Gaussian VI


@pytest.mark.parametrize("method", ["gd", "ngd"])
def test_figure_3_rows_equal_the_blog_computation(run_two_cores, method):
    runs = pd.read_parquet(run_two_cores / "results" / "runs")
    rows = runs[(runs["experiment"] == "fig3_gaussian_vi") & (runs["method"] == method)].sort_values("iter")
    np.testing.assert_allclose(
        rows[["mean", "var"]].to_numpy(), blog_recurrence(method, 0.1, 100), rtol=1e-14
    )


def test_stats_agree_with_the_trajectories(run_two_cores):
    runs = pd.read_parquet(run_two_cores / "results" / "runs")
    stats = pd.read_csv(run_two_cores / "results" / "stats" / "tiny_sweep.csv")
    assert len(stats) == 2 * 2 * 3 * 4
    best_gap = (
        runs[runs["experiment"] == "tiny_sweep"]
        .groupby(["parameterization", "method", "lr", "seed"])["gap"]
        .min()
    )
    for _, row in stats.iterrows():
        cell = best_gap.loc[(row["parameterization"], row["method"], row["lr"])]
        assert row["runs"] == len(cell) == 3
        assert row["successes"] == int((cell <= row["tolerance"]).sum())
        assert math.isinf(row["art"]) == (row["successes"] == 0)
    markdown = (run_two_cores / "results" / "tables" / "tiny_sweep.md").read_text()
    latex = (run_two_cores / "results" / "tables" / "tiny_sweep.tex").read_text()
    assert markdown.count("\n| ") == len(stats) + 1
    assert "\\toprule" in latex and latex.count("\\\\\n") == len(stats) + 1


def test_figure_3_is_drawn(run_two_cores):
    image = matplotlib.image.imread(run_two_cores / "figures" / "fig3_gaussian_vi.png")
    assert image.shape[0] > 400 and image.shape[1] > 500
    assert image[..., :3].std() > 0.05  # not a blank canvas
    assert (run_two_cores / "figures" / "fig3_gaussian_vi.pdf").read_bytes().startswith(b"%PDF")


def test_rerun_is_a_no_op(run_two_cores):
    again = snakemake(run_two_cores, "--cores", "2", "-n")
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def test_one_core_gives_byte_identical_outputs(run_two_cores, tmp_path):
    write_config(tmp_path, TINY_CONFIG)
    done = snakemake(tmp_path, "--cores", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    files = output_files(run_two_cores)
    assert files == output_files(tmp_path)
    assert len(files) == (2 + 4) * 2 + 2 + 2 * 2 + 2  # runs + summaries, stats, tables, figures
    _, mismatch, errors = filecmp.cmpfiles(run_two_cores, tmp_path, [str(f) for f in files], shallow=False)
    assert not mismatch and not errors


@pytest.mark.parametrize(
    "edit,field",
    [
        (lambda c: c["experiments"]["tiny_sweep"].update(learning_rates=[0.1, -0.3]), "learning_rates"),
        (lambda c: c["experiments"]["tiny_sweep"].update(learning_rates=["1e-3"]), "learning_rates"),
        (
            lambda c: c["experiments"]["tiny_sweep"].update(parameterizations=["natural", "polar"]),
            "parameterizations",
        ),
        (lambda c: c["experiments"].update({"../../etc": c["experiments"]["tiny_sweep"]}), "../../etc"),
        (
            lambda c: c["figures"]["fig3_gaussian_vi"].update(experiment="gone"),
            "figures.fig3_gaussian_vi.experiment",
        ),
    ],
)
def test_bad_config_fails_before_any_job_and_keeps_results(run_two_cores, tmp_path, edit, field):
    import copy

    config = copy.deepcopy(TINY_CONFIG)
    edit(config)
    config_file = tmp_path / "bad.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    before = {f: (run_two_cores / f).read_bytes() for f in output_files(run_two_cores)}
    failed = snakemake(
        run_two_cores, "--cores", "2", "--configfile", str(config_file), "--replace-workflow-config"
    )
    assert failed.returncode != 0
    assert field in failed.stderr + failed.stdout
    assert {f: (run_two_cores / f).read_bytes() for f in output_files(run_two_cores)} == before


def test_snakemake_lint_is_clean():
    linted = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "-s", str(REPO / "Snakefile"), "-d", str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert linted.returncode == 0 and "Congratulations" in linted.stdout + linted.stderr, (
        linted.stdout + linted.stderr
    )
