"""Experiment rows: checks the JSON schema cannot express, and the grid each row expands into.

The library never reads a config file: the workflow hands it the parsed mapping. `parse_config`
raises one `ConfigError` listing every problem, each line naming `section.name.field`, so a user
fixes a config in one pass and no job starts on a bad one.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ngbench import portable

# The method and target registries, the plugin loader and JobSpec are imported where a check or a job
# needs them, not here: a Snakemake start whose checked config comes from the startup cache
# (ngbench.startup_cache) unpickles the classes below without importing them (~40 ms a start).
if TYPE_CHECKING:
    from ngbench.jobs import JobSpec

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
# The size preset (ngbench.plots.PRESETS) of each kind of figure where the config's `figure_sizes`
# names none: path figures and single panels fit a column, a panel per chart needs the page's width.
DEFAULT_FIGURE_SIZES = {"paths": "one_column", "panels": "two_column", "single": "one_column"}
MAX_STEPS = 1_000_000
MAX_RUNS_PER_CELL = 1_000_000
MAX_CELL_HISTORY_BYTES = 4_000_000_000
MAX_CELL_STATE_BYTES = 4_000_000_000
STEP_TEMPORARIES = 10


def canonical(value):
    """Mappings with their keys sorted, recursively.

    Snakemake compares a job's params as text: without this, rewriting a config with its keys in
    another order would rerun every job whose params hold a mapping.
    """
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(item) for item in value]
    return value


class ConfigError(ValueError):
    """A config problem found before any job runs; the message has one line per problem."""


@dataclass(frozen=True)
class Experiment:
    name: str
    target: dict
    init: dict
    parameterizations: tuple[str, ...]
    methods: tuple[str, ...]
    learning_rates: tuple[float, ...]
    seeds: tuple[int, ...]
    steps: int
    divergence_factor: float
    thin: int | None  # keep ~thin log-spaced iterations per trajectory (None: every iteration)
    gradient: str | dict  # "exact", "delta" or {"mc": S}: how the target's expectations are computed
    needs_reference: bool  # f* comes from a reference solve (see Target.needs_reference)
    plot_dimensions: int  # canonical coordinates, for figures that draw paths in 2-D
    # The charts the invariance audit compares: those spanning the family of the row's first chart.
    audited_parameterizations: tuple[str, ...] = ()
    # The row's own tolerances, else the config's; the smallest is the row's main tolerance.
    tolerances: tuple[float, ...] = ()
    # How learning rates are tuned (ngbench.stats.TUNING_RULES): the row's own, else the config's.
    tuning_rule: str = "success_first"
    # A run stops at its first iterate within the smallest tolerance; False runs it to `steps` (for
    # figures that show where a method goes after converging).
    stop_at_target: bool = True

    @property
    def main_tolerance(self) -> float:
        return min(self.tolerances)

    @property
    def audited(self) -> bool:
        """Whether the row gets an invariance audit: NGD and two charts of one family to compare, and
        a deterministic step to take in each. A row with Monte Carlo gradients has none (its step is
        a random draw), and an exact-gradient audit would show another row's curves under its name."""
        return (
            len(self.audited_parameterizations) >= 2
            and "ngd" in self.methods
            and not isinstance(self.gradient, dict)
        )

    def cells(self) -> list[tuple[str, str]]:
        """The (parameterization, method) cells of this row."""
        return [(p, m) for p in self.parameterizations for m in self.methods]

    def job(self, parameterization: str) -> JobSpec:
        """Everything one solver job depends on: every method of the row in one chart, and nothing else.

        Snakemake reruns a job when its params change; a job per chart means adding a chart to a row
        reruns no existing job. Methods are listed in the registry's order, so reordering them in
        the config reruns nothing either.
        """
        from ngbench.jobs import JobSpec

        return JobSpec(
            experiment=self.name,
            target=self.target,
            init=self.init,
            parameterization=parameterization,
            methods=self.methods,
            learning_rates=self.learning_rates,
            seeds=self.seeds,
            steps=self.steps,
            divergence_factor=self.divergence_factor,
            thin=self.thin,
            gradient=self.gradient,
            tolerances=self.tolerances,
            stop_at_target=self.stop_at_target,
        )

    def chart_params(self, parameterization: str) -> dict:
        """The solver job's Snakemake params: `job(parameterization).to_params()`."""
        return self.job(parameterization).to_params()


