"""The faster arithmetic of issue 18 against the plain forms it replaced: the same numbers, or the
same up to rounding where a chart's own coordinates stand in for a computed inverse."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ngbench.memo import STEP, StepMemo
from ngbench.methods import METHODS, StepContext
from ngbench.runner import run_batch
from ngbench.targets import make_target
from ngbench.targets.gaussian_family import (
    cholesky,
    inverse,
    inverse_from_cholesky,
    join,
    sum_with_transpose_into,
    symmetric,
)
from ngbench.targets.logistic_vi import log_expectation, log_sigmoid

FULL_CHARTS = ("mean_cov", "mean_chol", "mean_prec", "natural", "expectation")
MEAN_FIELD_CHARTS = ("diagonal", "diagonal_natural")


def spd_batch(rng, batch=6, dim=7):
    a = rng.normal(size=(batch, dim, dim))
    return a @ np.swapaxes(a, 1, 2) / dim + np.geomspace(1e-3, 1.0, batch)[:, None, None] * np.eye(dim)


def test_inverse_from_cholesky_is_the_symmetric_inverse():
    matrix = spd_batch(np.random.default_rng(0))
    inverted = inverse(matrix)
    np.testing.assert_array_equal(inverted, np.swapaxes(inverted, 1, 2))
    np.testing.assert_allclose(inverted, np.linalg.inv(matrix), rtol=1e-9, atol=0)
    np.testing.assert_allclose(inverted @ matrix, np.broadcast_to(np.eye(7), matrix.shape), atol=1e-9)


def test_matrices_without_a_factor_get_the_lu_inverse_as_before():
    """An indefinite Λ still maps to a Σ (the chart's domain check then calls it invalid)."""
    matrix = spd_batch(np.random.default_rng(1))
    matrix[2] = -matrix[2]
    matrix[4, 0, 0] = np.nan
    inverted = inverse(matrix)
    lu = np.linalg.inv(matrix[2])
    np.testing.assert_array_equal(inverted[2], 0.5 * (lu + lu.T))
    assert np.isnan(inverted[4]).any()
    assert np.isfinite(np.delete(inverted, 4, axis=0)).all()
    # The factor is left as it was: potri works on a copy.
    chol = cholesky(matrix[:2])
    before = chol.copy()
    inverse_from_cholesky(chol)
    np.testing.assert_array_equal(chol, before)


def test_step_memo_keeps_results_only_within_its_scope():
    memo, calls = StepMemo(), []
    array = np.ones(3)

    def compute():
        calls.append(1)
        return array.sum()

    assert memo.get("sum", array, compute) == 3 and memo.get("sum", array, compute) == 3
    assert len(calls) == 2  # outside a scope: computed every time
    memo.put("sum", array, -1.0)
    with memo.scope():
        assert memo.get("sum", array, compute) == 3
        assert memo.get("sum", array, compute) == 3
        assert len(calls) == 3  # once within the scope
        assert memo.get("sum", array.copy(), compute) == 3  # an equal array is another key
        memo.forget()
        memo.put("sum", array, -1.0)
        assert memo.get("sum", array, compute) == -1.0
    assert memo.get("sum", array, compute) == 3  # nothing outlives the scope
    assert not STEP._open


def plain_loop(target, chart, method, start, lr, steps):
    """θ ← θ − ρ·direction(θ) outside any memo scope: every inverse and factor computed afresh."""
    theta = chart.from_canonical(start)
    context, losses = StepContext(), []
    for t in range(steps + 1):
        canonical = chart.to_canonical(theta)
        losses.append(target.loss_at(chart, theta, canonical))
        if t == steps:
            break
        context.iteration = t
        theta = theta - lr[:, None] * METHODS[method](target, chart, theta, canonical, context)
    return np.array(losses), chart.to_canonical(theta)


@pytest.mark.parametrize("chart_name", FULL_CHARTS + MEAN_FIELD_CHARTS)
@pytest.mark.parametrize("method", ["gd", "ngd", "adam"])
def test_runner_steps_equal_a_plain_loop(chart_name, method):
    """The runner shares factorizations within a step (and takes Σ⁻¹ = Λ from precision charts):
    its losses equal a loop that computes everything afresh, up to rounding."""
    target = make_target({"name": "gaussian_nd", "dim": 6, "condition_number": 5.0, "seed": 2})
    chart = target.chart(chart_name)
    start = target.initial_states({"mean": {"uniform": [-1.0, 1.0]}, "var": 0.5}, (0, 1, 2))
    lr = np.array([0.002, 0.01, 0.02])
    steps = 25
    result = run_batch(target, chart, METHODS[method], start, lr, steps, 0.0)
    assert (result.status == "budget").all()
    losses, _ = plain_loop(target, chart, method, start, lr, steps)
    np.testing.assert_allclose(result.loss, losses, rtol=1e-10, atol=1e-12)


def test_mean_field_gradient_is_exactly_the_diagonal_of_the_full_one():
    """The mean-field form's gradient (g_μ, diag G) holds bit for bit the numbers of the full path's
    G = ½(Λ* − Σ⁻¹) at Σ = diag(v) with its LU inverse, without forming any d×d matrix."""
    target = make_target({"name": "gaussian_nd", "dim": 5, "condition_number": 30.0, "seed": 2})
    chart = target.chart("diagonal")
    theta = np.abs(np.random.default_rng(3).normal(size=(4, 10))) + 0.01
    canonical = chart.to_canonical(theta)
    assert canonical.shape == (4, 10)
    cov = np.zeros((4, 5, 5))
    cov[:, range(5), range(5)] = theta[:, 5:]
    lu = np.linalg.inv(cov)
    before = 0.5 * (target.target_precision - 0.5 * (lu + np.swapaxes(lu, 1, 2)))  # the former G
    with STEP.scope():
        inside = target.grad(chart.to_canonical(theta))
    np.testing.assert_array_equal(inside[:, 5:], np.diagonal(before, axis1=1, axis2=2))
    np.testing.assert_array_equal(
        inside[:, :5], (theta[:, :5] - target.target_mean) @ target.target_precision
    )
    np.testing.assert_array_equal(target.grad(canonical), inside)  # no step memo involved


def test_logistic_expectations_equal_the_whole_batch_expressions():
    """In chunks, in reused buffers: the same numbers as the batch expressions they replaced, with the
    declared rule on every projection (the narrow rules: tests/test_narrow_quadrature.py)."""
    target = make_target({"name": "logistic_vi", "quadrature_nodes": 60})
    target.narrow_quadrature = False
    rng = np.random.default_rng(4)
    dim, batch = target.dim, 5
    mean = rng.normal(size=(batch, dim)) * np.array([0.01, 0.3, 1.0, 3.0, 10.0])[:, None]
    a = rng.normal(size=(batch, dim, dim)) * 0.1
    cov = a @ np.swapaxes(a, 1, 2) + np.array([1e-6, 0.01, 0.1, 1.0, 10.0])[:, None, None] * np.eye(dim)
    # The data term Σₙ E[softplus(aₙ)] − yᵀXm, E[φ′] = E[σ(a)] − y and the Stein curvature.
    centre, spread, data_term, slopes, stein = target._train_expectations(mean, cov)
    # The projections, made in a kept (B, N, d) buffer, are the plain expression's.
    np.testing.assert_array_equal(centre, mean @ target.train_x.T)
    plain = np.sqrt(np.maximum((np.matmul(target.train_x, cov) * target.train_x).sum(axis=-1), 0.0))
    np.testing.assert_array_equal(spread, plain)
    again = target._projections(target.train_x, mean[:2], cov[:2])  # another batch size: a new buffer
    np.testing.assert_array_equal(again[1], plain[:2])

    nodes = centre[..., None] + spread[..., None] * target.nodes
    small = np.exp(-np.abs(nodes))
    reciprocal = 1.0 / (1.0 + small)
    probability = np.where(nodes >= 0.0, reciprocal, small * reciprocal)
    softplus = (np.maximum(nodes, 0.0) + np.log1p(small)) @ target.weights

    # Chunks of rows, not runs: a row's dot product with the weights may round differently in
    # another position of a BLAS product (its kernel's tail), by an ulp of the sum of its terms.
    def ulps(actual, expected, scale):
        assert (np.abs(actual - expected) <= 4 * np.finfo(float).eps * scale).all()

    ulps(data_term, softplus.sum(axis=1) - centre @ target.train_y, np.abs(softplus).sum(axis=1))
    ulps(slopes, probability @ target.weights - target.train_y, probability @ target.weights)
    ulps(
        stein,
        (probability @ (target.weights * target.nodes)) / spread,
        probability @ (target.weights * np.abs(target.nodes)) / spread,
    )

    # The empirical Fisher's E[φ′²] likewise.
    from ngbench.targets import likelihoods

    squared = (likelihoods.sigmoid(nodes) - target.train_y[:, None]) ** 2 @ target.weights
    ulps(target._expected_squared_slopes(centre, spread), squared, squared)
    # The helpers written over their argument give what they gave before.
    values = rng.normal(size=(3, 60)) * 50
    np.testing.assert_array_equal(log_sigmoid(values.copy(), out=None), -np.logaddexp(0.0, -values))
    np.testing.assert_array_equal(
        log_expectation(values, target.log_weights, out=values.copy()),
        log_expectation(values, target.log_weights),
    )


def log_sum_exp_test_log_loss(target, mean, cov):
    """The held-out metric as it was: a log-sum-exp of log σ(±a) over every node of every test row."""
    centre, spread = target._projections(target.test_x, mean, cov)
    signed = (2.0 * target.test_y - 1.0)[:, None] * (centre[..., None] + spread[..., None] * target.nodes)
    terms = -np.logaddexp(0.0, -signed) + target.log_weights
    top = terms.max(axis=-1, keepdims=True)
    return -(top + np.log(np.exp(terms - top).sum(axis=-1, keepdims=True)))[..., 0]


def test_logistic_test_log_loss_sums_densities_to_a_few_ulps_of_the_log_sum_exp():
    """Σₖ wₖ σ(uₖ) then one log per row, instead of a log-sum-exp of log σ per node: the same numbers
    to a few ulps from states near the optimum to states whose predictive underflows (those rows
    fall back to the log-sum-exp, exactly)."""
    target = make_target({"name": "logistic_vi"})
    rng = np.random.default_rng(5)
    scales = np.array([0.01, 0.3, 1.0, 3.0, 10.0, 100.0, 1e3, 1e5])
    mean = rng.normal(size=(scales.size, target.dim)) * scales[:, None]
    a = rng.normal(size=(scales.size, target.dim, target.dim)) * 0.1
    spreads = np.array([1e-6, 0.01, 0.1, 1.0, 10.0, 100.0, 1e4, 1e-3])
    cov = a @ np.swapaxes(a, 1, 2) + spreads[:, None, None] * np.eye(target.dim)
    per_row = log_sum_exp_test_log_loss(target, mean, cov)
    # The last two states put some test rows' predictive far below 1e-250: the fallback is exercised.
    assert (per_row[-2:] > -np.log(1e-250)).any()
    expected = per_row.mean(axis=1)
    found = target.test_log_loss(join(mean, cov))
    np.testing.assert_allclose(found, expected, rtol=1e-15, atol=0)
    # A batch of one run gives its own value, as in the batch.
    one = target.test_log_loss(join(mean[3:4], cov[3:4]))
    np.testing.assert_allclose(one, per_row[3:4].mean(axis=1), rtol=1e-15, atol=0)


def test_likelihoods_without_density_keep_the_log_sum_exp():
    """glm_poisson has no `density`: its held-out metric is the log-sum-exp, bit for bit."""
    from ngbench.targets.glm_vi import log_expectation
    from ngbench.targets.likelihoods import PoissonLog

    target = make_target(
        {
            "name": "glm_vi",
            "likelihood": "poisson_log",
            "data": {"csv": "src/ngbench/data/randhie_400.csv", "response": "mdvis"},
            "quadrature_nodes": 40,
        }
    )
    assert PoissonLog().density(np.zeros((2, 3)), np.zeros((2, 1))) is None
    rng = np.random.default_rng(6)
    mean = rng.normal(size=(3, target.dim)) * 0.3
    cov = np.array([0.01, 0.1, 1.0])[:, None, None] * np.eye(target.dim)
    centre, spread = target._projections(target.test_x, mean, cov)
    points = centre[..., None] + spread[..., None] * target.nodes
    log_density = -target.likelihood.negative_log_density(points, target.test_y[:, None])
    expected = -log_expectation(log_density, target.log_weights).mean(axis=1)
    np.testing.assert_array_equal(target.test_log_loss(join(mean, cov)), expected)


def test_rows_with_a_sampled_gradient_compute_the_quadrature_loss_alone():
    """With `{mc: S}` or `delta` the loss skips the quadrature's E[φ′] and E[φ″] (the gradient does not
    use them): the same loss, bit for bit, and the gradient still finds them on demand."""
    quadrature, sampled = make_target({"name": "logistic_vi"}), make_target({"name": "logistic_vi"})
    sampled.set_gradient({"mc": 4})
    rng = np.random.default_rng(7)
    mean = rng.normal(size=(3, quadrature.dim)) * 0.5
    cov = np.array([0.001, 0.1, 2.0])[:, None, None] * np.eye(quadrature.dim)
    canonical = join(mean, cov)
    np.testing.assert_array_equal(sampled.loss(canonical), quadrature.loss(canonical))
    assert sampled._memo[2][3] is None and sampled._memo[2][4] is None
    np.testing.assert_array_equal(sampled.grad(canonical), quadrature.grad(canonical))
    centre, spread = quadrature._projections(quadrature.train_x, mean, cov)
    rule = (quadrature.train_y, quadrature.rule)
    data_only = quadrature.likelihood.quadrature(centre, spread, *rule, slopes=False)
    np.testing.assert_array_equal(data_only[0], quadrature.likelihood.quadrature(centre, spread, *rule)[0])
    assert data_only[1:] == (None, None)


def test_logistic_sample_means_share_one_exp_between_both_sigmoids():
    from ngbench.targets.likelihoods import BernoulliLogit, sigmoid

    a = np.random.default_rng(8).normal(size=(3, 5, 40)) * np.array([0.1, 5.0, 800.0])[:, None, None]
    a[0, 0, :3] = [0.0, -0.0, -800.0]
    y = (np.arange(40) % 2).astype(float)
    slopes, curvature = BernoulliLogit().sample_means(a, y)
    np.testing.assert_array_equal(slopes, sigmoid(a).mean(axis=1) - y)
    np.testing.assert_array_equal(curvature, (sigmoid(a) * sigmoid(-a)).mean(axis=1))


@pytest.mark.parametrize("exact", [True, False])
def test_quadrature_points_are_the_broadcast_sum_bit_for_bit(monkeypatch, exact):
    """c + s·z as a BLAS product [s c]·[z; 1] where BLAS gives its roundings, else broadcast: the same."""
    from ngbench.targets import likelihoods

    monkeypatch.setattr(likelihoods, "_PRODUCT_IS_EXACT", {} if exact else {(455, 100): False})
    nodes = make_target({"name": "logistic_vi"}).nodes
    rng = np.random.default_rng(9)
    centre = rng.normal(size=455) * np.geomspace(1e-3, 1e3, 455)
    spread = rng.uniform(0.0, 1.0, 455) * np.geomspace(1e-8, 50.0, 455)
    spread[:3] = 0.0
    out = np.empty((455, 100))
    points = likelihoods.quadrature_points(centre, spread, nodes, out=out)
    assert points is out
    np.testing.assert_array_equal(points, centre[:, None] + spread[:, None] * nodes)
    # The check is made once per shape (OpenBLAS here passes it; another BLAS may not, and then
    # gets the broadcast form).
    assert (455, 100) in likelihoods._PRODUCT_IS_EXACT


@pytest.mark.parametrize("dim", [3, 40, 100])
def test_the_sum_with_the_transpose_is_the_symmetric_part_of_twice_the_product_bit_for_bit(dim):
    """symmetric(2.0 * A @ B @ A), the former step formula, against M + Mᵀ of M = A @ B @ A; and
    −symmetric(M) against (M + Mᵀ)·(−½)."""
    rng = np.random.default_rng(dim)
    a, b = spd_batch(rng, 5, dim), rng.normal(size=(5, dim, dim))
    product = a @ b @ a
    block = np.empty_like(product)
    np.testing.assert_array_equal(sum_with_transpose_into(product, block), symmetric(2.0 * a @ b @ a))
    np.testing.assert_array_equal(sum_with_transpose_into(product, block, -0.5), -symmetric(product))


def test_adams_moments_are_the_plain_expressions_bit_for_bit():
    """`adam_moments` computes in place; the textbook expressions, step by step, give the same bits
    (signed zeros, infinities and NaN included), and the memory's former arrays are left as they were."""
    from ngbench import portable
    from ngbench.methods import adam_moments

    settings = {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
    rng = np.random.default_rng(5)
    directions = [rng.normal(size=(3, 40)) * 10.0 ** rng.integers(-5, 5, size=(3, 40)) for _ in range(4)]
    directions[1][0, :6] = [-0.0, 0.0, np.inf, -np.inf, np.nan, 1e-310]
    memory, first, second = {}, np.zeros((3, 40)), np.zeros((3, 40))
    with np.errstate(all="ignore"):
        for t, direction in enumerate(directions):
            kept = dict(memory)
            kept_copies = {name: value.copy() for name, value in kept.items()}
            step = adam_moments(direction, memory, settings, t)
            first = 0.9 * first + (1.0 - 0.9) * direction
            second = 0.999 * second + (1.0 - 0.999) * direction**2
            first_hat = first / (1.0 - portable.integer_power(0.9, t + 1))
            second_hat = second / (1.0 - portable.integer_power(0.999, t + 1))
            plain = first_hat / (np.sqrt(second_hat) + 1e-8)
            np.testing.assert_array_equal(step, plain)
            np.testing.assert_array_equal(np.signbit(step), np.signbit(plain))
            np.testing.assert_array_equal(memory["adam_first"], first)
            np.testing.assert_array_equal(memory["adam_second"], second)
            for name, value in kept.items():
                np.testing.assert_array_equal(value, kept_copies[name])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_step_scope_keeps_freed_memory_so_new_arrays_do_not_fault_every_page():
    """Within a runner's scope, freed 2 MiB arrays serve the next ones. Three live at once and freed
    together, as a step's temporaries are, make glibc's default give the heap's top back each time:
    30 such rounds then fault ~48,000 pages (measured), 0 with the memory kept."""
    import resource

    from ngbench.memo import retain_freed_memory

    def one_round():
        first, second = np.ones((28, 100, 100)), np.ones((28, 100, 100))
        first + second

    with STEP.scope():
        if not retain_freed_memory():
            pytest.skip("not glibc")
        one_round()  # the heap grows once
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(30):
            one_round()
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 30 * 3 * 512 // 10


def test_rule_groups_are_a_stable_sort_by_rule():
    """`GaussHermiteRule.groups` (a few comparisons) gives the order of the stable argsort of each
    projection's rule by `searchsorted` it replaced: limits themselves, NaN and ∞ included."""
    rule = make_target({"name": "logistic_vi"})._narrow_rule
    rng = np.random.default_rng(3)
    spread = rng.uniform(0.0, 1.5, 5000)
    spread[rng.integers(0, 5000, 40)] = rng.choice(rule.limits, 40)  # exactly on a limit
    spread[:3] = np.nan, np.inf, 0.0
    groups = rule.groups(spread)
    tier = np.searchsorted(rule.limits, spread, side="left")
    np.testing.assert_array_equal(np.concatenate(groups), np.argsort(tier, kind="stable"))
    assert [group.size for group in groups] == np.bincount(tier, minlength=len(rule.rules)).tolist()
    assert all((tier[group] == index).all() for index, group in enumerate(groups))
    # Without narrow rules one group holds everything.
    declared = make_target({"name": "logistic_vi"})._declared_rule
    np.testing.assert_array_equal(declared.groups(spread)[0], np.arange(spread.size))


def _logistic_states(target, rng, batch=6):
    mean = rng.normal(size=(batch, target.dim)) * np.geomspace(0.05, 3.0, batch)[:, None]
    factor = rng.normal(size=(batch, target.dim, target.dim))
    scales = np.geomspace(1e-4, 0.3, batch)[:, None, None]
    return mean, factor @ np.swapaxes(factor, 1, 2) / target.dim * scales


@pytest.mark.parametrize("narrow", [True, False])
def test_fused_squared_slopes_are_the_separate_pass_bit_for_bit(narrow):
    """E[(σ(a) − y)²] from the loss's own pass equals the pass of `sigmoid(a) − y` it replaces (σ's
    a < 0 branch is small/(1 + small) there, not small·(1/(1 + small)) as in E[σ]), and the other
    expectations are those of the pass without it."""
    target = make_target({"name": "logistic_vi"})
    target.narrow_quadrature = narrow
    mean, cov = _logistic_states(target, np.random.default_rng(5))
    centre, spread = target._projections(target.train_x, mean, cov)
    y, likelihood = target.train_y, target.likelihood
    assert likelihood.fuses_squared_slopes
    fused = likelihood.quadrature(centre, spread, y, target.rule, squared_slopes=True)
    plain = likelihood.quadrature(centre, spread, y, target.rule)
    for got, expected in zip(fused[:3], plain, strict=True):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(fused[3], target._expected_squared_slopes(centre, spread))
    # Not vacuous: the product form of σ for a < 0 differs in some last bits over these points.
    a = centre[..., None] + spread[..., None] * target.nodes
    small = np.exp(-np.abs(a))
    negative = a < 0
    assert (small[negative] / (1 + small[negative]) != small[negative] * (1 / (1 + small[negative]))).any()


@pytest.mark.parametrize("chart", ["natural", "diagonal_natural"])
def test_ef_runs_are_the_same_with_the_fused_pass_and_it_is_off_for_other_methods(chart):
    """`ef` through the runner: iterates bit for bit whether its E[φ′²] comes fused from the loss's pass
    or from a pass of its own; the fusion switches on during `ef` and off once another method runs."""
    target = make_target({"name": "logistic_vi"})
    target = target.with_reference(target.reference_solution())
    chart_object = target.chart(chart)
    seeds = np.arange(3)
    init = {"mean": {"uniform": [-0.5, 0.5]}, "var": 0.05}
    start = target.initial_states_for(chart_object, init, tuple(seeds.tolist()))
    lr = np.array([0.1, 0.5, 1.0])

    def run(method):
        return run_batch(target, chart_object, METHODS[method], start, lr, 8, 0.0, seeds=seeds)

    fused = run("ef")
    assert target.fuse_squared_slopes
    separate_calls = []
    original = target._expected_squared_slopes
    target._expected_squared_slopes = lambda *args: separate_calls.append(1) or original(*args)
    target.fuse_squared_slopes, target._memo = False, None
    alone = run("ef")  # the first step takes a pass of its own, the later ones the fused
    assert len(separate_calls) == 1
    target.likelihood.fuses_squared_slopes = False  # as a likelihood without the fused pass
    separate = run("ef")  # every step a pass of its own
    assert len(separate_calls) == 1 + 8
    del target.likelihood.fuses_squared_slopes
    for result in (alone, separate):
        np.testing.assert_array_equal(result.loss, fused.loss)
        np.testing.assert_array_equal(result.states, fused.states)
    target.fuse_squared_slopes = True
    run("gd")
    assert not target.fuse_squared_slopes


def test_ef_of_a_likelihood_without_the_fused_pass_takes_a_pass_of_its_own():
    """A likelihood that does not fuse E[φ′²] (probit here, as any plugin) still gets `ef`: the target
    asks it for the three expectations only and takes E[φ′²] in its own pass."""
    from ngbench.targets.glm_vi import GLMVI
    from ngbench.targets.likelihoods import BernoulliProbit

    rng = np.random.default_rng(8)
    features = rng.normal(size=(60, 3))
    labels = (rng.uniform(size=60) < 0.5).astype(float)
    target = GLMVI(features, labels, BernoulliProbit(), quadrature_nodes=20)
    assert not target.likelihood.fuses_squared_slopes
    mean, cov = _logistic_states(target, rng, batch=3)
    target.fuse_squared_slopes = True
    centre, spread, *_ = target._train_expectations(mean, cov)
    assert target._memo_squared_slopes is None
    expected = target._expected_squared_slopes(centre, spread)
    points = centre[..., None] + spread[..., None] * target.nodes
    slope = target.likelihood.first(points, target.train_y[:, None])
    np.testing.assert_allclose(expected, slope**2 @ target.weights, rtol=1e-13)
