"""A ledger of literature claims, each checked against this config's own tables.

A config's `claims:` section lists published claims with their source and either a `check` — one
statistic of one table, for one (chart, method[, lr, tolerance, baseline]), and the condition it
must meet — or what reproducing the claim `needs` that ngbench does not have yet. The verdict is
the pipeline's: "reproduced" or "not reproduced" with the number found, "not checkable here" with
what it needs. A claim that does not reproduce stays in the ledger: that is a result too.

Tables a check can read (files of `results/stats/`):
- `iterations`: `<experiment>.csv`, one row per (chart, method, lr, tolerance);
- `best_lr`: `<experiment>_best_lr.csv`, a row per (chart, method, fold): both folds must meet it;
- `paired`: `<experiment>_paired.csv`, a row per (chart, baseline);
- `slopes`: `sweeps/<row>_slopes.csv`, a row per (chart, method) of a swept row;
- `invariance`: `invariance/<experiment>_slopes.csv`, a row per method of an audited experiment
  (`ngbench.audit.spread_slopes`: how one step's spread between charts grows with ρ);
- `identities`: `identities/<experiment>.csv`, a row per exact identity checked on the experiment's
  target (`ngbench.identities`), selected by `identity`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

TABLES = {
    "iterations": "results/stats/{experiment}.csv",
    "best_lr": "results/stats/{experiment}_best_lr.csv",
    "paired": "results/stats/{experiment}_paired.csv",
    "slopes": "results/stats/sweeps/{experiment}_slopes.csv",
    "invariance": "results/stats/invariance/{experiment}_slopes.csv",
    "identities": "results/stats/identities/{experiment}.csv",
}
# The targets ngbench.identities checks identities on (the workflow's `identities` rule runs for these).
IDENTITY_TARGETS = ("logistic_vi",)
CONDITIONS = ("at_most", "at_least", "equals", "between", "is")
SELECTORS = ("parameterization", "method", "baseline", "lr", "tolerance", "identity")
LEDGER_COLUMNS = ["claim", "source", "statement", "verdict", "found", "expected", "table"]


@dataclass(frozen=True)
class Claim:
    name: str
    source: str
    statement: str
    check: dict | None  # table, experiment, statistic, selectors, one condition
    needs: str = ""

    def table_path(self) -> str | None:
        if not self.check:
            return None
        return TABLES[self.check["table"]].format(experiment=self.check["experiment"])


def _expected(check: dict) -> str:
    for condition in CONDITIONS:
        if condition in check:
            value = check[condition]
            words = {"at_most": "≤", "at_least": "≥", "equals": "=", "is": "is"}
            if condition == "between":
                return f"between {value[0]:g} and {value[1]:g}"
            return (
                f"{words[condition]} {value:g}"
                if isinstance(value, (int, float))
                else f"{words[condition]} {value}"
            )
    return ""


def _holds(value, check: dict) -> bool:
    if "is" in check:
        return str(value) == str(check["is"])
    value = float(value)
    if math.isnan(value):
        return False
    if "at_most" in check:
        return value <= check["at_most"]
    if "at_least" in check:
        return value >= check["at_least"]
    if "equals" in check:
        return math.isclose(value, check["equals"], rel_tol=1e-12, abs_tol=0.0)
    low, high = check["between"]
    return low <= value <= high


def select(table: pd.DataFrame, check: dict) -> pd.DataFrame:
    """The rows of `table` the check names (a learning rate or tolerance matched to 1e-9)."""
    rows = table
    for key in SELECTORS:
        if key not in check:
            continue
        if key in ("lr", "tolerance"):
            column = "best_lr" if key == "lr" and "lr" not in rows else key
            rows = rows[np.isclose(rows[column].astype(float), float(check[key]), rtol=1e-9, atol=0)]
        else:
            rows = rows[rows[key].astype(str) == str(check[key])]
    if "tolerance" not in check and "tolerance" in rows and len(rows):
        rows = rows[rows["tolerance"] == rows["tolerance"].min()]  # the row's main tolerance
    return rows


def verdict(claim: Claim, table: pd.DataFrame | None) -> dict:
    """One ledger line: the claim, what was found, and whether it holds."""
    line = {
        "claim": claim.name,
        "source": claim.source,
        "statement": claim.statement,
        "table": claim.table_path() or "",
        "expected": _expected(claim.check) if claim.check else "",
    }
    if claim.check is None:
        return {**line, "verdict": "not checkable here", "found": f"needs {claim.needs}"}
    rows = select(table, claim.check)
    if rows.empty:
        return {**line, "verdict": "not checkable here", "found": "no such row in the table"}
    values = rows[claim.check["statistic"]].tolist()
    found = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
    held = all(_holds(v, claim.check) for v in values)
    return {**line, "verdict": "reproduced" if held else "not reproduced", "found": found}


def ledger(claims: list[Claim], tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every claim's verdict, in the config's order; `tables` maps each claim's table path to it."""
    lines = [verdict(claim, tables.get(claim.table_path())) for claim in claims]
    return pd.DataFrame(lines, columns=LEDGER_COLUMNS)