def method_params(chart_params: dict, method: str) -> dict:
    """One method's share of `Experiment.chart_params`: what `ngbench.solve.solve_cell` runs."""
    cell = {key: value for key, value in chart_params.items() if key != "methods"}
    cell["method"] = method
    return cell


@dataclass(frozen=True)
class FigureSpec:
    name: str
    experiment: str
    parameterization: str
    seed: int
    learning_rates: dict[str, float]  # method → learning rate drawn
    title: str


@dataclass(frozen=True)
class Config:
    experiments: dict[str, Experiment]
    figures: dict[str, FigureSpec]
    # Not errors: what a row is allowed to do but cannot conclude (e.g. too few seeds for a test).
    warnings: tuple[str, ...] = ()
    # Rows that sweep a target field (ngbench.sweeps.Sweep by row name); their experiments are above.
    sweeps: dict = dataclasses.field(default_factory=dict)
    # Kind of figure ("paths", "panels", "single") → size preset (ngbench.plots.PRESETS).
    figure_sizes: dict[str, str] = dataclasses.field(default_factory=dict)
    # The config's ledger of literature claims (ngbench.ledger.Claim), in its order.
    claims: tuple = ()
    # The config as checked (by `check_config`): each swept row replaced by its experiments, the
    # schema's defaults filled in. What jobs and metadata cite.
    expanded: dict | None = None


SIGNIFICANCE = 0.05


def power_warnings(experiment: Experiment) -> list[str]:
    """Why a row's paired tests cannot be significant, or its learning rates not held out.

    Every seed is one pair of a comparison (cross-fitting lets every seed report). The paired test
    can give at best p = 2·2⁻ⁿ (all n pairs one way), never below its Monte Carlo floor
    (`ngbench.power.swap_test_floor`), and Holm multiplies the smallest p of an experiment by
    its number of comparisons (charts × methods other than NGD).
    """
    from ngbench.power import swap_test_floor

    where = f"experiments.{experiment.name}.seeds"
    n = len(experiment.seeds)
    notes = []
    parities = {seed % 2 for seed in experiment.seeds}
    if n > 1 and len(parities) == 1:
        notes.append(
            f"{where}: every seed is {'even' if parities == {0} else 'odd'}; learning rates are tuned and "
            "reported on the same seeds (cross-fitting holds out seeds by parity)"
        )
    elif len(parities) == 2:
        smaller = min(sum(1 for s in experiment.seeds if s % 2 == p) for p in (0, 1))
        if smaller < 3:
            notes.append(
                f"{where}: only {smaller} seed(s) of one parity; learning rates tuned on them "
                "(cross-fitting holds out seeds by parity) rest on that few runs"
            )
    comparisons = len(experiment.parameterizations) * (len(experiment.methods) - 1)
    if "ngd" not in experiment.methods or comparisons == 0:
        return notes
    best_p = comparisons * swap_test_floor(n)
    if best_p >= SIGNIFICANCE:
        enough = next((k for k in range(1, 64) if comparisons * swap_test_floor(k) < SIGNIFICANCE), None)
        remedy = f"it needs at least {enough} seeds" if enough else "fewer comparisons (charts × methods)"
        notes.append(
            f"{where}: {n} seed(s) give {n} pair(s) per comparison; with {comparisons} comparisons "
            f"(Holm) the smallest reachable p is {min(best_p, 1.0):.2g}, so no paired test of this row "
            f"can reach p < {SIGNIFICANCE:g} ({remedy})"
        )
    return notes


