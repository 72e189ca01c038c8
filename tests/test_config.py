"""Config rows: the default config, grid expansion, and errors that name the field."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml

from ngbench.experiments import (
    ConfigError,
    check_config,
    learning_rate_grid,
    parse_config,
    seed_list,
)
from ngbench.starts import initial_states

REPO = Path(__file__).resolve().parents[1]


def ascii_id(text: str) -> str:
    """A test id without the messages' ≥ and ×: pytest escapes them to `\\u2265`, and mutmut, which
    reruns tests by id in its own process, then finds no test of that id."""
    return text.replace("≥", ">=").replace("×", "x")


def default_config():
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_default_config_has_the_blog_row_exactly():
    row = default_config()["experiments"]["fig3_gaussian_vi"]
    assert row == {
        "target": {"name": "gaussian_1d", "mean": 3.0, "var": 1.0},
        "init": {"mean": -2.0, "var": 2.718281828459045},
        "parameterizations": ["mean_var"],
        "methods": ["gd", "ngd"],
        "learning_rates": [0.1],
        "seeds": [0],
        "steps": 100,
        "stop_at_target": False,
    }
    plan = parse_config(default_config())
    sweep = plan.experiments["gaussian_1d_sweep"]
    assert len(sweep.parameterizations) == 6 and sweep.seeds == tuple(range(20))
    assert len(sweep.learning_rates) == 14


def test_grid_expansion():
    assert learning_rate_grid({"logspace": [-3.0, 0.0, 4]}) == pytest.approx((1e-3, 1e-2, 1e-1, 1.0))
    assert learning_rate_grid([0.5, 0.1]) == (0.5, 0.1)
    assert seed_list(3) == (0, 1, 2)
    assert seed_list([4, 9]) == (4, 9)


def test_starts_are_deterministic_and_independent_of_the_other_seeds():
    init = {"mean": {"uniform": [-5.0, 5.0]}, "var": {"loguniform": [0.1, 10.0]}}
    both = initial_states(("mean", "var"), init, (0, 7))
    alone = initial_states(("mean", "var"), init, (7,))
    np.testing.assert_array_equal(both[1], alone[0])
    np.testing.assert_array_equal(both, initial_states(("mean", "var"), init, (0, 7)))
    assert (both[:, 1] >= 0.1).all() and (both[:, 1] <= 10.0).all()
    fixed_var = initial_states(("mean", "var"), {"mean": init["mean"], "var": 2.0}, (0, 7))
    np.testing.assert_array_equal(fixed_var[:, 0], both[:, 0])  # one coordinate's draw never shifts another's
    same_law = initial_states(
        ("mean", "var"), {"mean": {"uniform": [1.0, 2.0]}, "var": {"uniform": [1.0, 2.0]}}, tuple(range(50))
    )
    assert np.abs(np.corrcoef(same_law.T)[0, 1]) < 0.5  # coordinates are drawn independently


def mutate(path: str, value):
    """The default config with the value at a dotted path replaced (or deleted, for value=...)."""
    config = copy.deepcopy(default_config())
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node[key]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return config


FIG3 = "experiments.fig3_gaussian_vi"
SWEEP = "experiments.gaussian_1d_sweep"
ND = "experiments.gaussian_nd_d100"
LOGISTIC = "experiments.logistic_vi"
MC = "experiments.logistic_vi_mc"
QUADRATIC = "experiments.fig1_quadratic"
MIXTURE = "experiments.fig2_mixture"
INF, NAN = float("inf"), float("nan")

# (dotted path to replace, new value, the exact field the message must start with, a fragment of it).
# Each message names the deepest field at fault: an entry of a list by its index, a target's own field,
# the bound of a drawn start's law that let a draw out of the domain.
BAD_CONFIGS = [
    # finiteness, at any depth
    (f"{FIG3}.target.mean", INF, f"{FIG3}.target.mean", "finite"),
    (f"{FIG3}.target.var", NAN, f"{FIG3}.target.var", "finite"),
    (f"{QUADRATIC}.target.optimum", [1.0, INF], f"{QUADRATIC}.target.optimum.1", "finite"),
    (
        f"{QUADRATIC}.target.linear_map",
        [[2.0, 0.0], [NAN, 0.5]],
        f"{QUADRATIC}.target.linear_map.1.0",
        "finite",
    ),
    (f"{FIG3}.learning_rates", [0.1, 0.2, INF], f"{FIG3}.learning_rates.2", "finite"),
    (f"{SWEEP}.learning_rates", {"logspace": [-3.0, INF, 4]}, f"{SWEEP}.learning_rates.logspace.1", "finite"),
    (
        f"{SWEEP}.init",
        {"mean": {"uniform": [-INF, 5.0]}, "var": 1.0},
        f"{SWEEP}.init.mean.uniform.0",
        "finite",
    ),
    (f"{FIG3}.init", {"mean": NAN, "var": 1.0}, f"{FIG3}.init.mean", "finite"),
    (f"{FIG3}.divergence_factor", INF, f"{FIG3}.divergence_factor", "finite"),
    (f"{FIG3}.target.mean", True, f"{FIG3}.target.mean", "not true"),
    (f"{LOGISTIC}.gradient", {"mc": INF}, f"{LOGISTIC}.gradient.mc", "finite"),
    # init: its keys, its laws, its domain
    (f"{FIG3}.init", {"mean": 0.0}, f"{FIG3}.init", "missing var"),
    (f"{FIG3}.init", {"mean": 0.0, "var": 1.0, "std": 1.0}, f"{FIG3}.init.std", "not a coordinate"),
    (f"{FIG3}.init", {"mean": 0.0, "var": 0.0}, f"{FIG3}.init.var", "a variance must be > 0"),
    (f"{FIG3}.init", {"mean": 0.0, "var": -1.0}, f"{FIG3}.init.var", "outside the target's domain"),
    (
        f"{FIG3}.init",
        {"mean": 0.0, "var": {"loguniform": [0.0, 1.0]}},
        f"{FIG3}.init.var.loguniform.0",
        "> 0",
    ),
    (
        f"{FIG3}.init",
        {"mean": 0.0, "var": {"loguniform": [2.0, -1.0]}},
        f"{FIG3}.init.var.loguniform.1",
        "> 0",
    ),
    (
        f"{FIG3}.init",
        {"mean": {"uniform": [2.0, 1.0]}, "var": 1.0},
        f"{FIG3}.init.mean.uniform",
        "low < high",
    ),
    (f"{SWEEP}.init.var", {"uniform": [-1.0, 1.0]}, f"{SWEEP}.init.var.uniform.0", "a variance must be > 0"),
    (f"{SWEEP}.init.var", {"uniform": [-1.0, 1.0]}, f"{SWEEP}.init.var.uniform.0", "lets seed 0 draw"),
    (f"{ND}.init", {"mean": 0.0, "var": -0.5}, f"{ND}.init.var", "a variance must be > 0"),
    (f"{ND}.init", {"mean": 0.0, "var": {"uniform": [-0.1, 1.0]}}, f"{ND}.init.var.uniform.0", "(entry "),
    (f"{LOGISTIC}.init", {"mean": 0.0, "var": 0.0}, f"{LOGISTIC}.init.var", "a variance must be > 0"),
    (f"{ND}.init", {"mean": 0.0}, f"{ND}.init", "missing var"),
    (f"{ND}.init", {"mean": 0.0, "var": 1.0, "theta_0": 1.0}, f"{ND}.init.theta_0", "not a coordinate"),
    (
        f"{QUADRATIC}.init",
        {"theta_0": 1.0, "theta_1": 1.0, "theta_2": 0.0},
        f"{QUADRATIC}.init.theta_2",
        "not a",
    ),
    # target fields, each target
    (f"{FIG3}.target", {"name": "gaussian_1d", "mean": 0.0, "var": -1.0}, f"{FIG3}.target.var", "positive"),
    (f"{FIG3}.target", {"name": "rosenbrock"}, f"{FIG3}.target.name", "unknown target"),
    (f"{QUADRATIC}.target.optimum", [1.0, 0.5, 0.0], f"{QUADRATIC}.target.optimum", "3 entries"),
    (f"{QUADRATIC}.target.eigenvalues", [1.0, 0.0], f"{QUADRATIC}.target.eigenvalues.1", "> 0"),
    (f"{QUADRATIC}.target.eigenvalues", [1.0, 2.0, 3.0], f"{QUADRATIC}.target.angle_degrees", "2-D"),
    (
        f"{QUADRATIC}.target.linear_map",
        [[1.0, 2.0], [2.0, 4.0]],
        f"{QUADRATIC}.target.linear_map",
        "invertible",
    ),
    (f"{QUADRATIC}.target.linear_map", [[1.0, 0.0]], f"{QUADRATIC}.target.linear_map", "must be 2×2"),
    (
        f"{QUADRATIC}.target",
        {"name": "quadratic", "matrix": [[1.0, 2.0], [0.0, 1.0]], "optimum": [0.0, 0.0]},
        f"{QUADRATIC}.target.matrix",
        "symmetric",
    ),
    (
        f"{QUADRATIC}.target",
        {"name": "quadratic", "matrix": [[1.0, 2.0], [2.0, 1.0]], "optimum": [0.0, 0.0]},
        f"{QUADRATIC}.target.matrix",
        "positive definite",
    ),
    (
        f"{QUADRATIC}.target",
        {"name": "quadratic", "matrix": [[1.0, 0.0], [0.0]], "optimum": [0.0, 0.0]},
        f"{QUADRATIC}.target.matrix",
        "same length",
    ),
    # A quadratic's A: exactly one of matrix, eigenvalues, condition_number.
    (
        f"{QUADRATIC}.target",
        {"name": "quadratic", "condition_number": 10.0, "eigenvalues": [1.0, 2.0], "optimum": [0.0, 0.0]},
        f"{QUADRATIC}.target.condition_number",
        "exactly one of matrix, eigenvalues, condition_number (got eigenvalues and condition_number)",
    ),
    (
        f"{QUADRATIC}.target",
        {"name": "quadratic", "optimum": [0.0, 0.0]},
        f"{QUADRATIC}.target",
        "(got none)",
    ),
    (
        f"{QUADRATIC}.target",
        {
            "name": "quadratic",
            "matrix": [[1.0, 0.0], [0.0, 2.0]],
            "angle_degrees": 5.0,
            "optimum": [0.0, 0.0],
        },
        f"{QUADRATIC}.target.angle_degrees",
        "not a matrix",
    ),
    (
        f"{QUADRATIC}.target",
        {"name": "quadratic", "condition_number": 0.5, "optimum": [0.0, 0.0]},
        f"{QUADRATIC}.target.condition_number",
        "",
    ),
    (f"{MIXTURE}.target.weight", 0.5, f"{MIXTURE}.target.weight", "label symmetry"),
    (f"{MIXTURE}.target.var", 0.0, f"{MIXTURE}.target.var", "positive"),
    (f"{MIXTURE}.target.damping", -1.0e-3, f"{MIXTURE}.target.damping", "≥ 0"),
    (f"{MIXTURE}.target.means", [0.0, 1.0, 2.0], f"{MIXTURE}.target.means", "two"),
    (f"{MIXTURE}.target.n", 1, f"{MIXTURE}.target.n", "≥ 2"),
    (f"{ND}.target.condition_number", 0.5, f"{ND}.target.condition_number", "≥ 1"),
    (f"{ND}.target.dim", 0, f"{ND}.target.dim", "positive integer"),
    (f"{LOGISTIC}.target.prior_precision", 0.0, f"{LOGISTIC}.target.prior_precision", "positive"),
    (f"{LOGISTIC}.target.test_fraction", 1.0e-4, f"{LOGISTIC}.target.test_fraction", "leaves 0 to test"),
    (f"{LOGISTIC}.target.test_fraction", 0.9999, f"{LOGISTIC}.target.test_fraction", "to train"),
    (f"{LOGISTIC}.target.quadrature_nodes", 1, f"{LOGISTIC}.target.quadrature_nodes", "≥ 2"),
    # gradient specs
    (f"{FIG3}.gradient", {"mc": 4}, f"{FIG3}.gradient.mc", "no gradient estimator 'mc'"),
    (f"{ND}.gradient", "delta", f"{ND}.gradient", "no gradient estimator 'delta'"),
    (f"{LOGISTIC}.gradient", {"mc": 0}, f"{LOGISTIC}.gradient.mc", "positive integer"),
    (f"{LOGISTIC}.gradient", {"sgd": 3}, f"{LOGISTIC}.gradient.sgd", "no gradient estimator 'sgd'"),
    # charts and methods, by index
    (f"{FIG3}.parameterizations", ["mean_var", "cholesky"], f"{FIG3}.parameterizations.1", "cholesky"),
    (f"{FIG3}.parameterizations", ["mean_var", "mean_var"], f"{FIG3}.parameterizations.1", "duplicate"),
    (f"{ND}.parameterizations", ["natural", "mean_var"], f"{ND}.parameterizations.1", "mean_var"),
    (f"{FIG3}.methods", ["gd", "bfgs"], f"{FIG3}.methods.1", "unknown method 'bfgs'"),
    (f"{FIG3}.methods", ["gd", "ngd", "gd"], f"{FIG3}.methods.2", "duplicate"),
    (f"{FIG3}.methods", ["gd", "ngd", {"gd": {}}], f"{FIG3}.methods.2", "duplicate entry 'gd'"),
    (f"{LOGISTIC}.methods", ["gd", "em"], f"{LOGISTIC}.methods.1", "target 'logistic_vi' does not offer"),
    (f"{LOGISTIC}.methods", ["gd", "em"], f"{LOGISTIC}.methods.1", "it offers: none, fisher, empirical"),
    # method hyperparameters and schedules, by index and name
    (f"{FIG3}.methods", ["gd", {"adam": {"beta2": 1.0}}], f"{FIG3}.methods.1.beta2", "outside [0, 1)"),
    (f"{FIG3}.methods", [{"momentum": {"beta": -0.1}}], f"{FIG3}.methods.0.beta", "outside [0, 1)"),
    (f"{FIG3}.methods", [{"adam": {"beta": 0.5}}], f"{FIG3}.methods.0.beta", "no hyperparameter 'beta'"),
    (f"{FIG3}.methods", [{"lbfgs": {"memory": 2.5}}], f"{FIG3}.methods.0.memory", "integer"),
    (f"{FIG3}.methods", [{"sgd": {"beta": 0.5}}], f"{FIG3}.methods.0", "unknown method 'sgd'"),
    (
        f"{FIG3}.methods",
        [{"ngd": {"schedule": {"decay": {"tau": 10, "kappa": 1.5}}}}],
        f"{FIG3}.methods.0.schedule.decay.kappa",
        "outside (0, 1]",
    ),
    (
        f"{FIG3}.methods",
        [{"ngd": {"schedule": {"cosine": {}}}}],
        f"{FIG3}.methods.0.schedule.cosine",
        "unknown",
    ),
    (
        f"{FIG3}.methods",
        [{"ngd": {"schedule": {"average": 1}}}],
        f"{FIG3}.methods.0.schedule.average",
        "true",
    ),
    (f"{MC}.methods", ["gd", "lbfgs"], f"{MC}.methods.1", "needs exact gradients"),
    (f"{SWEEP}.methods", ["gd", "newton"], f"{SWEEP}.methods.1", "needs affine charts"),
    # learning rates, seeds, steps
    (f"{FIG3}.learning_rates", [0.1, -0.5], f"{FIG3}.learning_rates.1", "> 0"),
    (f"{FIG3}.learning_rates", [0.1, 0.0], f"{FIG3}.learning_rates.1", "> 0"),
    (f"{FIG3}.learning_rates", [0.1, 0.2, 0.1], f"{FIG3}.learning_rates.2", "duplicate"),
    (f"{FIG3}.learning_rates", {"logspace": [-1.0, 0.0, 0]}, f"{FIG3}.learning_rates.logspace.2", "≥ 1"),
    (f"{FIG3}.learning_rates", {"logspace": [-1.0, -1.0, 3]}, f"{FIG3}.learning_rates.logspace", "duplicate"),
    (
        f"{FIG3}.learning_rates",
        {"logspace": [-400.0, 0.0, 3]},
        f"{FIG3}.learning_rates.logspace.0",
        "positive",
    ),
    (f"{FIG3}.learning_rates", {"logspace": [0.0, 400.0, 3]}, f"{FIG3}.learning_rates.logspace.1", "finite"),
    (f"{FIG3}.learning_rates", [], f"{FIG3}.learning_rates", "empty"),
    (f"{FIG3}.seeds", [], f"{FIG3}.seeds", "empty"),
    (f"{FIG3}.seeds", [1, 2, 1], f"{FIG3}.seeds.2", "duplicate"),
    (f"{FIG3}.steps", 10**9, f"{FIG3}.steps", "bound"),
    (f"{SWEEP}.steps", 900_000, f"{SWEEP}.steps", "GB of history"),
    (f"{ND}.seeds", 10_000, f"{ND}.seeds", "GB per step"),
    (f"{SWEEP}.seeds", 200_000, f"{SWEEP}.seeds", "runs per cell"),
    # tolerances, the config's and a row's
    ("tolerances", [1.0e-2, 1.0e-2, 1.0e-6], "tolerances.1", "decreasing"),
    ("tolerances", [1.0e-6, 1.0e-2], "tolerances.1", "decreasing"),
    ("tolerances", [1.0e-2, 1.0e-4, -1.0e-6], "tolerances.2", "> 0"),
    ("tolerances", [1.0e-2, INF], "tolerances.1", "finite"),
    (f"{LOGISTIC}.tolerances", [1.0e-2, 1.0e-1], f"{LOGISTIC}.tolerances.1", "decreasing"),
    (f"{LOGISTIC}.tolerances", [1.0e-1, 0.0], f"{LOGISTIC}.tolerances.1", "> 0"),
    # figure rows
    (
        "figures.fig1_quadratic.experiment",
        "no_such_experiment",
        "figures.fig1_quadratic.experiment",
        "no experiment",
    ),
    ("figures.fig1_quadratic.experiment", "gaussian_nd_d100", "figures.fig1_quadratic.experiment", "2-D"),
    (
        "figures.fig1_quadratic.learning_rates",
        {"gd": 0.2},
        "figures.fig1_quadratic.learning_rates.gd",
        "not in",
    ),
    (
        "figures.fig1_quadratic.learning_rates",
        {"adam": 0.1},
        "figures.fig1_quadratic.learning_rates.adam",
        "not run",
    ),
    (
        "figures.fig1_quadratic.learning_rates",
        {"gd": INF},
        "figures.fig1_quadratic.learning_rates.gd",
        "not in",
    ),
    ("figures.fig1_quadratic.seed", 3, "figures.fig1_quadratic.seed", "not a seed"),
    (
        "figures.fig1_quadratic.parameterization",
        "natural",
        "figures.fig1_quadratic.parameterization",
        "not run",
    ),
]


def figure_row():
    return {"experiment": "fig3_gaussian_vi", "parameterization": "mean_var", "seed": 0}


@pytest.mark.parametrize(
    "path,value,field,message", BAD_CONFIGS, ids=[ascii_id(f"{f}={v}|{m}") for _, v, f, m in BAD_CONFIGS]
)
def test_bad_config_names_the_deepest_field(path, value, field, message):
    with pytest.raises(ConfigError) as excinfo:
        parse_config(mutate(path, value))
    lines = [line.strip() for line in str(excinfo.value).splitlines()[1:]]
    assert any(line.startswith(field + ": ") and message in line for line in lines), lines


def test_names_that_would_escape_results_are_refused():
    config = default_config()
    config["experiments"]["../escape"] = config["experiments"].pop("gaussian_1d_sweep")
    with pytest.raises(ConfigError, match=r"experiments\.\.\./escape: name must match"):
        parse_config(config)


def test_every_problem_is_reported_at_once():
    config = mutate("tolerances", [1.0e-2, 1.0e-1])
    config["experiments"]["fig3_gaussian_vi"]["learning_rates"] = [-1.0]
    config["experiments"]["gaussian_1d_sweep"]["parameterizations"] = ["nope"]
    with pytest.raises(ConfigError) as excinfo:
        parse_config(config)
    message = str(excinfo.value)
    assert "tolerances.1:" in message
    assert "experiments.fig3_gaussian_vi.learning_rates" in message
    assert "experiments.gaussian_1d_sweep.parameterizations" in message


SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())

SCHEMA_VIOLATIONS = [
    (f"{FIG3}.learning_rates", ["1e-3"], f"{FIG3}.learning_rates.0", "1.0e-3"),
    (f"{FIG3}.steps", -3, f"{FIG3}.steps", "minimum"),
    (f"{FIG3}.steps", 2.5, f"{FIG3}.steps", "integer"),
    # A missing or unknown key is named itself, not the mapping it belongs in.
    (f"{FIG3}.steps", ..., f"{FIG3}.steps", "required property missing"),
    (f"{FIG3}.learnign_rates", [0.1], f"{FIG3}.learnign_rates", "unknown property"),
    (f"{FIG3}.seeds", 0, f"{FIG3}.seeds", "minimum"),
    (f"{FIG3}.init", {"mean": 0.0, "var": {"loguniform": [1.0]}}, f"{FIG3}.init.var.loguniform", "too short"),
    (
        f"{FIG3}.init",
        {"mean": 0.0, "var": {"loguniform": ["a", 1.0]}},
        f"{FIG3}.init.var.loguniform.0",
        "number",
    ),
    (
        f"{FIG3}.init",
        {"mean": 0.0, "var": {"normal": [0.0, 1.0]}},
        f"{FIG3}.init.var.normal",
        "unknown property (allowed: loguniform, uniform)",
    ),
    (
        f"{FIG3}.target",
        {"name": "gaussian_1d", "mean": 0.0},
        f"{FIG3}.target.var",
        "required property missing",
    ),
    (f"{FIG3}.target.std", 1.0, f"{FIG3}.target.std", "unknown property"),
    (f"{FIG3}.target.var", 0.0, f"{FIG3}.target.var", "less than or equal to the minimum"),
    (f"{MIXTURE}.target.damping", -1.0e-3, f"{MIXTURE}.target.damping", "less than the minimum"),
    (f"{MIXTURE}.target.damping", ..., f"{MIXTURE}.target.damping", "required property missing"),
    (f"{LOGISTIC}.target.quadrature_nodes", 401, f"{LOGISTIC}.target.quadrature_nodes", "maximum"),
    (f"{ND}.target.dim", 0, f"{ND}.target.dim", "minimum"),
    (f"{LOGISTIC}.gradient", {"mc": 0}, f"{LOGISTIC}.gradient.mc", "minimum"),
    (f"{LOGISTIC}.gradient", "newton", f"{LOGISTIC}.gradient", "is not one of"),
    (f"{SWEEP}.learning_rates", {"logspace": [-3.0, 0.0]}, f"{SWEEP}.learning_rates.logspace", "too short"),
    (f"{FIG3}.divergence_factor", 1.0, f"{FIG3}.divergence_factor", "minimum"),
    (f"{FIG3}.thin", 1, f"{FIG3}.thin", "minimum"),
    (f"{FIG3}.stop_at_target", "no", f"{FIG3}.stop_at_target", "is not of type 'boolean'"),
    (f"{LOGISTIC}.tolerances", [1.0e-2, 0.0], f"{LOGISTIC}.tolerances.1", "minimum"),
    ("tolerances", [], "tolerances", "should be non-empty"),
    ("tuning_rule", "fastest", "tuning_rule", "is not one of"),
    (f"{SWEEP}.tuning_rule", "median", f"{SWEEP}.tuning_rule", "is not one of"),
    ("figures.fig1_quadratic.seed", -1, "figures.fig1_quadratic.seed", "minimum"),
    (
        "figures.fig1_quadratic.learning_rates",
        {"gd": -0.1},
        "figures.fig1_quadratic.learning_rates.gd",
        "minimum",
    ),
    ("figures.fig1_quadratic.colour", "red", "figures.fig1_quadratic.colour", "unknown property"),
    ("figures.fig1_quadratic.seed", ..., "figures.fig1_quadratic.seed", "required property missing"),
    ("figures.Fig_1", figure_row(), "figures.Fig_1", "bad name"),
    ("experiments.Fig-3", {}, "experiments.Fig-3", "bad name"),
]


def test_default_config_satisfies_the_schema():
    assert check_config(default_config(), SCHEMA).experiments


@pytest.mark.parametrize(
    "path,value,field,message",
    SCHEMA_VIOLATIONS,
    ids=[ascii_id(f"{f}={v}|{m}") for _, v, f, m in SCHEMA_VIOLATIONS],
)
def test_schema_violations_name_the_field(path, value, field, message):
    with pytest.raises(ConfigError) as excinfo:
        check_config(mutate(path, value), SCHEMA)
    lines = [line.strip() for line in str(excinfo.value).splitlines()[1:]]
    assert any(line.startswith(field + ":") and message in line for line in lines), lines


def test_the_tuning_rule_is_the_rows_else_the_configs():
    plan = parse_config(default_config())
    assert {e.tuning_rule for e in plan.experiments.values()} == {"success_first"}
    config = mutate("tuning_rule", "art")
    config["experiments"]["quadratic_sweep"]["tuning_rule"] = "success_first"
    plan = check_config(config, SCHEMA)
    assert plan.experiments["gaussian_1d_sweep"].tuning_rule == "art"
    assert plan.experiments["quadratic_sweep"].tuning_rule == "success_first"


def test_rows_whose_seeds_cannot_reach_significance_are_warned_about_not_refused():
    from ngbench.experiments import power_warnings

    plan = parse_config(default_config())
    # Every default row but the single-seed figure rows can reach p < 0.05 after Holm.
    assert all(e.name.startswith("fig") for e in plan.experiments.values() if power_warnings(e))
    assert sorted(w.split(":")[0] for w in plan.warnings) == [
        f"experiments.{name}.seeds" for name in ("fig1_quadratic", "fig2_mixture", "fig3_gaussian_vi")
    ]
    # 6 charts × 1 baseline: 5 seeds reach at best 6 · 2⁻⁴ = 0.375; 10 seeds 6 · 2⁻⁹ = 0.012.
    # (Seeds 0–4 also tune one fold on only 2 odd seeds: a warning of its own.)
    few = parse_config(mutate(f"{SWEEP}.seeds", 5)).experiments["gaussian_1d_sweep"]
    (warning,) = [w for w in power_warnings(few) if "cannot reach" in w or "smallest reachable" in w]
    assert (
        warning.startswith(f"{SWEEP}.seeds: 5 seed(s)")
        and "0.38" in warning
        and "at least 8 seeds" in warning
    )
    assert not power_warnings(parse_config(mutate(f"{SWEEP}.seeds", 10)).experiments["gaussian_1d_sweep"])
    # One parity: nothing held out, said so.
    odd = parse_config(mutate(f"{SWEEP}.seeds", [1, 3, 5, 7, 9, 11, 13, 15])).experiments["gaussian_1d_sweep"]
    assert any("every seed is odd" in w for w in power_warnings(odd))


def test_readme_results_are_the_regenerated_ones():
    """Each block the README includes from results/ (the headline claims, a paired table) is that file."""
    import re

    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"<!-- include: (\S+) -->\n(.*?)<!-- /include -->", readme, flags=re.S)
    assert "results/tables/headline.md" in [path for path, _ in blocks], "README.md has no headline block"
    for path, text in blocks:
        assert text == (REPO / path).read_text(), path
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme):
        assert (REPO / image).is_file(), image


def test_readme_gaussian_1d_tuning_example_holds_in_the_committed_tables():
    """The README's example of why success comes first, checked against results/stats/."""
    import pandas as pd

    stats = pd.read_csv(REPO / "results" / "stats" / "gaussian_1d_sweep.csv")
    best = pd.read_csv(REPO / "results" / "stats" / "gaussian_1d_sweep_best_lr.csv")
    paired = pd.read_csv(REPO / "results" / "stats" / "gaussian_1d_sweep_paired.csv")
    tolerance = stats["tolerance"].min()
    at_large_lr = stats[
        (stats["parameterization"] == "mean_var")
        & (stats["method"] == "ngd")
        & np.isclose(stats["lr"], 1.112, rtol=1e-3)
        & (stats["tolerance"] == tolerance)
    ].iloc[0]
    assert 0 < at_large_lr["successes"] <= 0.2 * at_large_lr["runs"]  # "a few runs"
    tuned = best[(best["parameterization"] == "mean_var") & (best["method"] == "ngd")]
    assert len(tuned) == 2 and (tuned["best_lr"] < 0.1).all()
    row = paired[(paired["parameterization"] == "mean_var") & (paired["baseline"] == "gd")].iloc[0]
    assert row["favours"] == "gd" and row["p_holm"] < 0.05


