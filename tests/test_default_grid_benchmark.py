"""benchmarks/default_grid.py: the run starts from nothing, and job-seconds are read per rule."""

from tests.checkout import benchmark_module


def load_benchmark():
    return benchmark_module("default_grid")


def test_job_seconds_are_summed_per_rule_from_snakemakes_lines():
    log = """[Tue Dec  1 22:22:19 2026]
Job 16: solve gaussian_nd_d100/mean_cov
[Tue Dec  1 22:22:19 2026]
Job 45: solve gaussian_nd_dim_dim_20/natural
Select jobs to execute...
[Tue Dec  1 22:22:22 2026]
Finished jobid: 45 (Rule: solve)
[Tue Dec  1 22:22:22 2026]
Job 101: invariance audit tables and figure of gaussian_nd_kappa_condition_number_8
[Tue Dec  1 22:22:24 2026]
Finished jobid: 101 (Rule: invariance)
[Tue Dec  1 22:23:01 2026]
Finished jobid: 16 (Rule: solve)
"""
    by_rule = load_benchmark().job_seconds(log)
    assert sorted(by_rule["solve"]) == [3.0, 42.0]
    assert by_rule["invariance"] == [2.0]
    assert set(by_rule) == {"solve", "invariance"}


def test_the_copy_holds_the_workflow_and_no_output_or_cache(tmp_path):
    load_benchmark().fresh_copy(tmp_path)
    names = {entry.name for entry in tmp_path.iterdir()}
    assert {"Snakefile", "config", "workflow", "src", "profiles"} <= names
    assert not names & {".git", ".venv", ".snakemake", "results", "figures", "mutants"}
    assert not list(tmp_path.rglob("__pycache__"))
    assert (tmp_path / "src" / "ngbench" / "data" / "randhie_400.csv").is_file()


def test_the_cpu_hook_names_each_job_script_by_its_rule(tmp_path):
    """The `sitecustomize` the run puts on PYTHONPATH: a job script's process writes its rule and CPU
    seconds at exit (a busy loop, so they are more than nothing); another Python process nothing."""
    import os
    import subprocess
    import sys

    benchmark = load_benchmark()
    log = tmp_path / "cpu.txt"
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(benchmark.CPU_HOOK.format(log=str(log)))
    scripts = tmp_path / "work" / ".snakemake" / "scripts"
    scripts.mkdir(parents=True)
    job = scripts / "tmpab12cd.analysis_figures.py"
    job.write_text(
        "import time\nstarted = time.process_time()\nwhile time.process_time() - started < 0.2:\n    pass\n"
    )
    other = tmp_path / "other.py"
    other.write_text("pass\n")
    environment = {**os.environ, "PYTHONPATH": str(hook)}
    for script in (job, other):
        subprocess.run([sys.executable, str(script)], env=environment, check=True)
    by_rule = benchmark.cpu_by_rule(log.read_text())
    assert set(by_rule) == {"analysis_figures"}
    assert len(by_rule["analysis_figures"]) == 1 and by_rule["analysis_figures"][0] >= 0.2