def learning_rate_grid(spec) -> tuple[float, ...]:
    """An explicit list, or {logspace: [start_exponent, stop_exponent, count]}.

    Each power of ten is correctly rounded (`ngbench.portable.logspace`): np.logspace's last bit
    depends on the CPU, and a learning rate must be the same number on every machine.
    """
    if isinstance(spec, dict):
        start, stop, count = spec["logspace"]
        return portable.logspace(float(start), float(stop), int(count))
    return tuple(float(x) for x in spec)


def seed_list(spec) -> tuple[int, ...]:
    """n → 0..n-1, or an explicit list."""
    if isinstance(spec, int):
        return tuple(range(spec))
    return tuple(int(s) for s in spec)


def _non_finite(value, path: str):
    """(dotted path, problem) of every number in a nested value that is not finite (or is a boolean)."""
    if isinstance(value, bool):
        yield path, f"must be a number, not {str(value).lower()}"
    elif isinstance(value, (int, float)):
        if not math.isfinite(value):
            yield path, f"numbers must be finite, got {value}"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _non_finite(item, f"{path}.{index}")


def _repeats(items) -> list[int]:
    """Indices of the entries equal to an earlier one."""
    seen, repeated = set(), []
    for index, item in enumerate(items):
        if item in seen:
            repeated.append(index)
        seen.add(item)
    return repeated


def _check_learning_rates(spec, where: str, errors: list[str]) -> tuple[float, ...]:
    """The grid, with each problem under the entry at fault (or the logspace triple's)."""
    field = f"{where}.learning_rates"
    if isinstance(spec, dict):
        start, stop, count = spec["logspace"]
        if not (isinstance(count, int) and count >= 1):
            errors.append(f"{field}.logspace.2: the count must be an integer ≥ 1, got {count!r}")
            return ()
        with np.errstate(over="ignore", under="ignore"):  # reported below, by the exponent at fault
            learning_rates = learning_rate_grid(spec)
        for index, exponent in ((0, start), (1, stop)):
            value = 10.0**exponent if exponent < 400 else math.inf
            if not (value > 0 and math.isfinite(value)):
                errors.append(
                    f"{field}.logspace.{index}: 10^{exponent} is not a finite positive float "
                    "(exponents must lie within about ±307)"
                )
        if len(set(learning_rates)) != len(learning_rates):
            errors.append(f"{field}.logspace: duplicate learning rates (start = stop with a count > 1)")
        return learning_rates
    learning_rates = learning_rate_grid(spec)
    if not learning_rates:
        errors.append(f"{field}: empty grid")
    for index, lr in enumerate(learning_rates):
        if not (lr > 0 and math.isfinite(lr)):
            errors.append(f"{field}.{index}: every learning rate must be finite and > 0, got {lr}")
    for index in _repeats(learning_rates):
        errors.append(f"{field}.{index}: duplicate learning rate {learning_rates[index]}")
    return learning_rates


