"""The GLM rows' mean-field charts in the (m, v) form (issue 18 item 2): nothing d × d or N × d × d,
and the iterates of the full (m, diag v) path they replaced, which stays in the library as the oracle.

Oracles: the same chart class writing V = diag(v) as a d × d block (`compact=False`), central
differences of the loss in (m, v), and for NGD in `diagonal_natural` the duality ng_η = ∇_mℒ
(docs/maths.md §2.1) taken by differences in the expectation parameters (m, m² + v).
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from ngbench.memo import STEP
from ngbench.methods import method_named
from ngbench.runner import run_batch
from ngbench.targets import make_target
from ngbench.targets.gaussian_family import Diagonal, DiagonalNatural, full_form, split
from ngbench.targets.glm_vi import GLMVI
from ngbench.targets.likelihoods import BernoulliLogit, PoissonLog

REPO = Path(__file__).resolve().parents[1]
FULL_FORM_CHART = {"diagonal": Diagonal, "diagonal_natural": DiagonalNatural}
INIT = {"mean": {"uniform": [-0.5, 0.5]}, "var": {"loguniform": [0.005, 0.05]}}


def stand_in_reference(target):
    """f* = 0 and m* = 0: gaps and mean errors are then plain functions of the iterates, which is all
    these comparisons need (no reference solve)."""
    zero = {
        "optimum_loss": 0.0,
        "optimum_mean": [0.0] * target.dim,
        "optimum_cov": np.eye(target.dim).tolist(),
    }
    return target.with_reference({"optimum_loss": 0.0, "families": {"full": zero, "mean_field": zero}})


def logistic(gradient=None, nodes=30):
    return stand_in_reference(
        make_target({"name": "logistic_vi", "quadrature_nodes": nodes}, gradient=gradient)
    )


def synthetic(likelihood, rows: int, dim: int, seed: int = 0):
    """A GLM in `dim` dimensions (dim − 1 features and the intercept) on generated data: Poisson counts
    (closed-form expectations) or Bernoulli labels (quadrature); a fifth of the rows held out."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, dim - 1))
    a = x @ rng.normal(size=dim - 1) / np.sqrt(dim)
    y = (
        rng.poisson(np.exp(a))
        if isinstance(likelihood, PoissonLog)
        else (rng.uniform(size=rows) < 1 / (1 + np.exp(-a)))
    )
    return stand_in_reference(GLMVI(x, y.astype(float), likelihood, quadrature_nodes=20))


# Small enough that every run stays in its domain for the steps compared.
LEARNING_RATES = {"gd": (1e-4, 5e-4), "adam": (1e-4, 1e-3), "ngd": (0.01, 0.05), "ef": (0.01, 0.05)}


def runs(target, chart, method, seeds=(0, 1, 2), steps=12):
    lrs = LEARNING_RATES[method]
    start = np.tile(target.initial_states_for(chart, INIT, seeds), (len(lrs), 1))
    rates = np.repeat(np.array(lrs), len(seeds))
    return run_batch(
        target, chart, method_named(method), start, rates, steps, 0.0, seeds=np.tile(seeds, len(lrs))
    )


def assert_same_runs(ours, theirs):
    assert (theirs.status == "budget").all()
    np.testing.assert_array_equal(ours.status, theirs.status)
    np.testing.assert_array_equal(ours.stop_iter, theirs.stop_iter)
    np.testing.assert_allclose(ours.loss, theirs.loss, rtol=1e-12, atol=0)
    # ‖m − m*‖ and the held-out log-loss of every iterate
    np.testing.assert_allclose(ours.states, theirs.states, rtol=1e-12, atol=0)


@pytest.mark.parametrize("chart_name", ["diagonal", "diagonal_natural"])
@pytest.mark.parametrize(
    ("method", "gradient"),
    [
        ("gd", None),
        ("ngd", None),
        ("ef", None),
        ("adam", None),
        ("ngd", {"mc": 3}),
        ("ef", {"mc": 3}),
        ("ngd", "delta"),
    ],
)
def test_logistic_mean_field_runs_are_the_full_forms_runs(chart_name, method, gradient):
    """Against the same chart writing V = diag(v) as a d × d block, with the full-form loss, gradient,
    curvature and projections: every loss and observation within 1e-12 relative while no run stops
    (xₙᵀVxₙ and the curvature's diagonal are sums of the same products in another order)."""
    target = logistic(gradient)
    compact = target.chart(chart_name)
    full = FULL_FORM_CHART[chart_name](target.dim, compact=False)
    assert compact.compact and target.state_size_for(compact) == 2 * target.dim
    assert target.initial_states_for(compact, INIT, (0,)).shape == (1, 2 * target.dim)
    assert_same_runs(runs(target, compact, method), runs(target, full, method))


@pytest.mark.parametrize("method", ["gd", "ngd"])
def test_poisson_mean_field_runs_with_closed_form_expectations_are_the_full_forms(method):
    target = synthetic(PoissonLog(), rows=60, dim=5)
    for chart_name, full_type in FULL_FORM_CHART.items():
        compact, full = target.chart(chart_name), full_type(target.dim, compact=False)
        assert_same_runs(runs(target, compact, method), runs(target, full, method))


def mean_field_states(dim, rows=3, seed=5):
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [0.4 * rng.normal(size=(rows, dim)), rng.uniform(0.02, 0.3, size=(rows, dim))], axis=1
    )


