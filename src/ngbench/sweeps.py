"""Target properties as grid axes: a row whose target field reads `{sweep: [v1, v2, ...]}` becomes one
experiment per value, each tuned and tested on its own, and a why-figure across them.

`expand_sweeps` rewrites a config mapping before any other check, so every later check (the schema,
the target's own, the power warnings) sees ordinary rows; `translate` maps a problem found in an
expanded row back to the field the user wrote (`experiments.<row>.target.<field>.sweep.<i>`).
A sub-experiment is named `<row>_<field>_<value>` (`gaussian_nd_kappa_condition_number_1000`), so a
reader knows the value from its files, and adding a value adds jobs without touching the others'.

A swept row's own figure is its why-figure. The convergence, learning-rate and ECDF figures of each
value's experiment are drawn only where the row sets `value_figures: true` (each is also a Snakemake
target of its own): they would be most of a sweep's figure jobs. The key is taken off the row
before it is copied into its values, so switching it adds or removes figure jobs only.
"""

from __future__ import annotations

import copy
import math
import numbers
from dataclasses import dataclass

SWEEP_KEY = "sweep"
VALUE_FIGURES_KEY = "value_figures"


@dataclass(frozen=True)
class Sweep:
    """One swept row: the target field it varies, its values and their experiments, in order."""

    row: str
    field: str
    values: tuple[float, ...]
    experiments: tuple[str, ...]
    value_figures: bool = False  # each value's convergence, lr-sensitivity and ECDF figures too


def value_token(value) -> str:
    """A value as a name fragment: 1000 → "1000", 0.5 → "0p5", 1e-06 → "1em06", 1e+20 → "1e20"."""
    text = format(value, "g") if isinstance(value, float) else str(value)
    return text.replace("e+", "e").replace("-", "m").replace(".", "p")


def _is_sweep(value) -> bool:
    return isinstance(value, dict) and SWEEP_KEY in value


def expand_sweeps(config: dict) -> tuple[dict, dict[str, Sweep], list[str]]:
    """(config with every swept row replaced by its sub-experiments, the sweeps, problems found).

    A sweep must be a mapping with the one key `sweep`, holding a non-empty list of distinct
    numbers; one field per row may be swept. Problems name the deepest field at fault.
    """
    experiments = config.get("experiments")
    if not isinstance(experiments, dict):
        return config, {}, []
    expanded = copy.deepcopy(config)
    rows: dict = {}
    sweeps: dict[str, Sweep] = {}
    problems: list[str] = []
    for name, row in experiments.items():
        if not isinstance(row, dict):  # the schema names it
            rows[name] = copy.deepcopy(row)
            continue
        target = row.get("target") if isinstance(row.get("target"), dict) else {}  # else the schema names it
        swept = [field for field, value in target.items() if _is_sweep(value)]
        value_figures = row.get(VALUE_FIGURES_KEY, False)
        if VALUE_FIGURES_KEY in row:
            where = f"experiments.{name}.{VALUE_FIGURES_KEY}"
            if not isinstance(value_figures, bool):
                problems.append(f"{where}: must be true or false, got {value_figures!r}")
                continue
            if value_figures and not swept and isinstance(row.get("target"), dict):
                problems.append(
                    f"{where}: only a swept row (a target field written {{sweep: [...]}}) has values"
                    " with figures of their own"
                )
                continue
            row = {key: value for key, value in row.items() if key != VALUE_FIGURES_KEY}
        if not swept:
            rows[name] = copy.deepcopy(row)
            continue
        where = f"experiments.{name}.target"
        if len(swept) > 1:
            problems.append(f"{where}.{swept[1]}: one swept field per row ({swept[0]} is swept already)")
            continue
        field = swept[0]
        spec = target[field]
        values = spec.get(SWEEP_KEY)
        if set(spec) != {SWEEP_KEY}:
            extra = sorted(set(spec) - {SWEEP_KEY})
            problems.append(f"{where}.{field}.{extra[0]}: unknown property (allowed: sweep)")
            continue
        if not isinstance(values, list) or not values:
            problems.append(f"{where}.{field}.sweep: must be a non-empty list of numbers")
            continue
        bad = [i for i, v in enumerate(values) if isinstance(v, bool) or not isinstance(v, numbers.Real)]
        if bad:
            problems.append(f"{where}.{field}.sweep.{bad[0]}: {values[bad[0]]!r} is not a number")
            continue
        if any(not math.isfinite(v) for v in values):
            index = next(i for i, v in enumerate(values) if not math.isfinite(v))
            problems.append(f"{where}.{field}.sweep.{index}: must be finite, got {values[index]}")
            continue
        tokens = [value_token(v) for v in values]
        repeated = [i for i, token in enumerate(tokens) if token in tokens[:i]]
        if repeated:
            problems.append(f"{where}.{field}.sweep.{repeated[0]}: duplicate value {values[repeated[0]]}")
            continue
        names = []
        for index, (value, token) in enumerate(zip(values, tokens, strict=True)):
            sub = copy.deepcopy(row)
            sub["target"][field] = value
            sub_name = f"{name}_{field}_{token}"
            if sub_name in experiments:
                problems.append(
                    f"{where}.{field}.sweep.{index}: makes experiment {sub_name}, a row of its own"
                )
            rows[sub_name] = sub
            names.append(sub_name)
        sweeps[name] = Sweep(name, field, tuple(values), tuple(names), value_figures)
    expanded["experiments"] = rows
    # A figure drawn from a swept row draws its first value.
    for figure in (expanded.get("figures") or {}).values():
        if isinstance(figure, dict) and figure.get("experiment") in sweeps:
            figure["experiment"] = sweeps[figure["experiment"]].experiments[0]
    return expanded, sweeps, problems


def translate(problem: str, sweeps: dict[str, Sweep]) -> str:
    """A problem about a sub-experiment, named by the row and the swept value the user wrote."""
    for sweep in sweeps.values():
        for index, name in enumerate(sweep.experiments):
            prefix = f"experiments.{name}"
            if problem == prefix or problem.startswith((prefix + ".", prefix + ":")):
                rest = problem[len(prefix) :]
                field_path = f".target.{sweep.field}"
                if rest.startswith(field_path):
                    return f"experiments.{sweep.row}{field_path}.sweep.{index}{rest[len(field_path) :]}"
                return f"experiments.{sweep.row}{rest} (with {sweep.field} = {sweep.values[index]})"
    return problem