def _check_init(target, init: dict, seeds: tuple[int, ...], where: str, errors: list[str]) -> None:
    """The row's `init` against the target: its keys, each law's bounds, then each start's domain."""
    before = len(errors)
    names = target.init_names
    missing = [s for s in names if s not in init]
    if missing:
        errors.append(f"{where}.init: missing {', '.join(missing)} (needs exactly {', '.join(names)})")
    for coordinate in init:
        if coordinate not in names:
            errors.append(
                f"{where}.init.{coordinate}: not a coordinate of target {target.name!r} "
                f"(needs exactly {', '.join(names)})"
            )
    for coordinate, spec in init.items():
        if isinstance(spec, dict):
            ((kind, (low, high)),) = spec.items()
            if not low < high:
                errors.append(f"{where}.init.{coordinate}.{kind}: needs low < high, got [{low}, {high}]")
            for index, bound in enumerate((low, high)):
                if kind == "loguniform" and not bound > 0:
                    errors.append(
                        f"{where}.init.{coordinate}.loguniform.{index}: bounds must be > 0, got {bound}"
                    )
    if len(errors) > before:
        return

    starts = target.initial_states(init, seeds)
    # The target's domain is a box over its init coordinates: name the coordinate, and for a drawn
    # start the bound of its law that let the draw out, and the seed.
    for coordinate, interval in target.init_domains.items():
        values = starts[:, target.init_columns(coordinate)]
        outside = ~interval.contains(values)
        if not outside.any():
            continue
        run, entry = np.argwhere(outside)[0]
        value, spec = float(values[run, entry]), init[coordinate]
        reason = interval.reason or f"must lie in ({interval.low}, {interval.high})"
        if isinstance(spec, dict):
            ((kind, bounds),) = spec.items()
            bound = 0 if value <= interval.low else 1
            which = f" (entry {entry})" if values.shape[1] > 1 else ""
            count = int(outside.any(axis=1).sum())
            errors.append(
                f"{where}.init.{coordinate}.{kind}.{bound}: {bounds[bound]} lets seed {seeds[run]} draw "
                f"{value:.6g}{which}, outside the target's domain ({count} of {len(seeds)} starts): {reason}"
            )
        else:
            errors.append(f"{where}.init.{coordinate}: {spec} is outside the target's domain: {reason}")
    if len(errors) > before:
        return
    outside = ~target.in_domain(starts)
    if outside.any():  # a domain the target does not split by coordinate
        errors.append(
            f"{where}.init: {int(outside.sum())} of {len(seeds)} starts lie outside the target's "
            f"domain (first at seed {seeds[int(np.argmax(outside))]})"
        )


def _check_methods(target, row: dict, where: str, errors: list[str]) -> tuple[str, ...]:
    """The row's method names (a variant's spells its settings: ngbench.methods.make_method); each
    problem is reported at `experiments.ROW.methods.I[.FIELD]`."""
    from ngbench.methods import make_method, method_specification_problems, unavailability

    charts = {p: target.charts[p] for p in row["parameterizations"] if p in target.charts}
    names = []
    for index, entry in enumerate(row["methods"]):
        problems = method_specification_problems(entry)
        for field, problem in problems:
            errors.append(f"{where}.methods.{index}{'.' + field if field else ''}: {problem}")
        if problems:
            names.append(None)
            continue
        method = make_method(entry)
        names.append(method.name)
        reason = unavailability(method, target, charts)
        if reason is not None:
            errors.append(f"{where}.methods.{index}: {reason}")
    for index in _repeats(names):
        if names[index] is not None:
            errors.append(f"{where}.methods.{index}: duplicate entry {names[index]!r}")
    return tuple(name for name in names if name is not None)


def _built_target(spec: dict, built: dict | None):
    """`make_target(spec)`, built once per distinct spec of one config check (`built` maps the spec's
    text to it): rows that share a target (a breast-cancer CSV read, a d = 100 rotation) share its
    construction. Each row gets its own shallow copy, as `set_gradient` sets attributes on it."""
    from ngbench.targets import make_target

    if built is None or "plugin" in spec:  # a user's class may keep state: built for each row
        return make_target(spec)
    key = json.dumps(spec, sort_keys=True)
    if key not in built:
        built[key] = make_target(spec)
    return copy.copy(built[key])


