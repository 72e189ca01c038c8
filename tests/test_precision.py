"""Recorded metrics to full precision where the textbook formulas round away (held against exact arithmetic).

The oracles here use Python's `decimal` (40 digits) and `fractions` on the very floats the library
sees, so they share no code and no rounding with it.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy as np
import pytest
import yaml

from ngbench.experiments import ConfigError, check_config
from ngbench.targets import make_target
from ngbench.targets.gaussian_family import join, split
from ngbench.targets.logistic_vi import gauss_hermite, log_sigmoid, sigmoid
from tests.test_config import REPO, mutate

DIGITS = 40


def decimal_log_sigmoid(a: float) -> Decimal:
    """−ln(1 + x), x = e⁻ᵃ, to 40 significant digits.

    For a > 70, 1 + x does not hold x in 40 digits: there the series −x + x²/2 (error < x³) is used.
    """
    with localcontext() as context:
        context.prec = DIGITS + 10
        x = (-Decimal(a)).exp()
        value = -x + x * x / 2 if a > 70 else -(1 + x).ln()
    return +value  # rounded to the caller's context


def fraction_det(matrix) -> Fraction:
    """det of a matrix of floats or fractions, exactly (Gaussian elimination over the rationals)."""
    rows = [[x if isinstance(x, Fraction) else Fraction(float(x)) for x in row] for row in matrix]
    n, det = len(rows), Fraction(1)
    for i in range(n):
        pivot = next(r for r in range(i, n) if rows[r][i] != 0)
        if pivot != i:
            rows[i], rows[pivot], det = rows[pivot], rows[i], -det
        det *= rows[i][i]
        for r in range(i + 1, n):
            factor = rows[r][i] / rows[i][i]
            rows[r] = [x - factor * y for x, y in zip(rows[r], rows[i], strict=True)]
    return det


def ln(value: Fraction) -> Decimal:
    with localcontext() as context:
        context.prec = DIGITS
        return (Decimal(value.numerator) / Decimal(value.denominator)).ln()


# --- σ and log σ ------------------------------------------------------------------------------------

ARGUMENTS = [-800.0, -745.5, -300.0, -40.0, -37.5, -20.0, -1.0, 0.0, 0.5, 20.0, 37.5, 40.0, 300.0, 800.0]


@pytest.mark.parametrize("a", ARGUMENTS)
def test_sigmoid_and_log_sigmoid_keep_relative_precision(a):
    exact_log = decimal_log_sigmoid(a)
    computed_log = log_sigmoid(np.array([a]))[0]
    assert abs(Decimal(float(computed_log)) - exact_log) <= Decimal("4e-16") * abs(exact_log) + Decimal(
        "1e-300"
    )
    exact = float(exact_log.exp()) if exact_log > -700 else None
    if exact is not None:  # σ itself is representable
        assert sigmoid(np.array([a]))[0] == pytest.approx(exact, rel=4e-16, abs=0.0)


# --- the held-out log-loss ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def logistic():
    return make_target({"name": "logistic_vi"})


def decimal_test_log_loss(target, canonical_row) -> float:
    """−meanₙ log Σₖ wₖ σ(±aₙₖ) in 40 digits over the float nodes aₙₖ = xₙᵀm + √(xₙᵀVxₙ) zₖ."""
    dim = target.dim
    mean, cov = canonical_row[:dim], canonical_row[dim:].reshape(dim, dim)
    centre = target.test_x @ mean
    spread = np.sqrt(np.einsum("ni,ij,nj->n", target.test_x, cov, target.test_x))
    z, w = np.polynomial.hermite_e.hermegauss(100)  # not the library's rule: only agreement to ~1e-14
    w = w / w.sum()
    total = Decimal(0)
    with localcontext() as context:
        context.prec = DIGITS
        for n, y in enumerate(target.test_y):
            sign = 1.0 if y == 1.0 else -1.0
            likelihood = sum(
                Decimal(float(wk)) * decimal_log_sigmoid(sign * (centre[n] + spread[n] * zk)).exp()
                for zk, wk in zip(z, w, strict=True)
            )
            total -= likelihood.ln()
        return float(total / len(target.test_y))


def old_test_log_loss(target, canonical):
    """The former formula: σ by tanh, p clipped to [1e-300, 1 − 1e-16] (wrong once p < ~1e-16)."""
    mean, cov = split(canonical, target.dim)
    centre, spread = target._projections(target.test_x, mean, cov)
    p = (0.5 * (1.0 + np.tanh(0.5 * target._nodes(centre, spread)))) @ target.weights
    p = np.clip(p, 1e-300, 1.0 - 1e-16)
    return -(target.test_y * np.log(p) + (1.0 - target.test_y) * np.log1p(-p)).mean(axis=1)


@pytest.mark.parametrize("scale,var", [(1.0, 1e-4), (30.0, 1e-6), (-300.0, 4.0)])
def test_test_log_loss_against_exact_arithmetic(logistic, scale, var):
    """States whose predictive probabilities reach 1e-300 and beyond (a confident, wrong q)."""
    direction = np.linspace(-1.0, 1.0, logistic.dim)
    canonical = join(scale * direction[None], (var * np.eye(logistic.dim))[None])
    exact = decimal_test_log_loss(logistic, canonical[0])
    assert logistic.test_log_loss(canonical)[0] == pytest.approx(exact, rel=1e-12)
    if abs(scale) >= 30.0:
        # The former formula is off there by more than any tolerance: the test can tell them apart.
        assert abs(old_test_log_loss(logistic, canonical)[0] - exact) > 1e-3 * exact


# --- log-determinants from a factor -------------------------------------------------------------------


def ill_conditioned_factor(dim, rng, smallest=1e-7):
    """Lower-triangular L with O(1) off-diagonal entries and a diagonal down to `smallest`."""
    chol = np.tril(rng.normal(size=(dim, dim)), -1)
    chol[np.diag_indices(dim)] = np.geomspace(1.0, smallest, dim)
    return chol


def exact_kl(target, mean, chol) -> float:
    """½[tr(Λ*Σ) + (μ−μ*)ᵀΛ*(μ−μ*) − d − log|Σ| − log|Λ*|] with Σ = LLᵀ and every product of floats
    formed exactly, the logs in 40 digits."""
    dim = target.dim
    low = [[Fraction(float(x)) for x in row] for row in chol]
    cov = [[sum(low[i][k] * low[j][k] for k in range(dim)) for j in range(dim)] for i in range(dim)]
    precision = [[Fraction(float(x)) for x in row] for row in target.target_precision]
    error = [Fraction(float(m)) - Fraction(float(t)) for m, t in zip(mean, target.target_mean, strict=True)]
    trace = sum(precision[i][j] * cov[j][i] for i in range(dim) for j in range(dim))
    mahalanobis = sum(error[i] * precision[i][j] * error[j] for i in range(dim) for j in range(dim))
    rational = trace + mahalanobis - dim
    with localcontext() as context:
        context.prec = DIGITS
        value = Decimal(rational.numerator) / Decimal(rational.denominator)
        value -= ln(fraction_det(cov)) + ln(fraction_det(target.target_precision))
        return float(value / 2)


def test_cholesky_chart_loss_takes_the_log_determinant_from_the_factor():
    dim = 4
    target = make_target({"name": "gaussian_nd", "dim": dim, "condition_number": 5.0, "seed": 1})
    chart = target.chart("mean_chol")
    rng = np.random.default_rng(0)
    chol = ill_conditioned_factor(dim, rng)
    mean = target.target_mean + 0.1 * rng.normal(size=dim)
    theta = join(mean[None], chol[None])
    canonical = chart.to_canonical(theta)
    exact = exact_kl(target, mean, chol)
    assert target.loss_at(chart, theta, canonical)[0] == pytest.approx(exact, rel=1e-13)
    # Through Σ = LLᵀ the loss is off by far more: this is the loss the runner used to record.
    assert abs(target.loss(canonical)[0] - exact) > 1e-6 * exact


def test_precision_charts_take_the_log_determinant_from_the_precision():
    """(μ, Λ) and η = (Λμ, −½Λ): log|Σ| = −log|Λ| from Λ's own Cholesky factor, with no inverse formed.

    Here Λ is the stored matrix, not a product, so its conditioning bounds any method: the check is
    agreement with the exact log-determinant of the stored floats to about eps·cond(Λ).
    """
    dim = 4
    target = make_target({"name": "gaussian_nd", "dim": dim, "condition_number": 5.0, "seed": 1})
    factor = ill_conditioned_factor(dim, np.random.default_rng(1), smallest=1e-2)
    precision = factor @ factor.T
    precision = 0.5 * (precision + precision.T)
    assert np.linalg.cond(precision) > 1e6
    exact = -float(ln(fraction_det(precision)))
    mean = np.zeros((1, dim))
    for name, theta in (
        ("mean_prec", join(mean, precision[None])),
        ("natural", join(mean, -0.5 * precision[None])),
    ):
        log_det = target.chart(name).log_det_cov(theta)[0]
        assert abs(log_det - exact) < 1e-15 * np.linalg.cond(precision), name


@pytest.mark.parametrize(
    "chart", ["mean_cov", "mean_chol", "mean_prec", "natural", "expectation", "diagonal", "diagonal_natural"]
)
def test_every_chart_records_the_loss_of_its_state(chart):
    """On a well-conditioned state the chart's log-determinant and the product's agree to rounding."""
    dim = 3
    target = make_target({"name": "gaussian_nd", "dim": dim, "condition_number": 5.0, "seed": 1})
    rng = np.random.default_rng(2)
    diagonal = chart.startswith("diagonal")
    a = rng.normal(size=(dim, dim))
    cov = np.diag(rng.uniform(0.5, 2.0, dim)) if diagonal else a @ a.T / dim + 0.5 * np.eye(dim)
    canonical = join(rng.normal(size=(1, dim)), cov[None])
    chart_ = target.chart(chart)
    theta = chart_.from_canonical(canonical)
    assert target.loss_at(chart_, theta, chart_.to_canonical(theta))[0] == pytest.approx(
        target.loss(canonical)[0], rel=1e-12
    )


def test_the_runner_records_loss_at():
    from ngbench.methods import natural_gradient
    from ngbench.runner import run_batch

    target = make_target({"name": "gaussian_nd", "dim": 2, "condition_number": 5.0, "seed": 1})
    chart = target.chart("mean_chol")
    start = target.initial_states({"mean": 0.0, "var": 1.0}, (0,))
    plain = run_batch(target, chart, natural_gradient, start, np.array([0.5]), 3, 1e-8).loss
    target.loss_at = lambda chart, theta, canonical: target.loss(canonical) + 1.0
    shifted = run_batch(target, chart, natural_gradient, start, np.array([0.5]), 3, 1e-8).loss
    np.testing.assert_allclose(shifted, plain + 1.0, rtol=1e-14)


def test_logistic_loss_takes_the_log_determinant_from_the_factor(logistic):
    """The neg-ELBO's −½log|V| term: with an ill-conditioned L, from L's diagonal (exact), not from LLᵀ."""
    dim = logistic.dim
    chart = logistic.chart("mean_chol")
    chol = np.eye(dim) * 0.1
    chol[np.diag_indices(dim)] = np.geomspace(0.1, 1e-8, dim)
    chol[1:, 0] = np.linspace(-1.0, 1.0, dim - 1)
    theta = join(np.zeros((1, dim)), chol[None])
    canonical = chart.to_canonical(theta)
    exact_log_det = 2.0 * math.fsum(math.log(x) for x in np.diagonal(chol))
    by_factor = logistic.loss_at(chart, theta, canonical)[0]
    assert by_factor == pytest.approx(logistic.loss(canonical, np.array([exact_log_det]))[0], rel=1e-15)
    # Through Σ = LLᵀ the value is wrong, or NaN (LLᵀ no longer positive-definite in floating point):
    # a valid state the runner would have called diverged.
    assert not abs(logistic.loss(canonical)[0] - by_factor) <= 1e-3


# --- quadrature for every allowed node count -----------------------------------------------------------

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def schema_bound(target_name: str, field: str) -> dict:
    for branch in SCHEMA["$defs"]["target"]["allOf"]:
        if branch["if"]["properties"]["name"]["const"] == target_name:
            return branch["then"]["properties"][field]
    raise KeyError(target_name)


def double_factorial(k: int) -> int:
    return math.prod(range(1, 2 * k, 2))


@pytest.mark.parametrize("count", [2, 20, 100, 371, 372, "max"])
def test_gauss_hermite_integrates_normal_moments_exactly(count):
    """E[z^2k] = (2k−1)!!, E[z^(2k+1)] = 0 up to degree 2·count − 1, for every count the schema allows.

    numpy's hermegauss returns non-finite weights from 372 nodes on (and wrong ones at 371).
    """
    count = schema_bound("logistic_vi", "quadrature_nodes")["maximum"] if count == "max" else count
    nodes, weights = gauss_hermite(count)
    assert nodes.shape == weights.shape == (count,)
    assert np.isfinite(nodes).all() and np.isfinite(weights).all() and (weights >= 0).all()
    assert math.fsum(weights) == pytest.approx(1.0, rel=1e-14)
    for k in range(1, min(count, 12)):  # degree 2k ≤ 2·count − 1
        assert math.fsum(weights * nodes ** (2 * k)) == pytest.approx(double_factorial(k), rel=1e-12)
        assert abs(math.fsum(weights * nodes ** (2 * k - 1))) < 1e-12 * double_factorial(k)


@pytest.mark.parametrize("count", [20, 100, 300])
def test_gauss_hermite_agrees_with_numpy_where_numpy_works(count):
    nodes, weights = gauss_hermite(count)
    reference_nodes, reference_weights = np.polynomial.hermite_e.hermegauss(count)
    np.testing.assert_allclose(nodes, reference_nodes, rtol=0, atol=1e-13)
    np.testing.assert_allclose(weights, reference_weights / np.sqrt(2 * np.pi), rtol=0, atol=1e-15)


def test_quadrature_nodes_past_the_schema_bound_are_refused_naming_the_field():
    bound = schema_bound("logistic_vi", "quadrature_nodes")["maximum"]
    config = mutate("experiments.logistic_vi.target.quadrature_nodes", bound + 1)
    with pytest.raises(ConfigError, match=r"experiments\.logistic_vi\.target\.quadrature_nodes: "):
        check_config(config, SCHEMA)
    check_config(mutate("experiments.logistic_vi.target.quadrature_nodes", bound), SCHEMA)


@pytest.mark.parametrize("dim", [2, 100])
def test_gaussian_nd_at_the_largest_allowed_condition_number_has_its_optimum_at_gap_zero(dim):
    """At κ = the schema's bound the loss at the optimum is 0 to far below a 1e-8 tolerance, in 4 charts."""
    bound = schema_bound("gaussian_nd", "condition_number")["maximum"]
    target = make_target({"name": "gaussian_nd", "dim": dim, "condition_number": bound, "seed": 0})
    optimum = target.optimum()[None]
    for name in ("mean_cov", "mean_chol", "mean_prec", "natural"):
        chart = target.chart(name)
        theta = chart.from_canonical(optimum)
        assert abs(target.loss_at(chart, theta, chart.to_canonical(theta))[0]) < 1e-9, name
    config = mutate("experiments.gaussian_nd_d100.target.condition_number", 1.01 * bound)
    with pytest.raises(ConfigError, match=r"experiments\.gaussian_nd_d100\.target\.condition_number: "):
        check_config(config, SCHEMA)
