"""End to end: `snakemake` on a tiny config in a temporary directory, read back as a user would."""

from __future__ import annotations

import filecmp
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from tests.checkout import copy_checkout
from tests.oracles import blog_recurrence

# Every test here reads one Snakemake run of the tiny config (minutes on 2 cores): `pytest -m "not slow"`
# leaves them out of the quick loop; CI runs them.
pytestmark = pytest.mark.slow

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
            "stop_at_target": False,  # as in the default config: figure rows run to their budget
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
        "tiny_quadratic": {
            "target": {
                "name": "quadratic",
                "eigenvalues": [1.0, 10.0],
                "angle_degrees": 30.0,
                "optimum": [1.0, 0.5],
                "linear_map": [[2.0, 0.0], [1.0, 0.5]],
            },
            "init": {"theta_0": -3.0, "theta_1": 3.0},
            "parameterizations": ["identity", "linear"],
            "methods": ["gd", "ngd"],
            "learning_rates": [0.1, 0.25],
            "seeds": [0],
            "steps": 80,
            "stop_at_target": False,
        },
        "tiny_mixture": {
            "target": {
                "name": "mixture",
                "weight": 0.3,
                "var": 1.0,
                "means": [-1.0, 2.0],
                "n": 60,
                "data_seed": 0,
                "damping": 1.0e-3,
            },
            "init": {"theta_0": -2.5, "theta_1": -1.0},
            "parameterizations": ["identity"],
            "methods": ["gd", "ngd", "ef", "em"],
            "learning_rates": [0.5, 1.0],
            "seeds": [0],
            "steps": 60,
            "stop_at_target": False,
        },
        "tiny_gaussian_nd": {
            "target": {"name": "gaussian_nd", "dim": 4, "condition_number": 10.0, "seed": 0},
            "init": {"mean": {"uniform": [-1.0, 1.0]}, "var": 0.5},
            "parameterizations": ["natural", "mean_chol", "diagonal"],
            "methods": ["gd", "ngd", "adam"],
            "learning_rates": [0.1, 0.5],
            "seeds": 2,
            "steps": 30,
        },
        "tiny_logistic": {
            "target": {"name": "logistic_vi", "quadrature_nodes": 40},
            "init": {"mean": 0.0, "var": 0.01},
            "tolerances": [1.0e-1, 1.0e-2],
            "gradient": {"mc": 2},
            "parameterizations": ["natural"],
            "methods": ["gd", "ngd"],
            "learning_rates": [0.1, 0.5],
            "seeds": 2,
            "steps": 10,
        },
    },
    "figures": {
        "fig1_quadratic": {
            "experiment": "tiny_quadratic",
            "parameterization": "identity",
            "seed": 0,
            "learning_rates": {"gd": 0.1, "ngd": 0.1},
        },
        "fig2_mixture": {
            "experiment": "tiny_mixture",
            "parameterization": "identity",
            "seed": 0,
            "learning_rates": {"gd": 0.5, "ngd": 0.5, "ef": 0.5, "em": 1.0},
        },
        "fig3_gaussian_vi": {
            "experiment": "fig3_gaussian_vi",
            "parameterization": "mean_var",
            "seed": 0,
            "learning_rates": {"gd": 0.1, "ngd": 0.1},
        },
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


# Wall times: the one output that differs between runs by design (see ngbench.stats.wall_times).
MACHINE_DEPENDENT = ("timings", "costs")


def output_files(workdir: Path) -> list[Path]:
    return sorted(
        p.relative_to(workdir)
        for d in ("results", "figures")
        for p in (workdir / d).rglob("*")
        if p.is_file() and not (p.relative_to(workdir).parts[1] in MACHINE_DEPENDENT and d == "results")
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
    # every run is kept, failed ones included
    assert keys.ngroups == 2 + 2 * 2 * 3 * 3 + 2 * 2 * 2 + 4 * 2 + 3 * 3 * 2 * 2 + 2 * 2 * 2
    assert (keys["iter"].min() == 0).all()
    assert set(runs["status"]) <= {"converged", "budget", "diverged", "invalid"}
    assert {"invalid", "diverged"} <= set(runs["status"])  # (μ, σ²)-NGD at ρ = 1.5; GD at ρ = 0.25 > 2/10
    closed_form = runs[runs["target"].isin(["gaussian_1d", "quadratic"])]
    np.testing.assert_allclose(closed_form["gap"], closed_form["loss"])  # f* = 0 for both
    gaussian = runs["target"] == "gaussian_1d"
    two_d = runs["target"].isin(["quadratic", "mixture"])
    high_d = runs["target"].isin(["gaussian_nd", "logistic_vi"])
    assert runs.loc[gaussian, ["mean", "var"]].notna().all().all()
    assert runs.loc[two_d, ["theta_0", "theta_1"]].notna().all().all()
    assert runs.loc[gaussian, ["theta_0", "theta_1"]].isna().all().all()
    # d-dimensional targets keep metrics per iterate, not their d + d² state coordinates
    assert runs.loc[high_d, ["mean", "var", "theta_0", "theta_1"]].isna().all().all()
    assert runs.loc[high_d, "mean_error"].notna().all()
    logistic = runs["target"] == "logistic_vi"
    assert runs.loc[logistic, "test_log_loss"].between(0.0, 1.0).all()
    assert runs.loc[~logistic, "test_log_loss"].isna().all()


def test_d_dimensional_targets_run_end_to_end(run_two_cores):
    runs = pd.read_parquet(run_two_cores / "results" / "runs" / "tiny_gaussian_nd")
    natural = runs[(runs["parameterization"] == "natural") & (runs["method"] == "ngd") & (runs["lr"] == 0.5)]
    # (1−ρ)ᵗ: the gap decays like 0.25ᵗ, so 1e-8 by about 14 steps
    assert (natural.groupby("seed")["status"].first() == "converged").all()
    diagonal = runs[runs["parameterization"] == "diagonal"]
    assert (diagonal["gap"] < diagonal["loss"]).all()  # measured against the best diagonal q, f* > 0
    reference = json.loads((run_two_cores / "results" / "reference" / "tiny_logistic.json").read_text())
    logistic = pd.read_parquet(run_two_cores / "results" / "runs" / "tiny_logistic")
    np.testing.assert_array_equal(logistic["gap"], logistic["loss"] - reference["optimum_loss"])
    summaries = pd.read_parquet(run_two_cores / "results" / "summaries" / "tiny_logistic")
    spent = summaries["hit_iter"].fillna(summaries["stop_iter"])
    np.testing.assert_array_equal(summaries["grad_evals"], 2 * spent)  # two Monte Carlo samples a step
    stats = pd.read_csv(run_two_cores / "results" / "stats" / "tiny_logistic.csv")
    assert sorted(set(stats["tolerance"])) == [1.0e-2, 1.0e-1]  # the row's own tolerances
    last = logistic.sort_values("iter").groupby(["parameterization", "method", "lr", "seed"]).last()
    final = summaries.groupby(["parameterization", "method", "lr", "seed"])["final_test_log_loss"].first()
    np.testing.assert_array_equal(final.sort_index(), last["test_log_loss"].sort_index())

    def header(table):
        text = (run_two_cores / "results" / "tables" / f"{table}.md").read_text()
        return next(line for line in text.splitlines() if line.startswith("| chart"))

    assert "test log-loss" in header("tiny_logistic") and "test log-loss" not in header("tiny_sweep")
    costs = pd.read_csv(run_two_cores / "results" / "costs" / "tiny_logistic.csv")
    assert len(costs) == 2 and (costs["microseconds_per_step"] > 0).all()


def test_mixture_gaps_use_the_cached_reference(run_two_cores):
    reference = json.loads((run_two_cores / "results" / "reference" / "tiny_mixture.json").read_text())
    runs = pd.read_parquet(run_two_cores / "results" / "runs" / "tiny_mixture")
    np.testing.assert_array_equal(runs["gap"], runs["loss"] - reference["optimum_loss"])
    assert reference["gradient_norm"] < 1e-8
    ngd = runs[(runs["method"] == "ngd") & (runs["lr"] == 0.5)]
    assert ngd["status"].iloc[0] == "converged"


@pytest.mark.parametrize("method", ["gd", "ngd"])
def test_figure_3_rows_equal_the_blog_computation(run_two_cores, method):
    runs = pd.read_parquet(run_two_cores / "results" / "runs")
    rows = runs[(runs["experiment"] == "fig3_gaussian_vi") & (runs["method"] == method)].sort_values("iter")
    np.testing.assert_allclose(
        rows[["mean", "var"]].to_numpy(), blog_recurrence(method, 0.1, 100), rtol=1e-14
    )


def test_paired_and_best_lr_tables_are_written(run_two_cores):
    best = pd.read_csv(run_two_cores / "results" / "stats" / "tiny_sweep_best_lr.csv")
    # Cross-fitted over seeds 0, 1, 2: tuned on {0, 2} and reported on {1}, then the other way round.
    assert len(best) == 2 * 2 * 2 and (best["learning_rates_tried"] == 3).all()
    folds = best.set_index("fold")
    assert (folds.loc["even", "tuning_seeds"] == 2).all() and (
        folds.loc["even", "reporting_seeds"] == 1
    ).all()
    assert (folds.loc["odd", "tuning_seeds"] == 1).all() and (folds.loc["odd", "reporting_seeds"] == 2).all()
    paired = pd.read_csv(run_two_cores / "results" / "stats" / "tiny_sweep_paired.csv")
    assert sorted(paired["parameterization"]) == ["mean_var", "natural"]
    assert "p (Holm)" in (run_two_cores / "results" / "tables" / "tiny_sweep_paired.md").read_text()
    # fig3 has one seed: nothing to hold out, which the table says (tuning and reporting both seed 0).
    single = pd.read_csv(run_two_cores / "results" / "stats" / "fig3_gaussian_vi_best_lr.csv")
    assert (single["tuning_seeds"] == 1).all() and (single["reporting_seeds"] == 1).all()
    assert (single["fold"] == "all").all()


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


@pytest.mark.parametrize(
    "figure",
    [
        "fig1_quadratic",
        "fig2_mixture",
        "fig3_gaussian_vi",
        "tiny_sweep_convergence",
        "tiny_sweep_lr_sensitivity",
        "tiny_sweep_ecdf",
        "tiny_sweep_invariance",
    ],
)
def test_blog_figures_are_drawn(run_two_cores, figure):
    image = matplotlib.image.imread(run_two_cores / "figures" / f"{figure}.png")
    assert image.shape[0] > 400 and image.shape[1] > 500
    assert image[..., :3].std() > 0.05  # not a blank canvas
    assert (run_two_cores / "figures" / f"{figure}.pdf").read_bytes().startswith(b"%PDF")


def test_rerun_is_a_no_op(run_two_cores):
    again = snakemake(run_two_cores, "--cores", "2", "-n")
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr


def test_one_core_gives_byte_identical_outputs(run_two_cores, tmp_path):
    write_config(tmp_path, TINY_CONFIG)
    done = snakemake(tmp_path, "--cores", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    # Each output matches one rule: no input function is tried on a name it does not know.
    assert "Error" not in done.stdout + done.stderr, (done.stdout + done.stderr)[-3000:]
    files = output_files(run_two_cores)
    assert files == output_files(tmp_path)
    # runs + summaries of 10 charts (a solver job each, every method in it), two references,
    # 3 statistics and 3 × 2 tables of 6 experiments, 3 blog figures, the convergence,
    # lr-sensitivity, ECDF and invariance figures of tiny_sweep and tiny_gaussian_nd, and
    # tiny_logistic's first three (it has one chart: nothing to audit); each experiment's claims,
    # the headline, and the profiles (3 statistics, 2 tables, 1 figure); the invariance audits of
    # tiny_sweep and tiny_gaussian_nd as tables (2 statistics, 1 table each), tiny_logistic's
    # identities, and the report's pages (its first page and one per experiment)
    assert len(files) == (
        10 * 2 + 2 + 6 * 3 + 6 * 3 * 2 + (3 + 4 + 4 + 3) * 2 + 6 + 1 + 3 + 2 + 2 + 2 * 3 + 1 + 1 + 6
    )
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


def test_kill_minus_nine_then_the_same_command_completes_identically(run_two_cores, tmp_path):
    """SIGKILL to Snakemake and its jobs mid-run; the same command again gives the uninterrupted bytes."""
    import os
    import signal
    import time

    write_config(tmp_path, TINY_CONFIG)
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(tmp_path),
        "--cores",
        "2",
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while not list((tmp_path / "results").rglob("*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = output_files(tmp_path)
    assert len(finished) < len(output_files(run_two_cores)), "the kill came too late to interrupt anything"

    again = snakemake(tmp_path, "--cores", "2")
    assert again.returncode == 0, again.stderr[-3000:]
    files = output_files(run_two_cores)
    assert output_files(tmp_path) == files
    _, mismatch, errors = filecmp.cmpfiles(run_two_cores, tmp_path, [str(f) for f in files], shallow=False)
    assert not mismatch and not errors


def test_a_damaged_summary_is_moved_aside_even_when_only_a_table_is_asked_for(run_two_cores, tmp_path):
    """The table is up to date, so nothing runs or is deleted; the default target recomputes the summary.

    (tests/test_recovery.py damages every kind of file and checks what the next run recomputes.)
    """
    import shutil

    workdir = tmp_path / "copy"
    shutil.copytree(run_two_cores, workdir)
    corrupt = workdir / "results" / "summaries" / "tiny_sweep" / "natural.parquet"
    corrupt.write_bytes(b"not a parquet file")
    stats = (workdir / "results" / "stats" / "tiny_sweep.csv").read_bytes()
    done = snakemake(workdir, "--cores", "2", "results/stats/tiny_sweep.csv")
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "ngbench: results/summaries/tiny_sweep/natural.parquet is damaged (" in output
    assert "Nothing to be done" in output
    assert (workdir / "results" / "stats" / "tiny_sweep.csv").read_bytes() == stats
    moved = workdir / "results" / "damaged" / "summaries" / "tiny_sweep" / "natural.parquet"
    assert moved.read_bytes() == b"not a parquet file"
    dry = snakemake(workdir, "--cores", "2", "-n")
    # The solver job that recomputes it, as its rule's message names it (profiles/default).
    assert re.search(r"Job \d+: solve tiny_sweep/natural$", dry.stdout, re.MULTILINE), dry.stdout[-3000:]


def test_duplicate_experiment_names_are_refused(tmp_path):
    text = yaml.safe_dump(TINY_CONFIG, sort_keys=False)
    row = yaml.safe_dump({"tiny_sweep": TINY_CONFIG["experiments"]["tiny_sweep"]}, sort_keys=False)
    text = text.replace(
        "experiments:\n", "experiments:\n" + "".join("  " + line + "\n" for line in row.splitlines())
    )
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(text)
    failed = snakemake(tmp_path, "--cores", "2", "-n")
    assert failed.returncode != 0
    assert "experiments.tiny_sweep: given twice" in failed.stdout + failed.stderr
    assert not (tmp_path / "results").exists()


def test_editing_a_target_module_reruns_only_its_jobs(tmp_path):
    repo = copy_checkout(tmp_path / "repo")
    workdir = tmp_path / "work"
    config = {
        **TINY_CONFIG,
        "experiments": {k: TINY_CONFIG["experiments"][k] for k in ("fig3_gaussian_vi", "tiny_quadratic")},
        "figures": {k: TINY_CONFIG["figures"][k] for k in ("fig1_quadratic", "fig3_gaussian_vi")},
    }
    write_config(workdir, config)

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "snakemake", "-s", str(repo / "Snakefile"), "-d", str(workdir), *args],
            capture_output=True,
            text=True,
            timeout=600,
        )

    assert run("--cores", "2").returncode == 0
    # The jobs ran this copy's library, not the one installed in the environment.
    log = (workdir / "logs" / "solve" / "tiny_quadratic" / "identity.log").read_text()
    assert f"library: {(repo / 'src' / 'ngbench').resolve()}" in log, log
    module = repo / "src" / "ngbench" / "targets" / "quadratic.py"
    module.write_text(module.read_text() + "\n# an edit\n")
    dry = run("-n")
    assert dry.returncode == 0, dry.stderr
    # Each job as its rule's message names it ("Job 7: solve tiny_quadratic/identity").
    jobs = re.findall(r"Job \d+: (.+)$", dry.stdout, re.MULTILINE)
    solved = {job for job in jobs if job.startswith("solve tiny_quadratic/")}
    assert len(solved) == 2  # both charts of the edited target's experiment (a job runs every method)
    assert "figure fig1_quadratic" in jobs
    assert "statistics, tables, costs and report page of tiny_quadratic" in jobs
    assert not any("fig3_gaussian_vi" in job for job in jobs), jobs

    # Back as it was: nothing to do. Then an edit of the plotting code reruns figure jobs only.
    module.write_text(module.read_text().removesuffix("\n# an edit\n"))
    assert "Nothing to be done" in run("-n").stdout + run("-n").stderr
    plots = repo / "src" / "ngbench" / "plots.py"
    plots.write_text(plots.read_text() + "\n# an edit\n")
    dry = run("-n")
    jobs = re.findall(r"Job \d+: (.+)$", dry.stdout, re.MULTILINE)
    # Figure jobs only (each figure rule's message names a figure), and the invariance audits, whose
    # one job per row draws its figure and rewrites its tables with it; and what reads those tables:
    # the ledger and the report's first page. No solver, statistics or why-table job.
    rerun_anyway = (
        "every output of the config",
        "ledger of the config's claims",
        "report first page, with its figures",
    )
    figures = [job for job in jobs if job not in rerun_anyway]
    assert figures and all(
        job.startswith(
            (
                "figure ",
                "convergence, lr-sensitivity and ECDF figures of ",
                "invariance audit tables and figure of ",
                "why-figure of ",
                "profile figure",
                "profiles and their figure on wall time",
            )
        )
        for job in figures
    ), jobs


def test_snakemake_exits_when_its_work_is_done(tmp_path):
    """No scheduler timer outlives the run: Snakemake's job rate limiter would hold the exit ~1 s.

    The workflow's onsuccess/onerror hooks cancel those timers (common.smk); this checks, at the
    moment Snakemake's main returns, that each timer it started has fired or been cancelled.
    """
    config = {
        **TINY_CONFIG,
        "experiments": {"fig3_gaussian_vi": TINY_CONFIG["experiments"]["fig3_gaussian_vi"]},
        "figures": {"fig3_gaussian_vi": TINY_CONFIG["figures"]["fig3_gaussian_vi"]},
    }
    write_config(tmp_path, config)
    argv = ["snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--cores", "2", "results"]
    probe = f"""
import sys, threading
started = []
start = threading.Timer.start
def recorded_start(timer):
    started.append(timer)
    start(timer)
threading.Timer.start = recorded_start
from snakemake.cli import main
sys.argv = {argv!r}
try:
    main()
except SystemExit as exit:
    pending = [t for t in started if not t.finished.is_set()]
    print("TIMERS", len(started), "PENDING", len(pending), "EXIT", exit.code)
"""
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=600)
    line = next(line for line in ran.stdout.splitlines() if line.startswith("TIMERS"))
    _, started, _, pending, _, code = line.split()
    assert code == "0", ran.stderr[-3000:]
    assert int(started) > 0, "Snakemake starts no rate-limiter timers now: drop cancel_rate_limiter_timers"
    assert int(pending) == 0


def test_every_parquet_file_carries_its_provenance(run_two_cores):
    from ngbench.io import read_provenance

    files = sorted((run_two_cores / "results").rglob("*.parquet"))
    assert files
    for path in files:
        provenance = read_provenance(path)
        experiment, chart = path.relative_to(run_two_cores / "results").parts[1:3]
        assert provenance["cell"]["experiment"] == experiment
        assert provenance["cell"]["parameterization"] == chart.removesuffix(".parquet")
        assert set(provenance["cell"]["methods"]) == set(TINY_CONFIG["experiments"][experiment]["methods"])
        assert set(pq.read_table(path, columns=["method"])["method"].to_pylist()) == set(
            provenance["cell"]["methods"]
        )
        assert provenance["cell"]["target"] == TINY_CONFIG["experiments"][experiment]["target"]
        assert {"ngbench", "numpy", "pandas", "pyarrow", "python", "source"} <= set(provenance["versions"])
        assert provenance["versions"]["source"] != ""


def test_report_holds_every_figure_and_renders(run_two_cores, tmp_path):
    """`snakemake --report` works; where Chromium is installed, its screenshot of the report is not blank."""
    import shutil

    report = tmp_path / "report.html"
    made = snakemake(run_two_cores, "--report", str(report))
    assert made.returncode == 0, made.stderr[-3000:]
    html = report.read_text(errors="replace")
    for name in (
        "fig1_quadratic.png",
        "fig2_mixture.png",
        "fig3_gaussian_vi.png",
        "tiny_sweep_convergence.png",
        "tiny_sweep_invariance.png",
        "tiny_sweep_paired.csv",
        "tiny_sweep.html",  # the experiment's Markdown tables, as a page of the report
    ):
        assert name in html, name
    # It opens on the answer: the first page (the workflow description) holds the pipeline's front page.
    assert "when natural-gradient descent beats gradient descent, and why" in html
    assert "Headline: every experiment, NGD against each other method" in html
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed: the report was built and holds every figure, not rendered")
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1400,1000",
            "--virtual-time-budget=10000",
            f"--screenshot={screenshot}",
            report.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    image = matplotlib.image.imread(screenshot)
    assert image.shape[0] >= 900 and image[..., :3].std() > 0.05, "the rendered report is blank"


def test_rewriting_the_config_in_another_key_order_reruns_nothing(run_two_cores, tmp_path):
    reordered = tmp_path / "reordered.yaml"
    reordered.write_text(yaml.safe_dump(TINY_CONFIG, sort_keys=True))  # e.g. target: {mean, name, var}
    assert reordered.read_text() != yaml.safe_dump(TINY_CONFIG, sort_keys=False)
    dry = snakemake(
        run_two_cores, "--cores", "2", "-n", "--configfile", str(reordered), "--replace-workflow-config"
    )
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout[-3000:]