def _check_experiment(
    name: str, row: dict, errors: list[str], built: dict | None = None
) -> Experiment | None:
    """One row, check by check (each appends its problems under the field at fault): its numbers,
    target, gradient, charts, methods, grid, then (on a row clean so far) its starts."""
    where = f"experiments.{name}"
    if not NAME_PATTERN.match(name):
        errors.append(f"{where}: name must match [a-z][a-z0-9_]* (it is used in result paths)")
        return None
    before = len(errors)
    _check_finite(row, where, errors)
    if len(errors) > before:
        return None
    target = _check_target(row["target"], where, errors, built)
    if target is None:
        return None
    gradient = row.get("gradient", "exact")
    _check_gradient(target, gradient, where, errors)
    _check_charts(target, row["parameterizations"], where, errors)
    methods = _check_methods(target, row, where, errors)
    learning_rates, seeds = _check_grid(target, row, where, errors)
    if len(errors) > before:
        return None
    _check_init(target, row["init"], seeds, where, errors)
    if "plugin" in row["target"] and len(errors) == before:
        _check_plugin_start(target, row, seeds, where, errors)
    if len(errors) > before:
        return None
    return Experiment(
        name=name,
        target=canonical(row["target"]),
        init=canonical(row["init"]),
        parameterizations=tuple(row["parameterizations"]),
        methods=methods,
        learning_rates=learning_rates,
        seeds=seeds,
        steps=int(row["steps"]),
        divergence_factor=float(row.get("divergence_factor", 1e8)),
        thin=row.get("thin"),
        stop_at_target=bool(row.get("stop_at_target", True)),
        gradient=canonical(gradient),
        needs_reference=target.needs_reference,
        plot_dimensions=target.plot_dimensions,
        audited_parameterizations=tuple(
            p
            for p in row["parameterizations"]
            if target.charts[p].family == target.charts[row["parameterizations"][0]].family
        ),
    )


def _check_finite(row: dict, where: str, errors: list[str]) -> None:
    """Every number of the row's numeric fields finite (and no boolean where a number goes)."""
    for key in ("target", "init", "learning_rates", "steps", "divergence_factor", "gradient", "thin"):
        if key in row:
            errors.extend(f"{path}: {problem}" for path, problem in _non_finite(row[key], f"{where}.{key}"))


def _check_target(spec: dict, where: str, errors: list[str], built: dict | None):
    """The row's target, built (None, with the problem at `where.target[.FIELD]`, if it cannot be)."""
    from ngbench.plugins import PluginError
    from ngbench.targets import SpecError

    try:
        return _built_target(spec, built)
    except PluginError as exc:
        errors.append(f"{where}.target (plugin {exc.plugin}): {exc}")
    except SpecError as exc:
        field = f"target.{exc.field}" if exc.field else "target"
        errors.append(f"{where}.{field}: {exc.reason}")
    except ValueError as exc:
        errors.append(f"{where}.target: {exc}")
    return None


def _check_gradient(target, gradient, where: str, errors: list[str]) -> None:
    """The row's gradient estimator, set on the target (it may change what the target observes)."""
    from ngbench.targets import SpecError

    try:
        target.set_gradient(gradient)
    except SpecError as exc:
        field = f"gradient.{exc.field}" if exc.field else "gradient"
        errors.append(f"{where}.{field}: {exc.reason}")


def _check_charts(target, chosen: list, where: str, errors: list[str]) -> None:
    """The row's parameterizations: each a chart of the target, none twice."""
    for index, item in enumerate(chosen):
        if item not in target.charts:
            errors.append(
                f"{where}.parameterizations.{index}: {item!r} is not available for target {target.name!r} "
                f"(known: {', '.join(sorted(target.charts))})"
            )
    for index in _repeats(chosen):
        errors.append(f"{where}.parameterizations.{index}: duplicate entry {chosen[index]!r}")


