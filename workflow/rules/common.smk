import hashlib
import re
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# The workflow and its scripts import the library of this checkout, whatever else is installed (or
# under --sdm conda), so the code a job runs is the code TARGET_DIGESTS hash.
LIBRARY_ROOT = Path(workflow.basedir) / "src"
sys.path.insert(0, str(LIBRARY_ROOT))

from ngbench.experiments import ConfigError, check_config, duplicate_keys
from ngbench.targets import TARGETS

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
for config_path in workflow.configfiles:
    repeated = duplicate_keys(Path(config_path).read_text())
    if repeated:
        raise WorkflowError(
            f"invalid config {config_path}:\n"
            + "\n".join(f"  {key}: given twice (YAML keeps only the last)" for key in repeated)
        )
try:
    # Lists every problem, one `field: message` line each, before any job can start.
    # libyaml's loader where PyYAML has it: the pure-Python one takes 70 ms on the schema, on every
    # Snakemake start, a no-op rerun included.
    schema = yaml.load(SCHEMA.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    PLAN = check_config(config, schema)
except ConfigError as error:
    raise WorkflowError(str(error)) from None
# Passes by now; it fills the schema's defaults in `config`.
validate(config, str(SCHEMA))


def library_digest(target):
    """Hash of the library sources a job runs: a param of every rule, so editing the maths reruns it.

    Snakemake tracks a rule's script and params, not the modules the script imports. A target's
    jobs hash every module but the other targets' own, so editing one target reruns its jobs only.
    """
    own_modules = LIBRARY_ROOT / "ngbench" / "targets"
    digest = hashlib.sha256()
    for path in sorted((LIBRARY_ROOT / "ngbench").rglob("*")):
        if path.suffix not in (".py", ".csv"):
            continue
        if path.parent == own_modules and path.stem in TARGETS and path.stem != target:
            continue
        digest.update(path.relative_to(LIBRARY_ROOT).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


TARGET_DIGESTS = {name: library_digest(name) for name in TARGETS}


def digest_of(experiment):
    return TARGET_DIGESTS[PLAN.experiments[experiment].target["name"]]


def target_digest(wildcards):
    return digest_of(wildcards.experiment)


def figure_digest(wildcards):
    return digest_of(PLAN.figures[wildcards.figure].experiment)


NAME = "[a-z][a-z0-9_]*"


def one_of(names):
    """A wildcard pattern matching exactly these names ("(?!)" matches nothing when there are none).

    Without it, `figures/{figure}.png` would also match an analysis figure's name, and Snakemake
    would print the KeyError of trying that rule's input function before choosing the right rule.
    """
    return "|".join(re.escape(name) for name in sorted(names)) or "(?!)"


wildcard_constraints:
    experiment=one_of(PLAN.experiments),
    parameterization=NAME,
    figure=one_of(PLAN.figures),


def chart_files(kind, experiment, charts=None):
    """One file per chart of the experiment (all its methods), or of the given charts."""
    charts = PLAN.experiments[experiment].parameterizations if charts is None else charts
    extension = "json" if kind == "timings" else "parquet"
    return [f"results/{kind}/{experiment}/{chart}.{extension}" for chart in charts]


def all_trajectory_files():
    return [
        path
        for name, experiment in PLAN.experiments.items()
        for path in chart_files("runs", name)
    ]


def result_files():
    """Every trajectory, statistic and table of the config."""
    kinds = ["", "_best_lr", "_paired"]
    return (
        all_trajectory_files()
        + expand("results/stats/{experiment}{kind}.csv", experiment=PLAN.experiments, kind=kinds)
        + expand("results/tables/{experiment}{kind}.{ext}", experiment=PLAN.experiments, kind=kinds, ext=["md", "tex"])
    )


def summary_files(wildcards):
    return chart_files("summaries", wildcards.experiment)


def reference_file(experiment):
    """{"reference": path} for a target whose f* comes from a reference solve, else nothing."""
    if PLAN.experiments[experiment].needs_reference:
        return {"reference": f"results/reference/{experiment}.json"}
    return {}


def solver_inputs(wildcards):
    return reference_file(wildcards.experiment)


def figure_inputs(wildcards):
    figure = PLAN.figures[wildcards.figure]
    trajectories = chart_files("runs", figure.experiment, [figure.parameterization])
    return {"trajectories": trajectories, **reference_file(figure.experiment)}


def main_tolerance(wildcards):
    return PLAN.experiments[wildcards.experiment].main_tolerance


def target_spec(wildcards):
    return PLAN.experiments[wildcards.experiment].target


# Experiments with several seeds get the analysis figures; those with several charts, the audit.
ANALYSED = [name for name, e in PLAN.experiments.items() if len(e.seeds) >= 2]
AUDITED = [
    name
    for name in ANALYSED
    if len(PLAN.experiments[name].audited_parameterizations) >= 2 and "ngd" in PLAN.experiments[name].methods
]


def analysis_figure_files():
    kinds = ["convergence", "lr_sensitivity", "ecdf"]
    files = expand("figures/{experiment}_{kind}.{ext}", experiment=ANALYSED, kind=kinds, ext=["png", "pdf"])
    return files + expand("figures/{experiment}_invariance.{ext}", experiment=AUDITED, ext=["png", "pdf"])


def invariance_row(wildcards):
    experiment = PLAN.experiments[wildcards.experiment]
    return {
        "target": experiment.target,
        "init": experiment.init,
        "seed": experiment.seeds[0],
        "parameterizations": list(experiment.audited_parameterizations),
        "methods": [m for m in experiment.methods if m in ("gd", "ngd")],
    }


def solver_params(wildcards):
    return PLAN.experiments[wildcards.experiment].chart_params(wildcards.parameterization)


def figure_params(wildcards):
    figure = PLAN.figures[wildcards.figure]
    return {
        "figure": asdict(figure),
        "target": PLAN.experiments[figure.experiment].target,
        "tolerance": PLAN.experiments[figure.experiment].main_tolerance,
    }


def cancel_rate_limiter_timers(log):
    """Let Snakemake exit as soon as the work is done, not up to a second later.

    After every scheduling round, Snakemake's job rate limiter (`--max-jobs-per-timespan`, default
    100/1s) starts a non-daemon `threading.Timer` that wakes the scheduler a second later, and the
    interpreter waits for the last one before it exits: 1.2 s of a 7 s benchmark run. The hooks
    run after the scheduler has returned, when nothing is left for those timers to wake.
    """
    for thread in threading.enumerate():
        wakes = getattr(getattr(thread, "function", None), "__qualname__", "")
        if isinstance(thread, threading.Timer) and "_schedule_reevalutation" in wakes:
            thread.cancel()


onsuccess:
    cancel_rate_limiter_timers(log)


onerror:
    cancel_rate_limiter_timers(log)
