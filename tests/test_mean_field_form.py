"""Mean-field charts in the (μ, v) form (issue 18 item 2): no d×d work, and the very iterates of the
full (μ, diag v) path they replaced, which stays in the library for targets that read (μ, Σ) only."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml

from ngbench.experiments import ConfigError, parse_config
from ngbench.methods import method_named
from ngbench.runner import run_batch
from ngbench.targets import make_target
from ngbench.targets.gaussian_family import Diagonal, DiagonalNatural, full_form
from tests.gaussian_oracles import DIAGONAL_CHARTS

FULL_FORM_CHART = {"diagonal": Diagonal, "diagonal_natural": DiagonalNatural}
INIT = {"mean": {"uniform": [-2.0, 2.0]}, "var": {"loguniform": [0.2, 1.0]}}


def gaussian_nd(dim, gradient=None):
    spec = {"name": "gaussian_nd", "dim": dim, "condition_number": 30.0, "seed": 3}
    return make_target(spec, gradient=gradient)


def runs(target, chart, method, seeds=(0, 1, 2), lrs=(0.001, 0.003, 0.01), steps=40):
    start = np.tile(target.initial_states_for(chart, INIT, seeds), (len(lrs), 1))
    rates = np.repeat(np.array(lrs), len(seeds))
    return run_batch(
        target, chart, method_named(method), start, rates, steps, 0.0, seeds=np.tile(seeds, len(lrs))
    )


@pytest.mark.parametrize("chart_name", DIAGONAL_CHARTS)
@pytest.mark.parametrize(
    ("method", "gradient"), [("gd", None), ("ngd", None), ("adam", None), ("ngd", {"mc": 4})]
)
def test_mean_field_form_runs_are_the_full_forms_runs_bit_for_bit(chart_name, method, gradient):
    """The oracle is the same chart writing Σ = diag(v) as a d × d block, with the target's full-form
    loss, gradient (Σ⁻¹ = diag(1/v) from the chart) and domain check: every loss and observation equal.

    While every run goes on. The full form's Σ⁻¹ was keyed by its array (ngbench.memo), so in the
    step after some runs stopped it came from potri instead, (1/√v)² (rounding apart from 1/v);
    the mean-field form takes 1/v in every step."""
    target = gaussian_nd(6, gradient)
    compact = target.chart(chart_name)
    full = FULL_FORM_CHART[chart_name](6, compact=False)
    assert compact.compact and target.initial_states_for(compact, INIT, (0,)).shape == (1, 12)
    assert full.to_canonical(full.from_canonical(target.initial_states(INIT, (0,)))).shape == (1, 42)
    ours, theirs = runs(target, compact, method), runs(target, full, method)
    assert (theirs.status == "budget").all()
    np.testing.assert_array_equal(ours.states, theirs.states)  # ‖μ − μ*‖ of every iterate
    np.testing.assert_array_equal(ours.status, theirs.status)
    np.testing.assert_array_equal(ours.stop_iter, theirs.stop_iter)
    # tr(Λ* diag v) is summed over d terms, not over d² of which d are non-zero: rounding apart.
    np.testing.assert_allclose(ours.loss, theirs.loss, rtol=1e-14, atol=1e-15)


def test_newton_on_the_diagonal_chart_is_the_full_forms():
    target = gaussian_nd(5)
    ours, theirs = runs(target, target.chart("diagonal"), "newton"), runs(target, Diagonal(5), "newton")
    np.testing.assert_array_equal(ours.states, theirs.states)
    np.testing.assert_allclose(ours.loss, theirs.loss, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("chart_name", DIAGONAL_CHARTS)
def test_loss_gradient_and_domain_of_the_mean_field_form_are_those_of_the_embedded_diagonal(chart_name):
    """The full (μ, Σ) path is the oracle: embed diag v as Σ. The gradient (g_μ, g_v) is (g_μ, diag G)."""
    target = gaussian_nd(4)
    rng = np.random.default_rng(7)
    compact = np.concatenate([rng.normal(size=(5, 4)), rng.uniform(0.1, 2.0, size=(5, 4))], axis=1)
    compact[3, 6] = -0.2  # a negative variance: outside the domain in both forms
    embedded = full_form(compact, 4)
    np.testing.assert_allclose(target.loss(compact), target.loss(embedded), rtol=1e-13)
    np.testing.assert_array_equal(target.in_domain(compact), target.in_domain(embedded))
    assert not target.in_domain(compact)[3]
    inside = np.delete(np.arange(5), 3)
    grad, oracle = target.grad(compact[inside]), target.grad(embedded[inside])
    np.testing.assert_array_equal(grad[:, :4], oracle[:, :4])
    np.testing.assert_allclose(grad[:, 4:], np.diagonal(oracle[:, 4:].reshape(-1, 4, 4), axis1=1, axis2=2))
    chart = target.chart(chart_name)
    theta = chart.from_canonical(compact[inside])
    np.testing.assert_array_equal(theta, chart.from_canonical(embedded[inside]))
    for step in ("pullback_gradient", "natural_gradient"):
        args = (theta, grad) if step == "pullback_gradient" else (theta, compact[inside], grad, None)
        full_args = (
            (theta, oracle) if step == "pullback_gradient" else (theta, embedded[inside], oracle, None)
        )
        np.testing.assert_allclose(getattr(chart, step)(*args), getattr(chart, step)(*full_args), rtol=1e-14)


@pytest.mark.slow  # building the d = 1600 target alone takes seconds (a QR and two d³ products)
def test_d_1600_mean_field_runs_hold_no_d_by_d_array_per_run():
    """d = 1600 through the ordinary runner: a d × d array of 8 runs would be 164 MB (the target's own
    Λ* and Σ* are 20 MB each, made before); the runs' whole step allocates a small fraction of one."""
    dim = 1600
    target = make_target({"name": "gaussian_nd", "dim": dim, "condition_number": 100.0, "seed": 0})
    for chart_name in DIAGONAL_CHARTS:
        chart = target.chart(chart_name)
        start = np.tile(target.initial_states_for(chart, INIT, (0, 1, 2, 3)), (2, 1))
        rates = np.repeat([0.01, 0.02], 4)
        tracemalloc.start()
        result = run_batch(target, chart, method_named("ngd"), start, rates, 5, 0.0)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert start.shape == (8, 2 * dim)
        assert (result.status == "budget").all()
        assert (np.diff(result.loss, axis=0) < 0).all()  # NGD descends in every run
        assert peak < dim * dim * 8, f"{chart_name}: {peak / 1e6:.1f} MB allocated in a run of 8"


@pytest.mark.slow  # building the d = 1600 target alone takes seconds (a QR and two d³ products)
def test_the_memory_bound_counts_each_charts_own_state():
    """20 runs at d = 1600: 4 GB of (μ, Σ) states with a step's temporaries, 5 MB of (μ, v)."""
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
    row = {
        "target": {"name": "gaussian_nd", "dim": 1600, "condition_number": 10.0, "seed": 0},
        "init": {"mean": 0.0, "var": 0.1},
        "parameterizations": ["diagonal", "diagonal_natural"],
        "methods": ["gd", "ngd"],
        "learning_rates": [0.01, 0.1, 0.3, 1.0],
        "seeds": 5,
        "steps": 10,
    }
    config.update(experiments={"mean_field_d1600": row}, figures={}, claims={})
    assert parse_config(config).experiments["mean_field_d1600"].parameterizations == tuple(
        row["parameterizations"]
    )
    row["parameterizations"] = ["diagonal", "mean_cov"]
    with pytest.raises(ConfigError, match=r"mean_field_d1600\.seeds: 20 runs .* GB per step"):
        parse_config(config)
