import atexit
import functools
import hashlib
import os
import re
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

# The workflow and its scripts import the library of this checkout, whatever else is installed (or
# under --sdm conda), so the code a job runs is the code its `library` param hashes.
LIBRARY_ROOT = Path(workflow.basedir) / "src"
sys.path.insert(0, str(LIBRARY_ROOT))

from ngbench import startup_cache
from ngbench.experiments import ConfigError, canonical, check_config, duplicate_keys
from ngbench.integrity import move_aside, parquet_problem, reference_problem, timing_problem

SCHEMA = Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml"
SCRIPTS = Path(workflow.basedir) / "workflow" / "scripts"
# The check's result and what the workflow derived from it at earlier starts, used while nothing
# they depend on has changed (ngbench.startup_cache): a no-op then skips the check. An edited config is checked
# again, so a bad value still gets its error here, before any job.
# Absolute: Snakemake has left the working directory by the time the exit handler below runs.
STARTUP_CACHE = Path.cwd() / ".snakemake" / "ngbench" / "checked_start.pickle"
STARTUP_KEY = startup_cache.startup_key(
    config,
    files=[*workflow.configfiles, SCHEMA, Path(workflow.basedir) / "workflow" / "rules" / "common.smk"],
    folders=[LIBRARY_ROOT / "ngbench", SCRIPTS],
    base=Path.cwd(),
)
CHECKED = startup_cache.load(STARTUP_CACHE, STARTUP_KEY)
if CHECKED is None:
    for config_path in workflow.configfiles:
        repeated = duplicate_keys(Path(config_path).read_text())
        if repeated:
            raise WorkflowError(
                f"invalid config {config_path}:\n"
                + "\n".join(f"  {key}: given twice (YAML keeps only the last)" for key in repeated)
            )
    try:
        # Lists every problem, one `field: message` line each, before any job can start.
        # libyaml's loader where PyYAML has it: the pure-Python one takes 70 ms on the schema.
        schema = yaml.load(SCHEMA.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        CHECKED = startup_cache.CheckedStart(plan=check_config(config, schema))
    except ConfigError as error:
        raise WorkflowError(str(error)) from None
    if workflow.is_main_process:
        startup_cache.store(STARTUP_CACHE, STARTUP_KEY, CHECKED)
PLAN = CHECKED.plan
for warning in PLAN.warnings:
    print(f"ngbench: warning: {warning}", file=sys.stderr)
# The config as checked, each swept row replaced by its experiments and the schema's defaults
# filled in (in the same pass as the check): what jobs and metadata cite.
EXPANDED = PLAN.expanded


def remembered(question, answer):
    """`answer()`, kept in the startup cache with the plan: `question` is a tuple naming what is
    asked, whose answer depends on the plan and the library only (both fixed under the cache's key).
    A no-op then neither recomputes it nor imports the modules that compute it."""
    if question not in CHECKED.memo:
        CHECKED.memo[question] = answer()
    return CHECKED.memo[question]


MEMO_LOADED = len(CHECKED.memo)


def store_new_answers():
    """At exit, what this start computed joins the cache entry: the next start reads it.

    At exit, not in `onsuccess`: Snakemake runs no hook on a dry run or when it has nothing to do.
    """
    if len(CHECKED.memo) > MEMO_LOADED:
        startup_cache.store(STARTUP_CACHE, STARTUP_KEY, CHECKED)


if workflow.is_main_process:
    atexit.register(store_new_answers)


@functools.cache
def target_modules():
    """Each registered target and the module that defines it (gaussian_nd lives in gaussian_family)."""
    from ngbench.targets import TARGETS

    return tuple(sorted((name, cls.__module__) for name, cls in TARGETS.items()))


def data_files(experiment):
    """The data files a row's target names (a glm_vi row's CSV), as the target class lists them."""

    def answer():
        from ngbench.targets import TARGETS

        target = PLAN.experiments[experiment].target
        return TARGETS[target["name"]].data_files(target)

    return remembered(("data files", experiment), answer)


def digests():
    """ngbench.digests, imported when a digest is computed: a no-op finds every digest it needs in
    the startup cache and does not load it."""
    from ngbench import digests

    return digests


def library(script):
    """A rule's `library` param: the digest of the library modules `script` imports, for the job's
    target (ngbench.digests). Snakemake tracks a rule's script and params, not what the script
    imports: this makes an edit rerun the jobs that run the edited code, and only those. A data
    file the row's target names (a `glm_vi` row's CSV) adds its content's hash: editing it reruns
    that row's jobs only."""

    def digest(wildcards):
        if "figure" in wildcards.keys():
            experiment = PLAN.figures[wildcards.figure].experiment
        else:
            experiment = wildcards.get("experiment")
        target = PLAN.experiments[experiment].target if experiment else {}
        if "plugin" in target:  # a user's file: hashed with what it imports from its folder
            return digests().plugin_digest(
                SCRIPTS / script, LIBRARY_ROOT, target_modules(), target["plugin"], Path.cwd()
            )
        name = target.get("name")
        code = remembered(
            ("library", script, name),
            lambda: digests().script_digest(SCRIPTS / script, LIBRARY_ROOT, target_modules(), name),
        )
        # A data file the row names (a glm_vi row's CSV) counts for that row's jobs only: its
        # content is read on every start, as it may change.
        data = data_files(experiment) if target else []
        return f"{code}+{digests().files_digest(data)}" if data else code

    return digest


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
    row=one_of(PLAN.sweeps),


def chart_files(kind, experiment, charts=None):
    """One file per chart of the experiment (all its methods), or of the given charts."""
    charts = PLAN.experiments[experiment].parameterizations if charts is None else charts
    extension = "json" if kind == "timings" else "parquet"
    return [f"results/{kind}/{experiment}/{chart}.{extension}" for chart in charts]


def result_files():
    """Every file of the config's reference and solver jobs, and every statistic and table.

    Each solver file is a target, not only an input of the aggregation: Snakemake leaves a missing
    input alone while what was made from it is up to date, and one moved aside as damaged (below)
    would stay missing instead of being recomputed.
    """
    kinds = ["", "_best_lr", "_paired"]
    return (
        [path for path, *_ in solver_outputs()]
        + expand("results/stats/{experiment}{kind}.csv", experiment=PLAN.experiments, kind=kinds)
        + expand("results/tables/{experiment}{kind}.{ext}", experiment=PLAN.experiments, kind=kinds, ext=["md", "tex"])
        + ["results/tables/headline.md"]
        + sweep_files()
        + invariance_files()
        + identity_files()
        + profile_files()
        + (["results/stats/ledger.csv", "results/tables/ledger.md"] if PLAN.claims else [])
    )


def invariance_files():
    """The invariance audit of every audited experiment, as tables (ngbench.audit)."""
    return expand(
        "results/stats/invariance/{experiment}{kind}.csv", experiment=AUDITED, kind=["", "_slopes"]
    ) + expand("results/tables/invariance/{experiment}_slopes.md", experiment=AUDITED)


def identity_files():
    """The exact identities checked on every experiment whose target has some (ngbench.identities)."""

    def answer():
        from ngbench.ledger import IDENTITY_TARGETS

        return [n for n, e in PLAN.experiments.items() if e.target.get("name") in IDENTITY_TARGETS]

    names = remembered(("identity experiments",), answer)
    return expand("results/stats/identities/{experiment}.csv", experiment=names)


def report_page_files():
    """The report's HTML pages: its first page and one of tables per experiment (ngbench.report_page)."""
    return ["results/report/front_page.html"] + expand(
        "results/report/tables/{experiment}.html", experiment=PLAN.experiments
    )


def front_page_inputs(wildcards):
    rows = sorted(PLAN.sweeps)
    return {
        **({"ledger": "results/tables/ledger.md"} if PLAN.claims else {}),
        "scores": "results/tables/profile_scores.md",
        "profiles": "figures/profiles.png",
        "slopes": [f"results/tables/sweeps/{row}_slopes.md" for row in rows],
        "why": [f"figures/{row}_sweep.png" for row in rows],
        "headline": "results/tables/headline.md",
    }


def ledger_inputs(wildcards):
    """The tables the config's claims read."""
    return sorted({claim.table_path() for claim in PLAN.claims if claim.check})


def ledger_params(wildcards):
    return [asdict(claim) for claim in PLAN.claims]


def profile_files():
    """Performance and data profiles across every problem of the config (ngbench.profiles)."""
    return [f"results/stats/{name}.csv" for name in ("profiles", "data_profiles", "profile_scores")] + [
        f"results/tables/profile_scores.{ext}" for ext in ("md", "tex")
    ]


def all_summaries_and_best_lrs(wildcards):
    return {
        "summaries": [path for e in sorted(PLAN.experiments) for path in chart_files("summaries", e)],
        "best_lr": [f"results/stats/{e}_best_lr.csv" for e in sorted(PLAN.experiments)],
    }


def all_summaries_best_lrs_and_timings(wildcards):
    return {
        **all_summaries_and_best_lrs(wildcards),
        "timings": [path for e in sorted(PLAN.experiments) for path in chart_files("timings", e)],
    }


def main_tolerances(wildcards):
    # Sorted: the config's row order is no setting, and reordering its rows reruns nothing.
    return {name: PLAN.experiments[name].main_tolerance for name in sorted(PLAN.experiments)}


def sweep_files():
    """The why-tables of every swept row (ngbench.why)."""
    return expand("results/stats/sweeps/{row}{kind}.csv", row=PLAN.sweeps, kind=["", "_slopes"]) + expand(
        "results/tables/sweeps/{row}_slopes.{ext}", row=PLAN.sweeps, ext=["md", "tex"]
    )


def sweep_inputs(wildcards):
    """Every sub-experiment's summaries and tuned learning rates, in the sweep's order."""
    experiments = PLAN.sweeps[wildcards.row].experiments
    return {
        "summaries": [path for e in experiments for path in chart_files("summaries", e)],
        "best_lr": [f"results/stats/{e}_best_lr.csv" for e in experiments],
    }


def sweep_params(wildcards):
    sweep = PLAN.sweeps[wildcards.row]
    tolerances = {PLAN.experiments[e].main_tolerance for e in sweep.experiments}
    # Each sub-experiment's target, starts and seeds: what theory's exact counts are computed from.
    specs = {
        e: {"target": PLAN.experiments[e].target, "init": PLAN.experiments[e].init, "seeds": list(PLAN.experiments[e].seeds)}
        for e in sweep.experiments
    }
    return {
        "field": sweep.field,
        "values": list(sweep.values),
        "experiments": list(sweep.experiments),
        "tolerance": min(tolerances),
        "specs": specs,
    }


def claims_files(wildcards):
    # By name, not in the config's order: reordering rows changes neither the inputs nor the headline.
    return expand("results/tables/{experiment}_claims.md", experiment=sorted(PLAN.experiments))


def solver_outputs():
    """(path, kind, experiment, chart) of every file the config's reference and solver jobs write."""
    for name, experiment in PLAN.experiments.items():
        if experiment.needs_reference:
            yield f"results/reference/{name}.json", "reference", name, None
        for kind in ("runs", "summaries", "timings"):
            for chart, path in zip(experiment.parameterizations, chart_files(kind, name), strict=True):
                yield path, kind, name, chart


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


def tuning_rule(wildcards):
    return PLAN.experiments[wildcards.experiment].tuning_rule


def target_spec(wildcards):
    return PLAN.experiments[wildcards.experiment].target


# Experiments with several seeds get the analysis figures; those of them with charts to compare and
# a deterministic step, the invariance audit (Experiment.audited).
MULTI_SEED = [name for name, e in PLAN.experiments.items() if len(e.seeds) >= 2]
AUDITED = [name for name in MULTI_SEED if PLAN.experiments[name].audited]
# A swept row's values get their own analysis figures only on request (`value_figures`, ngbench.sweeps).
UNDRAWN_VALUES = {name for sweep in PLAN.sweeps.values() if not sweep.value_figures for name in sweep.experiments}
ANALYSED = [name for name in MULTI_SEED if name not in UNDRAWN_VALUES]


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
        "gradient": experiment.gradient,
    }