def to_markdown(table: pd.DataFrame) -> str:
    """The ledger as the README and the report show it."""
    header = (
        "**Literature claims, checked by the pipeline against this config's tables** (the verdict and "
        "the number found are computed, never typed; a claim that does not reproduce stays listed).\n\n"
    )
    return header + table.to_markdown(index=False, disable_numparse=True) + "\n"


# The columns a check may name as its statistic, per table: written out rather than imported, so the
# config check (which solver jobs import) does not depend on the statistics' code;
# tests/test_ledger.py holds them equal to the tables' own column lists.
STATISTIC_COLUMNS = {
    "iterations": [
        "experiment",
        "target",
        "parameterization",
        "method",
        "lr",
        "tolerance",
        "runs",
        "successes",
        "success_rate",
        "success_low",
        "success_high",
        "median_iters",
        "median_iters_low",
        "median_iters_high",
        "q25_iters",
        "q75_iters",
        "median_grad_evals",
        "median_solves",
        "median_final_test_log_loss",
        "art",
    ],
    "best_lr": [
        "learning_rates_tried",
        "best_lr",
        "tuning_seeds",
        "tuning_successes",
        "tuning_art",
        "reporting_seeds",
        "runs",
        "successes",
        "median_iters",
        "art",
    ],
    "paired": [
        "experiment",
        "parameterization",
        "baseline",
        "tolerance",
        "ngd_lr",
        "baseline_lr",
        "pairs",
        "ngd_successes",
        "baseline_successes",
        "both_succeed",
        "only_ngd",
        "only_baseline",
        "ngd_faster",
        "baseline_faster",
        "ties",
        "favours",
        "log_speedup",
        "log_speedup_low",
        "log_speedup_high",
        "p_success",
        "p_fixed_lr",
        "p_value",
        "min_attainable_p",
        "p_holm",
    ],
    "slopes": [
        "row",
        "field",
        "parameterization",
        "method",
        "tolerance",
        "scale",
        "values_with_successes",
        "successful_runs",
        "slope",
        "slope_low",
        "slope_high",
        "theory_slope",
    ],
    "invariance": ["experiment", "method", "charts", "points", "max_lr", "slope", "slope_low", "slope_high"],
    "identities": ["experiment", "identity", "steps", "tolerance", "holds"],
}


def statistic_columns(table: str) -> list[str]:
    """The columns a check may name as its statistic, per table."""
    return STATISTIC_COLUMNS[table]


def parse_claims(section: dict, experiments: dict, sweeps: dict, errors: list[str]) -> list[Claim]:
    """The config's `claims:` as Claims; problems go to `errors`, each naming its deepest field."""
    claims = []
    for name, entry in (section or {}).items():
        where = f"claims.{name}"
        check = entry.get("check")
        if check is None:
            claims.append(Claim(name, entry["source"], entry["statement"], None, entry.get("needs", "")))
            continue
        table, experiment = check["table"], check["experiment"]
        if table == "slopes":
            if experiment not in sweeps:
                errors.append(f"{where}.check.experiment: {experiment!r} is not a swept row")
                continue
            known = experiments[sweeps[experiment].experiments[0]]
        elif experiment not in experiments:
            errors.append(f"{where}.check.experiment: no experiment named {experiment!r}")
            continue
        else:
            known = experiments[experiment]
        if table == "invariance" and not known.audited:
            errors.append(
                f"{where}.check.experiment: {experiment!r} has no invariance audit (it needs two or more "
                "charts, several seeds and a deterministic gradient)"
            )
            continue
        if table == "identities" and known.target.get("name") not in IDENTITY_TARGETS:
            target = known.target.get("name", known.target.get("plugin"))
            errors.append(
                f"{where}.check.experiment: no identity is checked on target {target!r} "
                f"(only on {', '.join(IDENTITY_TARGETS)})"
            )
            continue
        if table == "invariance" and "parameterization" in check:
            errors.append(
                f"{where}.check.parameterization: the invariance table compares every chart at once"
            )
            continue
        if check["statistic"] not in statistic_columns(table):
            errors.append(
                f"{where}.check.statistic: {check['statistic']!r} is not a column of the {table} table "
                f"(known: {', '.join(statistic_columns(table))})"
            )
        if "parameterization" in check and check["parameterization"] not in known.parameterizations:
            errors.append(
                f"{where}.check.parameterization: {check['parameterization']!r} is not run by {experiment!r}"
            )
        for key in ("method", "baseline"):
            if key in check and check[key] not in known.methods:
                errors.append(f"{where}.check.{key}: {check[key]!r} is not a method of {experiment!r}")
        if "lr" in check and not any(
            math.isclose(check["lr"], lr, rel_tol=1e-9) for lr in known.learning_rates
        ):
            errors.append(
                f"{where}.check.lr: {check['lr']} is not in the learning-rate grid of {experiment!r}"
            )
        conditions = [c for c in CONDITIONS if c in check]
        if len(conditions) != 1:
            errors.append(
                f"{where}.check: give exactly one of {', '.join(CONDITIONS)} (got {len(conditions)})"
            )
            continue
        claims.append(Claim(name, entry["source"], entry["statement"], dict(check)))
    return claims