def test_readme_every_logistic_learning_rate_is_some_methods_best():
    """The README's Performance section says fewer learning rates would not help the logistic rows
    because each of their learning rates is some chart and method's tuned best: checked here."""
    import pandas as pd

    assert "every one of their four is some method's best" in (REPO / "README.md").read_text()
    for row in ("logistic_vi", "logistic_vi_mc"):
        tried = sorted(set(pd.read_csv(REPO / "results" / "stats" / f"{row}.csv")["lr"]))
        assert len(tried) == 4
        best = pd.read_csv(REPO / "results" / "stats" / f"{row}_best_lr.csv")["best_lr"]
        for lr in tried:
            assert np.isclose(best, lr, rtol=1e-9).any(), (row, lr)


def test_a_cells_params_are_its_charts_for_one_method():
    """What `solve_cell` runs: the chart job's settings, `gradient` included, for one of its methods
    (test_plumbing.py, left out of the mutation run because it reads the source, checks the chart's)."""
    from tests.test_plumbing import ROW, plan_of

    row = {**ROW, "gradient": {"mc": 3}, "divergence_factor": 1e5, "thin": 7, "steps": 33}
    plan = plan_of(row)
    chart = plan.chart_params("mean_chol")
    assert chart["methods"] == ["gd", "ngd"]
    assert [chart[key] for key in ("gradient", "divergence_factor", "thin", "steps")] == [
        {"mc": 3},
        1e5,
        7,
        33,
    ]
    from ngbench.experiments import method_params

    for method in chart["methods"]:
        cell = method_params(chart, method)
        assert cell == {**{k: v for k, v in chart.items() if k != "methods"}, "method": method}


def test_keys_given_twice_in_the_config_file_are_named():
    """A second row under an existing name would silently replace the first (YAML keeps the last)."""
    from ngbench.experiments import duplicate_keys

    text = "tolerances: [0.01]\nexperiments:\n  a:\n    steps: 5\n    steps: 6\n  b: {}\n  a:\n    steps: 7\n"
    assert duplicate_keys(text) == ["experiments.a.steps", "experiments.a"]
    assert duplicate_keys("experiments:\n  a:\n    steps: 5\n") == []