def _check_grid(
    target, row: dict, where: str, errors: list[str]
) -> tuple[tuple[float, ...], tuple[int, ...]]:
    """The learning rates and seeds, the step budget, and what a cell of them holds in memory."""
    learning_rates = _check_learning_rates(row["learning_rates"], where, errors)
    seeds = seed_list(row["seeds"])
    if not seeds:
        errors.append(f"{where}.seeds: empty grid")
    for index in _repeats(seeds):
        errors.append(f"{where}.seeds.{index}: duplicate seed {seeds[index]}")
    if row["steps"] > MAX_STEPS:
        errors.append(f"{where}.steps: {row['steps']} is beyond the bound of {MAX_STEPS}")
    runs = len(learning_rates) * len(seeds)
    if runs > MAX_RUNS_PER_CELL:
        errors.append(
            f"{where}.seeds: {len(learning_rates)} learning rates × {len(seeds)} seeds is beyond "
            f"{MAX_RUNS_PER_CELL} runs per cell"
        )
    # A cell keeps its loss and what the target observes for every iterate of every run in memory.
    history_bytes = (row["steps"] + 1) * runs * (1 + len(target.observed_columns)) * 8
    if history_bytes > MAX_CELL_HISTORY_BYTES:
        errors.append(
            f"{where}.steps: {row['steps']} steps × {runs} runs per cell need "
            f"{history_bytes / 1e9:.1f} GB of history (bound {MAX_CELL_HISTORY_BYTES / 1e9:.0f} GB): "
            "use fewer steps, seeds or learning rates, or split the row"
        )
    # ... and the states of all its runs, with the temporaries of a step (about ten copies): in the
    # form of the row's largest chart (a mean-field chart of a Gaussian holds 2d numbers, not d + d²).
    charts = [target.charts[name] for name in row["parameterizations"] if name in target.charts]
    state_size = max((target.state_size_for(chart) for chart in charts), default=target.state_size)
    state_bytes = runs * state_size * 8 * STEP_TEMPORARIES
    if state_bytes > MAX_CELL_STATE_BYTES:
        errors.append(
            f"{where}.seeds: {runs} runs per cell (learning rates × seeds) of "
            f"{state_size} numbers each need about {state_bytes / 1e9:.1f} GB per step (bound "
            f"{MAX_CELL_STATE_BYTES / 1e9:.0f} GB): use fewer seeds or learning rates, or split the row"
        )
    return learning_rates, seeds


def _check_plugin_start(target, row: dict, seeds: tuple[int, ...], where: str, errors: list[str]) -> None:
    """The checker's cheap part, before any job: a wrong gradient would otherwise show only as runs
    that never converge (python -m ngbench.check runs the whole suite)."""
    from ngbench.check import start_problems

    plugin = f"{where}.target (plugin {row['target']['plugin']})"
    errors.extend(f"{plugin}: {problem}" for problem in start_problems(target, row["init"], seeds))


def _checked_by_plugin_or_not(
    name: str, row: dict, errors: list[str], built: dict | None = None
) -> Experiment | None:
    """`_check_experiment`, where an exception a plugin target raises in any method becomes an error
    line naming the plugin (and where in the user's file), not a traceback from inside ngbench."""
    target = row.get("target")
    if not (isinstance(target, dict) and "plugin" in target):
        return _check_experiment(name, row, errors, built)
    try:
        return _check_experiment(name, row, errors)
    except Exception as error:
        from pathlib import Path

        from ngbench.plugins import describe, split_reference

        path = split_reference(target["plugin"])[0]
        errors.append(f"experiments.{name}.target (plugin {target['plugin']}): {describe(error, Path(path))}")
        return None


def _check_figure(
    name: str, row: dict, experiments: dict[str, Experiment], known_experiments, errors: list[str]
):
    where = f"figures.{name}"
    if not NAME_PATTERN.match(name):
        errors.append(f"{where}: name must match [a-z][a-z0-9_]* (it is used in figure paths)")
        return None
    experiment = experiments.get(row["experiment"])
    if experiment is None:
        if row["experiment"] not in known_experiments:
            errors.append(f"{where}.experiment: no experiment named {row['experiment']!r}")
        return None  # an experiment with errors of its own is reported once, under its name
    before = len(errors)
    if experiment.plot_dimensions != 2:
        errors.append(
            f"{where}.experiment: paths are drawn in 2-D; experiment {experiment.name!r} has "
            f"{experiment.plot_dimensions} coordinates"
        )
    if row["parameterization"] not in experiment.parameterizations:
        errors.append(
            f"{where}.parameterization: {row['parameterization']!r} is not run by experiment "
            f"{experiment.name!r}"
        )
    if row["seed"] not in experiment.seeds:
        errors.append(f"{where}.seed: {row['seed']} is not a seed of experiment {experiment.name!r}")
    learning_rates = {}
    for method, lr in row["learning_rates"].items():
        if method not in experiment.methods:
            errors.append(
                f"{where}.learning_rates.{method}: method not run by experiment {experiment.name!r}"
            )
            continue
        matches = [x for x in experiment.learning_rates if math.isclose(x, lr, rel_tol=1e-9)]
        if not matches:
            errors.append(
                f"{where}.learning_rates.{method}: {lr} is not in the learning-rate grid of "
                f"experiment {experiment.name!r}"
            )
            continue
        learning_rates[method] = matches[0]
    if len(errors) > before:
        return None
    # One fixed method order (the registry's): legends read alike, and the params do not change
    # when the config lists the methods in another order.
    from ngbench.methods import ordered

    learning_rates = {method: learning_rates[method] for method in ordered(learning_rates)}
    return FigureSpec(
        name=name,
        experiment=experiment.name,
        parameterization=row["parameterization"],
        seed=int(row["seed"]),
        learning_rates=learning_rates,
        title=row.get("title", name),
    )


