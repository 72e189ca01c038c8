"""Gaussian VI of a GLM from a CSV (docs/maths.md §6): each likelihood's maths, the data checks, conjugacy."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from ngbench.experiments import ConfigError, check_config
from ngbench.targets import make_target
from ngbench.targets.gaussian_family import join, split
from ngbench.targets.likelihoods import LIKELIHOODS
from ngbench.targets.logistic_vi import load_breast_cancer
from tests.gaussian_oracles import canonical_free, canonical_from_free, central_jacobian, covector_to_free

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
COUNTS = REPO / "src" / "ngbench" / "data" / "randhie_400.csv"
FEATURES = ["lncoins", "idp", "physlm", "disea"]  # a small model: finite differences stay cheap
# The response each likelihood is fitted to on the shipped count data.
RESPONSES = {
    "bernoulli_logit": "idp",
    "bernoulli_probit": "hlthg",
    "poisson_log": "mdvis",
    "gaussian": "disea",
}


def spec_for(likelihood: str, **fields) -> dict:
    features = [f for f in FEATURES if f != RESPONSES[likelihood]]
    data = {"csv": str(COUNTS), "response": RESPONSES[likelihood], "features": features}
    return {"name": "glm_vi", "likelihood": likelihood, "data": data, **fields}


def state(dim: int, seed: int, scale: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(dim, dim)) * 0.1
    return join(scale * rng.normal(size=(1, dim)), (a @ a.T + 0.02 * np.eye(dim))[None])


ALL = sorted(LIKELIHOODS)


@pytest.mark.parametrize("likelihood", ALL)
def test_first_and_second_derivatives_of_each_likelihood_against_finite_differences(likelihood):
    lik = make_target(spec_for(likelihood)).likelihood
    a = np.linspace(-4.0, 3.0, 15)
    for y in (0.0, 1.0) if likelihood.startswith("bernoulli") else (0.0, 2.0, 7.0):
        h = 1e-5
        first = (lik.negative_log_density(a + h, y) - lik.negative_log_density(a - h, y)) / (2 * h)
        np.testing.assert_allclose(lik.first(a, y), first, rtol=1e-7, atol=1e-8)
        second = (lik.first(a + h, y) - lik.first(a - h, y)) / (2 * h)
        np.testing.assert_allclose(lik.second(a, y), second, rtol=1e-6, atol=1e-8)
        # log_density is −φ, and it may write over its argument
        np.testing.assert_allclose(lik.log_density(a.copy(), y), -lik.negative_log_density(a, y), rtol=1e-13)


@pytest.mark.parametrize("likelihood", ALL)
def test_gradient_is_the_derivative_of_the_loss(likelihood):
    target = make_target(spec_for(likelihood))
    dim = target.dim
    canonical = state(dim, 1)
    free = canonical_free(canonical[0], dim)
    finite_difference = central_jacobian(
        lambda c: np.atleast_1d(target.loss(canonical_from_free(c, dim)[None])), free, step=1e-6
    )[0]
    closed = covector_to_free("mean_cov", target.grad(canonical)[0], dim)
    np.testing.assert_allclose(closed, finite_difference, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("likelihood", ["poisson_log", "gaussian"])
def test_closed_forms_equal_the_quadrature(likelihood):
    target = make_target(
        spec_for(likelihood, noise_variance=2.0) if likelihood == "gaussian" else spec_for(likelihood)
    )
    canonical = np.concatenate([state(target.dim, seed) for seed in range(3)])
    exact = target.loss(canonical), target.grad(canonical)
    target.closed_forms, target._memo = False, None
    np.testing.assert_allclose(target.loss(canonical), exact[0], rtol=1e-12)
    np.testing.assert_allclose(target.grad(canonical), exact[1], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("likelihood", ALL)
def test_expected_gradient_and_curvature_against_monte_carlo(likelihood):
    """E_q[∇ℓ] and E_q[∇²ℓ] (Stein's form or the closed form) against sample means of ∇ℓ = Xᵀφ′ and
    ∇²ℓ = Xᵀdiag(φ″)X at draws of q, each entry within five of its own standard errors."""
    target = make_target(spec_for(likelihood))
    dim, x, y = target.dim, target.train_x, target.train_y
    canonical = state(dim, 2)
    mean, cov = split(canonical, dim)
    gradient, curvature = target.expected_gradient_hessian(mean, cov)
    draws = mean[0] + np.random.default_rng(3).normal(size=(20_000, dim)) @ np.linalg.cholesky(cov[0]).T
    a = draws @ x.T
    per_draw_gradient = target.likelihood.first(a, y) @ x + target.prior_precision * draws
    pairs = (x[:, :, None] * x[:, None, :]).reshape(-1, dim * dim)
    per_draw_curvature = target.likelihood.second(a, y) @ pairs + target.prior_precision * np.eye(dim).ravel()
    for expected, samples in ((gradient[0], per_draw_gradient), (curvature[0].ravel(), per_draw_curvature)):
        error = samples.std(axis=0) / np.sqrt(samples.shape[0])
        np.testing.assert_array_less(np.abs(expected - samples.mean(axis=0)), 5 * error + 1e-9)


@pytest.mark.parametrize("likelihood", ALL)
def test_reference_optimum_is_stationary_for_each_likelihood(likelihood):
    target = make_target(spec_for(likelihood))
    reference = target.reference_solution()
    for family in ("full", "mean_field"):
        assert reference["families"][family]["stationarity"] <= 1e-8
    # The mean-field family is a subset of the full one: its optimum is no lower.
    assert reference["families"]["mean_field"]["optimum_loss"] >= reference["optimum_loss"] - 1e-9
    assert np.isfinite(reference["families"]["full"]["test_log_loss"])
    if likelihood == "gaussian":  # conjugate: the full family holds the exact posterior
        posterior_mean, posterior_cov = gaussian_posterior(target)
        np.testing.assert_allclose(reference["families"]["full"]["optimum_mean"], posterior_mean, rtol=1e-8)
        np.testing.assert_allclose(
            reference["families"]["full"]["optimum_cov"], posterior_cov, rtol=1e-7, atol=1e-12
        )


def gaussian_posterior(target):
    """The exact posterior of the conjugate model: Λ = XᵀX/σ² + δI, μ = Λ⁻¹Xᵀy/σ²."""
    x, y, variance = target.train_x, target.train_y, target.likelihood.noise_variance
    precision = x.T @ x / variance + target.prior_precision * np.eye(target.dim)
    cov = np.linalg.inv(precision)
    return cov @ (x.T @ y) / variance, cov


@pytest.mark.parametrize("gradient", [None, "delta"])
def test_conjugate_gaussian_ngd_at_rho_one_in_natural_parameters_is_exact_in_one_step(gradient):
    target = make_target(spec_for("gaussian", noise_variance=0.5, prior_precision=2.0), gradient=gradient)
    posterior_mean, posterior_cov = gaussian_posterior(target)
    chart = target.chart("natural")
    starts = target.initial_states(
        {"mean": {"uniform": [-3.0, 3.0]}, "var": {"loguniform": [0.01, 10.0]}}, (0, 1, 2)
    )
    theta = chart.from_canonical(starts)
    canonical = chart.to_canonical(theta)
    theta = theta - chart.natural_gradient(theta, canonical, target.estimate_grad(canonical), None)
    mean, cov = split(chart.to_canonical(theta), target.dim)
    for run in range(3):
        np.testing.assert_allclose(mean[run], posterior_mean, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(cov[run], posterior_cov, rtol=1e-9, atol=1e-13)
    # One step more stays there: the posterior is the loss's stationary point.
    canonical = chart.to_canonical(theta)
    assert np.abs(chart.pullback_gradient(theta, target.grad(canonical))).max() < 1e-8


def test_glm_vi_on_the_breast_cancer_csv_is_the_logistic_target(tmp_path):
    """The CSV path gives the very numbers of `logistic_vi`: same split, design, loss and gradient bits."""
    features, labels = load_breast_cancer()
    path = tmp_path / "bc.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f"f{k}" for k in range(30)] + ["benign"])
        writer.writerows(
            [
                [repr(float(v)) for v in row] + [repr(float(label))]
                for row, label in zip(features, labels, strict=True)
            ]
        )
    glm = make_target({"name": "glm_vi", "data": {"csv": str(path), "response": "benign"}, "split_seed": 3})
    logistic = make_target({"name": "logistic_vi", "split_seed": 3})
    np.testing.assert_array_equal(glm.train_x, logistic.train_x)
    canonical = state(31, 5, scale=0.1)
    np.testing.assert_array_equal(glm.loss(canonical), logistic.loss(canonical))
    np.testing.assert_array_equal(glm.grad(canonical), logistic.grad(canonical))
    np.testing.assert_array_equal(glm.test_log_loss(canonical), logistic.test_log_loss(canonical))


# --- the data checks, through the config check: each names the field, and the row/column at fault -----


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


GOOD = "y,a,b\n" + "".join(f"{k % 4},{k * 0.5},{(k * 7) % 5}\n" for k in range(12))


def row(data: dict, **fields) -> dict:
    return {
        "target": {"name": "glm_vi", "likelihood": "poisson_log", "data": data, **fields},
        "init": {"mean": 0.0, "var": 0.1},
        "parameterizations": ["natural"],
        "methods": ["gd", "ngd"],
        "learning_rates": [0.1],
        "seeds": 2,
        "steps": 5,
    }


def problems(target_row: dict) -> list[str]:
    config = {"tolerances": [1.0e-2], "experiments": {"counts": target_row}}
    with pytest.raises(ConfigError) as excinfo:
        check_config(config, SCHEMA)
    return [line.strip() for line in str(excinfo.value).splitlines()[1:]]


def test_a_good_csv_passes_the_config_check(tmp_path):
    path = write(tmp_path / "good.csv", GOOD)
    config = {"tolerances": [1.0e-2], "experiments": {"counts": row({"csv": path, "response": "y"})}}
    plan = check_config(config, SCHEMA)
    assert plan.experiments["counts"].needs_reference
    target = make_target(plan.experiments["counts"].target)
    assert target.dim == 3 and target.train_x.shape == (10, 3)  # a, b and the intercept; 2 rows to test


WHERE = "experiments.counts.target."
BAD_CSVS = [
    # (file text or None for a missing file, data fields, other target fields, field, message)
    (None, {}, {}, "data.csv", "no file"),
    (GOOD, {"response": "z"}, {}, "data.response", "no column 'z'"),
    (GOOD, {"features": ["a", "c"]}, {}, "data.features.1", "no column 'c'"),
    (GOOD, {"features": ["a", "y"]}, {}, "data.features.1", "is the response"),
    (
        GOOD.replace("\n3,1.5,", "\n3,x1.5,", 1),
        {},
        {},
        "data.features",
        "row 4 (line 5), column 'a': 'x1.5' is not a number",
    ),
    (
        GOOD.replace("\n3,1.5,", "\n3,1.5,", 1).replace("\n2,1.0,", "\n2,,", 1),
        {"features": ["b", "a"]},
        {},
        "data.features.1",
        "row 3 (line 4), column 'a': empty cell",
    ),
    (
        GOOD.replace("\n2,1.0,", "\n2,nan,", 1),
        {},
        {},
        "data.features",
        "row 3 (line 4), column 'a': 'nan' is not a finite",
    ),
    (
        "y,a,b\n" + "".join(f"{k % 3},4,{k}\n" for k in range(10)),
        {},
        {},
        "data.features",
        "column 'a' is constant",
    ),
    (
        GOOD.replace("\n2,1.0,", "\n-2,1.0,", 1),
        {},
        {},
        "data.response",
        "row 3: -2 is outside the support of poisson_log",
    ),
    (GOOD.replace("\n2,1.0,", "\n2.5,1.0,", 1), {}, {}, "data.response", "row 3: 2.5 is outside the support"),
    (
        GOOD,
        {},
        {"likelihood": "bernoulli_logit"},
        "data.response",
        "row 3: 2 is outside the support of bernoulli_logit",
    ),
    ("y,a\n1,0.5\n2,0.7\n", {}, {}, "test_fraction", "leaves 0 to test"),
    (GOOD, {}, {"noise_variance": 1.0}, "noise_variance", "only the gaussian likelihood"),
    ("y,a,a\n1,2,3\n", {}, {}, "data.csv", "more than once"),
    (GOOD + "1,2\n", {}, {}, "data.csv", "row 13 (line 14): 2 cells, the header has 3"),
]


@pytest.mark.parametrize(
    ("text", "data", "fields", "field", "message"), BAD_CSVS, ids=[b[4] for b in BAD_CSVS]
)
def test_a_bad_csv_is_refused_naming_the_field_and_the_cell(tmp_path, text, data, fields, field, message):
    path = str(tmp_path / "missing.csv") if text is None else write(tmp_path / "data.csv", text)
    lines = problems(row({"csv": path, "response": "y", **data}, **fields))
    assert any(line.startswith(WHERE + field + ": ") and message in line for line in lines), lines


def test_a_feature_constant_over_the_training_rows_names_it(tmp_path):
    rows = [(k % 3, k, 1 if k == 0 else 0) for k in range(12)]
    text = "y,a,rare\n" + "".join(f"{y},{a},{r}\n" for y, a, r in rows)
    path = write(tmp_path / "rare.csv", text)
    found = []
    for split_seed in range(10):  # the one row with rare = 1 falls in the test split for some seed
        config = {
            "tolerances": [1.0e-2],
            "experiments": {"counts": row({"csv": path, "response": "y"}, split_seed=split_seed)},
        }
        try:
            check_config(config, SCHEMA)
        except ConfigError as error:
            found.append(str(error))
    assert found and all(f"{WHERE}test_fraction" in e and "feature 'rare' constant" in e for e in found), (
        found
    )


# --- the workflow: a row's CSV is part of what reruns its jobs, and of nothing else's ------------------


@pytest.mark.slow
def test_editing_a_rows_csv_reruns_only_that_rows_jobs(tmp_path):
    from tests.test_workflow import snakemake, write_config

    for name, shift in (("first", 0), ("second", 1)):
        text = "y,a,b\n" + "".join(f"{(k + shift) % 4},{k * 0.5},{(k * 7) % 5}\n" for k in range(12))
        write(tmp_path / f"{name}.csv", text)
    experiments = {
        name: {**row({"csv": f"{name}.csv", "response": "y"}), "tolerances": [1.0e-2], "steps": 3}
        for name in ("first", "second")
    }
    write_config(tmp_path, {"tolerances": [1.0e-2], "experiments": experiments, "figures": {}})
    outputs = [f"results/summaries/{name}/natural.parquet" for name in experiments]
    done = snakemake(tmp_path, "--cores", "2", *outputs)
    assert done.returncode == 0, done.stderr[-3000:]
    again = snakemake(tmp_path, "-n", *outputs)
    assert "Nothing to be done" in again.stdout + again.stderr

    csv_file = tmp_path / "first.csv"
    csv_file.write_text(csv_file.read_text().replace("\n1,0.5,", "\n2,0.5,", 1))  # one count changed
    dry = snakemake(tmp_path, "-n", *outputs)
    assert dry.returncode == 0, dry.stderr[-3000:]
    # Each job as its rule's one-line message names it ("Job 0: solve first/natural").
    jobs = set(re.findall(r"Job \d+: (.+)$", dry.stdout, re.MULTILINE))
    assert jobs == {"reference solution (f*) of first", "solve first/natural"}, dry.stdout[-3000:]
