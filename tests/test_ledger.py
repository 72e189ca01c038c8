"""The ledger of literature claims: verdicts from the tables, and claims checked before any job runs."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from ngbench.experiments import ConfigError, check_config
from ngbench.ledger import Claim, ledger, to_markdown
from tests.test_config import SCHEMA, default_config

ITERATIONS = pd.DataFrame(
    {
        "parameterization": ["identity", "identity", "identity", "identity"],
        "method": ["ngd", "ngd", "gd", "ngd"],
        "lr": [1.0, 1.0, 0.01, 0.5],
        "tolerance": [1e-8, 1e-2, 1e-8, 1e-8],
        "art": [1.0, 1.0, 590.0, 7.5],
    }
)


def claim(name="c", **check):
    base = {"table": "iterations", "experiment": "quadratic_sweep", "statistic": "art"}
    return Claim(name, "a source", "a statement", {**base, **check})


@pytest.mark.parametrize(
    ("check", "verdict", "found"),
    [
        ({"method": "ngd", "lr": 1.0, "at_most": 1.0}, "reproduced", "1"),  # the main (smallest) tolerance
        ({"method": "ngd", "lr": 0.5, "at_most": 1.0}, "not reproduced", "7.5"),
        ({"method": "gd", "at_least": 100.0}, "reproduced", "590"),
        ({"method": "ngd", "between": [0.5, 10.0]}, "reproduced", "1, 7.5"),  # every row named must hold
        ({"method": "ngd", "lr": 1.0, "tolerance": 1e-2, "equals": 1.0}, "reproduced", "1"),
        ({"method": "adam", "at_most": 1.0}, "not checkable here", "no such row in the table"),
    ],
)
def test_verdicts_come_from_the_table(check, verdict, found):
    line = ledger([claim(**check)], {"results/stats/quadratic_sweep.csv": ITERATIONS}).iloc[0]
    assert (line["verdict"], line["found"]) == (verdict, found)


def test_a_claim_without_a_check_says_what_it_needs_and_stays_listed():
    needs = Claim("online", "Amari 1998", "Fisher efficient", None, "an online target")
    table = ledger(
        [claim(method="ngd", lr=0.5, at_most=1.0), needs], {"results/stats/quadratic_sweep.csv": ITERATIONS}
    )
    assert list(table["verdict"]) == ["not reproduced", "not checkable here"]
    assert table["found"].iloc[1] == "needs an online target"
    markdown = to_markdown(table)
    assert "not reproduced" in markdown and "Amari 1998" in markdown


def with_claim(entry):
    config = copy.deepcopy(default_config())
    config["claims"] = {"mine": entry}
    return config


@pytest.mark.parametrize(
    ("check", "field", "message"),
    [
        ({"experiment": "nowhere"}, "claims.mine.check.experiment", "no experiment named 'nowhere'"),
        ({"statistic": "speed"}, "claims.mine.check.statistic", "not a column of the iterations table"),
        ({"method": "lbfgs"}, "claims.mine.check.method", "not a method of 'quadratic_sweep'"),
        ({"parameterization": "polar"}, "claims.mine.check.parameterization", "not run by"),
        ({"lr": 0.123}, "claims.mine.check.lr", "not in the learning-rate grid"),
        ({"at_least": 2.0}, "claims.mine.check", "exactly one of"),
        ({"table": "slopes"}, "claims.mine.check.experiment", "not a swept row"),
        (
            {"table": "invariance", "experiment": "fig3_gaussian_vi", "statistic": "slope"},
            "claims.mine.check.experiment",
            "has no invariance audit",
        ),
        (
            {"table": "identities", "statistic": "holds", "identity": "delta_blr_is_newton"},
            "claims.mine.check.experiment",
            "no identity is checked on target 'quadratic'",
        ),
        (
            {"table": "invariance", "statistic": "slope", "parameterization": "identity"},
            "claims.mine.check.parameterization",
            "every chart at once",
        ),
    ],
)
def test_a_bad_claim_is_refused_naming_its_field(check, field, message):
    entry = {
        "source": "s",
        "statement": "t",
        "check": {
            "table": "iterations",
            "experiment": "quadratic_sweep",
            "statistic": "art",
            "at_most": 1.0,
            **check,
        },
    }
    with pytest.raises(ConfigError) as error:
        check_config(with_claim(entry), SCHEMA)
    lines = [line.strip() for line in str(error.value).splitlines()[1:]]
    assert any(line.startswith(field + ":") and message in line for line in lines), lines


def test_a_claim_needs_a_check_or_what_it_needs():
    with pytest.raises(ConfigError, match="claims.mine"):
        check_config(with_claim({"source": "s", "statement": "t"}), SCHEMA)
    plan = check_config(with_claim({"source": "s", "statement": "t", "needs": "x"}), SCHEMA)
    assert plan.claims[0].needs == "x" and plan.claims[0].check is None


def test_the_ledgers_column_lists_are_the_tables_own():
    from ngbench.ledger import STATISTIC_COLUMNS
    from ngbench.stats import BASELINE_COLUMNS, GROUP_COLUMNS, STAT_COLUMNS, best_learning_rates
    from ngbench.why import SLOPE_COLUMNS
    from tests.test_stats import synthetic_summaries

    assert STATISTIC_COLUMNS["iterations"] == GROUP_COLUMNS + STAT_COLUMNS
    assert STATISTIC_COLUMNS["paired"] == BASELINE_COLUMNS
    assert STATISTIC_COLUMNS["slopes"] == SLOPE_COLUMNS
    from ngbench.audit import SPREAD_SLOPE_COLUMNS

    assert STATISTIC_COLUMNS["invariance"] == SPREAD_SLOPE_COLUMNS
    from ngbench.identities import IDENTITY_COLUMNS

    assert STATISTIC_COLUMNS["identities"] == IDENTITY_COLUMNS
    best = best_learning_rates(synthetic_summaries(), 1e-8)
    assert set(STATISTIC_COLUMNS["best_lr"]) <= set(best.columns)