def _filling_defaults(validator_class):
    """The validator, also setting each missing property that has a `default` (as
    `snakemake.utils.validate` does, after the jsonschema FAQ): one pass both checks and fills."""
    from jsonschema import validators

    check_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        # `properties` applies to mappings only: a value of another type is the `type` check's to name.
        for name, subschema in properties.items() if isinstance(instance, dict) else ():
            if "default" in subschema:
                instance.setdefault(name, subschema["default"])
        yield from check_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": set_defaults})


def schema_problems(config: dict, schema: dict, fill_defaults: bool = False) -> list[str]:
    """Every JSON-schema violation as one `dotted.path: message` line (snakemake's validate stops at one).

    With `fill_defaults`, `config` gets the schema's defaults where it has no value.
    """
    from jsonschema import Draft202012Validator

    validator_class = _filling_defaults(Draft202012Validator) if fill_defaults else Draft202012Validator
    lines = []
    for error in validator_class(schema).iter_errors(config):
        alternatives = None
        while error.context:
            # A oneOf: report the alternative that got deepest into the value, the one the user meant.
            alternatives = error.validator_value
            error = max(error.context, key=lambda e: (len(e.relative_path), e.validator != "type"))
        parts = [str(part) for part in error.absolute_path]
        hint = ""
        if error.validator == "type" and isinstance(error.instance, str) and _looks_numeric(error.instance):
            hint = " (YAML reads 1e-3 as a string: write 1.0e-3)"
        for child, message in _deepest_fields(error, config, alternatives):
            path = ".".join(parts + ([child] if child is not None else [])) or "config"
            lines.append(f"{path}: {message}{hint}")
    return sorted(set(lines))


def _deepest_fields(error, config, alternatives=None) -> list[tuple[str | None, str]]:
    """(key under the error's path, message) pairs: a mapping's missing, unexpected or badly named key
    is named itself, not the mapping that holds it; other errors sit at their own path (key None).

    `alternatives` are the schemas of the oneOf the error was chosen from: an unknown key lists the
    keys any of them allows.
    """
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        return [
            (key, "required property missing") for key in error.validator_value if key not in instance
        ] or [(None, error.message)]
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        for alternative in alternatives or ():
            if isinstance(alternative, dict):
                known |= set(alternative.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        extra = [key for key in instance if key not in known and not any(re.search(p, key) for p in patterns)]
        allowed = f" (allowed: {', '.join(sorted(known))})" if known else ""
        return [(str(key), f"unknown property{allowed}") for key in extra] or [(None, error.message)]
    if isinstance(instance, str) and isinstance(_at(config, error.absolute_path), dict):
        # A string checked at a mapping's path is one of its keys (propertyNames): name that key.
        return [(instance, f"bad name: {error.message}")]
    return [(None, error.message)]


def _at(config, path):
    node = config
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def duplicate_keys(yaml_text: str) -> list[str]:
    """Keys given twice in one YAML mapping, as dotted paths.

    YAML loaders keep the last of two equal keys without a word, so a second experiment row under
    an existing name would silently replace the first.
    """
    import yaml

    found = []

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, value_node in node.value:
                key = key_node.value
                where = f"{path}.{key}" if path else str(key)
                if key in seen:
                    found.append(where)
                seen.add(key)
                walk(value_node, where)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, f"{path}.{index}")

    walk(yaml.compose(yaml_text, Loader=yaml.SafeLoader), "")
    return found