def solver_params(wildcards):
    experiment, chart = wildcards.experiment, wildcards.parameterization
    return remembered(("solver params", experiment, chart), lambda: PLAN.experiments[experiment].chart_params(chart))


def figure_params(wildcards):
    figure = PLAN.figures[wildcards.figure]
    return {
        "figure": asdict(figure),
        "target": PLAN.experiments[figure.experiment].target,
        "tolerance": PLAN.experiments[figure.experiment].main_tolerance,
    }


def figure_size(kind):
    """The size preset (ngbench.plots.PRESETS) the config chooses for this kind of figure."""
    return PLAN.figure_sizes[kind]


def experiment_rows(wildcards):
    """The config row a figure of one experiment comes from, named, as the figure's metadata cites it.

    Keys sorted (`canonical`): the same row written in another key order reruns nothing.
    """
    return {f"experiments.{wildcards.experiment}": canonical(EXPANDED["experiments"][wildcards.experiment])}


def figure_rows(wildcards):
    figure = PLAN.figures[wildcards.figure]
    return {
        f"figures.{wildcards.figure}": canonical(EXPANDED["figures"][wildcards.figure]),
        f"experiments.{figure.experiment}": canonical(EXPANDED["experiments"][figure.experiment]),
    }


def summary_reader_outputs(experiment):
    """An output of each job reading the experiment's summaries: what such a job, failing, deletes."""
    analysed = [f"figures/{experiment}_convergence.png"] if experiment in ANALYSED else []
    return [f"results/stats/{experiment}.csv", f"results/costs/{experiment}.csv", *analysed]