@pytest.mark.parametrize("likelihood", [BernoulliLogit(), PoissonLog()], ids=lambda lik: lik.name)
def test_mean_field_gradient_against_finite_differences_and_the_full_forms_diagonal(likelihood):
    """g_v = ∂ℒ/∂v by central differences of the (m, v) loss (quadrature on a smooth rule: a node
    count fixed, so the discrete loss is differentiable), and (g_m, diag G) of the full form."""
    target = synthetic(likelihood, rows=80, dim=4, seed=1)
    compact = mean_field_states(4)
    grad = target.grad(compact)
    h = 1e-6
    numeric = np.empty_like(compact)
    for column in range(compact.shape[1]):
        step = np.zeros_like(compact)
        step[:, column] = h
        numeric[:, column] = (target.loss(compact + step) - target.loss(compact - step)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-7)
    embedded = full_form(compact, 4)
    full_grad = target.grad(embedded)
    np.testing.assert_allclose(grad[:, :4], full_grad[:, :4], rtol=1e-12)
    np.testing.assert_allclose(grad[:, 4:], np.diagonal(split(full_grad, 4)[1], axis1=1, axis2=2), rtol=1e-12)
    np.testing.assert_allclose(target.loss(compact), target.loss(embedded), rtol=1e-13)
    np.testing.assert_allclose(target.test_log_loss(compact), target.test_log_loss(embedded), rtol=1e-12)


def test_mean_field_natural_gradient_is_the_gradient_in_expectation_parameters():
    """NGD in `diagonal_natural`: ng_η = ∇ℒ in (m, s = m² + v) by central differences (the duality of
    docs/maths.md §2.1; no chart code involved in the oracle), and the full form's natural gradient."""
    target = synthetic(BernoulliLogit(), rows=80, dim=4, seed=2)
    chart = target.chart("diagonal_natural")
    compact = mean_field_states(4, seed=6)
    theta = chart.from_canonical(compact)
    with STEP.scope():
        natural = chart.natural_gradient(theta, chart.to_canonical(theta), target.grad(compact), None)

    def loss_of_expectations(expectations):
        mean, second = expectations[:, :4], expectations[:, 4:]
        return target.loss(np.concatenate([mean, second - mean**2], axis=1))

    expectations = np.concatenate([compact[:, :4], compact[:, 4:] + compact[:, :4] ** 2], axis=1)
    h = 1e-6
    numeric = np.empty_like(expectations)
    for column in range(expectations.shape[1]):
        step = np.zeros_like(expectations)
        step[:, column] = h
        numeric[:, column] = (
            loss_of_expectations(expectations + step) - loss_of_expectations(expectations - step)
        ) / (2 * h)
    np.testing.assert_allclose(natural, numeric, rtol=1e-6, atol=1e-7)
    full = DiagonalNatural(4, compact=False)
    embedded = full_form(compact, 4)
    with STEP.scope():
        oracle = full.natural_gradient(theta, full.to_canonical(theta), target.grad(embedded), None)
    np.testing.assert_allclose(natural, oracle, rtol=1e-12)


def test_the_mean_field_reference_is_the_full_forms():
    """f* of the mean-field family, solved in (m, v), is the one the full-form chart solves to."""
    data = {"csv": str(REPO / "src" / "ngbench" / "data" / "randhie_400.csv"), "response": "mdvis"}
    target = make_target(
        {"name": "glm_vi", "likelihood": "poisson_log", "quadrature_nodes": 20, "data": data}
    )
    ours = target.reference_solution()["families"]["mean_field"]
    target.charts["diagonal_natural"] = DiagonalNatural(target.dim, compact=False)
    theirs = target.reference_solution()["families"]["mean_field"]
    assert ours["optimum_loss"] == pytest.approx(theirs["optimum_loss"], rel=1e-13)
    np.testing.assert_allclose(ours["optimum_mean"], theirs["optimum_mean"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        ours["optimum_cov"], theirs["optimum_cov"], rtol=1e-9, atol=0
    )  # V whole in both


@pytest.mark.parametrize("gradient", [None, {"mc": 2}])
def test_d_1600_mean_field_glm_runs_without_any_d_by_d_or_n_by_d_by_d_array(gradient):
    """d = 1600 through the ordinary runner: 8 runs allocate less than half of one (8 × N × d) array
    (10 MB; the full path's projections needed one) and an eighth of one d × d array (20 MB). The
    design itself is N × d (1.3 MB), its squares made in the first run are as large."""
    dim, rows = 1600, 100
    target = synthetic(BernoulliLogit(), rows=rows + 25, dim=dim)  # 25 rows held out for the test split
    if gradient is not None:
        target.set_gradient(gradient)
    assert target.train_x.shape == (rows, dim)
    for chart_name in ("diagonal", "diagonal_natural"):
        chart = target.chart(chart_name)
        start = np.tile(target.initial_states_for(chart, {"mean": 0.0, "var": 0.001}, (0, 1, 2, 3)), (2, 1))
        # One step first, untraced: the first use imports modules and makes the quadrature rules,
        # Python allocations tracemalloc would count whichever test ran before.
        run_batch(
            target, chart, method_named("ngd"), start[:1], np.array([0.01]), 1, 0.0, seeds=np.array([0])
        )
        tracemalloc.start()
        result = run_batch(
            target,
            chart,
            method_named("ngd"),
            start,
            np.repeat([0.01, 0.02], 4),
            4,
            0.0,
            seeds=np.tile([0, 1, 2, 3], 2),
        )
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert start.shape == (8, 2 * dim)
        assert (result.status == "budget").all()
        if gradient is None:
            assert (np.diff(result.loss, axis=0) < 0).all()  # NGD descends in every run
        assert peak < 8 * rows * dim * 8 / 2, f"{chart_name}: {peak / 1e6:.1f} MB allocated in a run of 8"