def check_config(config: dict, schema: dict) -> Config:
    """Sweeps expanded first (ngbench.sweeps), then schema problems (all of them), then the checks a
    schema cannot express; a problem in a swept row names the field and value the user wrote.

    The schema is checked once, filling its defaults into a copy (`Config.expanded`); the checks
    after it read the config as written.
    """
    from ngbench.sweeps import expand_sweeps, translate

    expanded, sweeps, problems = expand_sweeps(config)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    expanded = copy.deepcopy(expanded)
    problems = sorted(
        {translate(problem, sweeps) for problem in schema_problems(expanded, schema, fill_defaults=True)}
    )
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    return replace(parse_config(config), expanded=expanded)


def _check_tolerances(values, where: str, errors: list[str]) -> tuple[float, ...]:
    tolerances = tuple(float(t) for t in values)
    for index, tolerance in enumerate(tolerances):
        if not (tolerance > 0 and math.isfinite(tolerance)):
            errors.append(f"{where}.{index}: every tolerance must be finite and > 0, got {tolerance}")
    for index, (a, b) in enumerate(zip(tolerances, tolerances[1:], strict=False), start=1):
        if a <= b:
            errors.append(
                f"{where}.{index}: must be strictly decreasing ({b} follows {a}), "
                "e.g. [1.0e-2, 1.0e-4, 1.0e-6]"
            )
    return tolerances


def parse_config(config: dict) -> Config:
    """Check a schema-valid config mapping and expand its sweeps and grids; raise ConfigError on any
    problem (a problem in a swept row names the field and value the user wrote)."""
    from ngbench.sweeps import expand_sweeps, translate

    config, sweeps, problems = expand_sweeps(config)
    if problems:
        raise ConfigError("invalid config:\n  " + "\n  ".join(problems))
    try:
        plan = _parse_expanded(config)
    except ConfigError as error:
        lines = str(error).splitlines()
        raise ConfigError(
            "\n  ".join([lines[0], *(translate(line.strip(), sweeps) for line in lines[1:])])
        ) from None
    from ngbench.ledger import parse_claims

    errors: list[str] = []
    claims = parse_claims(config.get("claims") or {}, plan.experiments, sweeps, errors)
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))
    return replace(plan, sweeps=sweeps, claims=tuple(claims))


def _with_tuning(
    experiment: Experiment, row: dict, config: dict, tolerances: tuple[float, ...], errors: list[str]
) -> Experiment:
    """The row's tolerances and tuning rule: its own, else the config's."""
    own = row.get("tolerances")
    if own is not None:
        tolerances = _check_tolerances(own, f"experiments.{experiment.name}.tolerances", errors)
    rule = row.get("tuning_rule", config.get("tuning_rule", "success_first"))
    return replace(experiment, tolerances=tolerances, tuning_rule=rule)


def _parse_expanded(config: dict) -> Config:
    errors: list[str] = []
    tolerances = _check_tolerances(config["tolerances"], "tolerances", errors)
    experiments = {}
    built: dict = {}
    for name, row in config["experiments"].items():
        experiment = _checked_by_plugin_or_not(name, row, errors, built)
        if experiment is not None:
            experiments[name] = _with_tuning(experiment, row, config, tolerances, errors)
    figures = {}
    for name, row in (config.get("figures") or {}).items():
        figure = _check_figure(name, row, experiments, config["experiments"], errors)
        if figure is not None:
            figures[name] = figure
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))
    warnings = tuple(note for experiment in experiments.values() for note in power_warnings(experiment))
    figure_sizes = {**DEFAULT_FIGURE_SIZES, **(config.get("figure_sizes") or {})}
    return Config(
        experiments=experiments,
        figures=figures,
        warnings=warnings,
        figure_sizes=figure_sizes,
    )