def mtime(path):
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return None


def damaged_solver_outputs():
    """(path, problem) of each damaged file a reference or solver job wrote, and nothing else.

    Every start, a no-op included, checks each file's two ends (12 bytes of a parquet file; a JSON
    file is parsed whole, they are small): what an interrupted copy or a full disk leaves. A summaries
    file newer than everything made from it (changed since, by hand or by a solver job whose readers
    have yet to run) is read whole and its page checksums verified: a job reading it is about to run,
    and would fail on it only after Snakemake had deleted that job's outputs, the committed tables.
    Trajectory files are not read whole: they are large, and after `snakemake results` newer than
    the figures made from them on every start; a figure job finds their damaged pages instead.
    """
    newest_reader = {}  # experiment → mtime: one stat a reader output, not one a chart (~30 µs each here)
    for path, kind, experiment, chart in solver_outputs():
        modified = mtime(path)
        if modified is None:
            continue
        if kind == "reference":
            problem = reference_problem(path)
        elif kind == "timings":
            problem = timing_problem(path)
        else:
            problem = parquet_problem(path)
        if problem is None and kind == "summaries":
            if experiment not in newest_reader:
                times = [t for t in map(mtime, summary_reader_outputs(experiment)) if t is not None]
                newest_reader[experiment] = max(times, default=None)
            if newest_reader[experiment] is not None and modified > newest_reader[experiment]:
                from ngbench.io import result_file_problem  # pyarrow, imported only when needed

                problem = result_file_problem(path, kind)
        if problem is not None:
            yield path, problem


def move_damaged_solver_outputs():
    """Move damaged solver files aside: Snakemake sees them missing, and reruns their jobs and all downstream.

    A plain rerun recovers, instead of failing on the same file every time until a user finds it.
    """
    for path, problem in damaged_solver_outputs():
        moved = move_aside(path)
        print(
            f"ngbench: {path} is damaged ({problem}): moved to {moved}, to be recomputed by this run"
            " (or the next one that needs it)",
            file=sys.stderr,
        )


# Not in a cluster job, which re-parses this file: the main process has moved what it had to.
if workflow.is_main_process:
    move_damaged_solver_outputs()


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
