"""The quadratic target against the closed forms of docs/maths.md §2.5."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ngbench.experiments import ConfigError, parse_config
from ngbench.solve import solve_cell
from ngbench.stats import iteration_counts
from ngbench.targets import make_target
from ngbench.targets.quadratic import rotated_matrix

TOLERANCES = [1.0e-2, 1.0e-4, 1.0e-6, 1.0e-8]


def quadratic_cell(target, start, method, learning_rates, parameterization="identity", steps=300, seeds=(0,)):
    return {
        "experiment": "quadratic_test",
        "target": target,
        "init": {f"theta_{i}": float(x) for i, x in enumerate(start)},
        "parameterization": parameterization,
        "method": method,
        "learning_rates": list(learning_rates),
        "seeds": list(seeds),
        "steps": steps,
        "divergence_factor": 1e8,
        "tolerances": TOLERANCES,
    }


def random_spd(rng, dim, condition):
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    return rotation @ np.diag(np.geomspace(1.0, condition, dim)) @ rotation.T


def path(result, run=0):
    keep = result.recorded[:, run]
    return result.states[keep, run]


CASES = [  # (matrix, optimum, start, lr): rows not in the config, rotated and ill-conditioned
    (rotated_matrix([1.0, 10.0], 30.0), [1.0, 0.5], [-3.0, 3.0], 0.1),
    (rotated_matrix([0.5, 4.0], -65.0), [-2.0, 1.0], [3.0, 2.5], 0.3),
    (random_spd(np.random.default_rng(3), 2, 50.0), [0.3, -0.7], [2.0, -4.0], 0.035),
]


@pytest.mark.parametrize("matrix,optimum,start,lr", CASES)
def test_gd_iterates_are_powers_of_i_minus_lr_a(matrix, optimum, start, lr):
    target = {"name": "quadratic", "matrix": matrix.tolist(), "optimum": optimum}
    result = solve_cell(quadratic_cell(target, start, "gd", [lr], steps=60)).result
    error0 = np.asarray(start) - optimum
    step = np.eye(2) - lr * matrix
    expected = np.array([np.linalg.matrix_power(step, t) @ error0 for t in range(61)]) + optimum
    np.testing.assert_allclose(path(result), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("matrix,optimum,start,lr", CASES)
@pytest.mark.parametrize("parameterization", ["identity", "linear"])
def test_ngd_iterates_contract_straight_to_the_optimum(matrix, optimum, start, lr, parameterization):
    """e_t = (1−ρ)ᵗe₀ in every affine chart: the path is a straight line (exact invariance)."""
    target = {
        "name": "quadratic",
        "matrix": matrix.tolist(),
        "optimum": optimum,
        "linear_map": [[2.0, 0.3], [-1.0, 0.7]],
    }
    result = solve_cell(quadratic_cell(target, start, "ngd", [lr], parameterization, steps=60)).result
    error0 = np.asarray(start) - optimum
    expected = optimum + (1 - lr) ** np.arange(61)[:, None] * error0
    np.testing.assert_allclose(path(result), expected, rtol=1e-9, atol=1e-12)


def test_gd_depends_on_the_linear_chart():
    matrix = rotated_matrix([1.0, 10.0], 30.0)
    bmap = np.array([[2.0, 0.3], [-1.0, 0.7]])
    target = {
        "name": "quadratic",
        "matrix": matrix.tolist(),
        "optimum": [0.0, 0.0],
        "linear_map": bmap.tolist(),
    }
    lr = 0.01
    result = solve_cell(quadratic_cell(target, [1.0, 2.0], "gd", [lr], "linear", steps=30)).result
    # In φ the loss is ½φᵀ(BᵀAB)φ: GD there is (I − ρBᵀAB)ᵗ on φ, mapped back by B.
    pulled = bmap.T @ matrix @ bmap
    phi0 = np.linalg.solve(bmap, [1.0, 2.0])
    expected = np.array([bmap @ np.linalg.matrix_power(np.eye(2) - lr * pulled, t) @ phi0 for t in range(31)])
    np.testing.assert_allclose(path(result), expected, rtol=1e-10)
    identity = solve_cell(quadratic_cell(target, [1.0, 2.0], "gd", [lr], "identity", steps=30)).result
    assert np.abs(path(identity)[-1] - path(result)[-1]).max() > 1e-2


def gd_iterations_1d(curvature, start, lr, tol):
    """First t with ½λ(1−ρλ)^{2t}e₀² ≤ tol: t = ⌈ln(ε/|e₀|)/ln|1−ρλ|⌉ with ε = √(2 tol/λ)."""
    epsilon = math.sqrt(2 * tol / curvature)
    if abs(start) <= epsilon:
        return 0
    return math.ceil(math.log(epsilon / abs(start)) / math.log(abs(1 - lr * curvature)))


@pytest.mark.parametrize(
    "curvature,start,lr", [(3.0, 2.0, 0.1), (0.7, -5.0, 0.9), (12.0, 1.3, 0.13), (2.0, 4.0, 0.95)]
)
def test_iteration_counts_in_the_table_equal_the_1d_closed_form(curvature, start, lr):
    target = {"name": "quadratic", "matrix": [[curvature]], "optimum": [0.0]}
    summaries = solve_cell(quadratic_cell(target, [start], "gd", [lr], steps=2000)).summaries.to_pandas()
    stats = iteration_counts(summaries)
    for _, row in stats.iterrows():
        assert row["median_iters"] == gd_iterations_1d(curvature, start, lr, row["tolerance"])
        assert row["art"] == row["median_iters"]  # one run, one success


@pytest.mark.parametrize("axis", [0, 1])
def test_iteration_counts_per_eigen_coordinate(axis):
    """A start on one eigen-axis of a diagonal A moves along that axis alone: its 1-D count is exact."""
    eigenvalues = [1.5, 8.0]
    start = [0.0, 0.0]
    start[axis] = 3.0
    target = {"name": "quadratic", "eigenvalues": eigenvalues, "optimum": [0.0, 0.0]}
    lr = 0.11
    summaries = solve_cell(quadratic_cell(target, start, "gd", [lr], steps=3000)).summaries.to_pandas()
    for _, row in iteration_counts(summaries).iterrows():
        assert row["median_iters"] == gd_iterations_1d(eigenvalues[axis], 3.0, lr, row["tolerance"])


@pytest.mark.parametrize("lr", [0.1, 0.5, 1.3, 1.9])
def test_ngd_iteration_counts_equal_the_closed_form(lr):
    """gap_t = (1−ρ)^{2t} gap₀ exactly, whatever A: t = ⌈ln(tol/gap₀)/(2 ln|1−ρ|)⌉."""
    matrix = random_spd(np.random.default_rng(11), 2, 200.0)
    target_spec = {"name": "quadratic", "matrix": matrix.tolist(), "optimum": [1.0, -1.0]}
    start = [4.0, 3.0]
    gap0 = make_target(target_spec).loss(np.array([start]))[0]
    summaries = solve_cell(quadratic_cell(target_spec, start, "ngd", [lr], steps=500)).summaries.to_pandas()
    for _, row in iteration_counts(summaries).iterrows():
        expected = math.ceil(math.log(row["tolerance"] / gap0) / (2 * math.log(abs(1 - lr))))
        assert row["median_iters"] == expected


def test_ngd_with_unit_lr_is_newton_one_step():
    target = {
        "name": "quadratic",
        "matrix": random_spd(np.random.default_rng(5), 2, 1e3).tolist(),
        "optimum": [0.25, -3.0],
    }
    result = solve_cell(quadratic_cell(target, [10.0, 7.0], "ngd", [1.0], steps=3)).result
    np.testing.assert_allclose(path(result)[1], [0.25, -3.0], rtol=1e-9)


def test_gd_beyond_two_over_lambda_max_diverges_without_crashing():
    target = {"name": "quadratic", "eigenvalues": [1.0, 10.0], "angle_degrees": 30.0, "optimum": [0.0, 0.0]}
    cell = quadratic_cell(target, [1.0, 1.0], "gd", [0.19, 0.21, 0.5], steps=5000)
    result = solve_cell(cell).result
    assert list(result.status) == ["converged", "diverged", "diverged"]
    # 0.21: the stiff mode grows like |1 − 2.1|ᵗ = 1.1ᵗ until the gap passes 1e8·gap₀.
    assert result.stop_iter[1] < 500 and result.stop_iter[2] < result.stop_iter[1]


def test_rotated_matrix_has_the_requested_spectrum_and_axes():
    matrix = rotated_matrix([2.0, 9.0], 40.0)
    values, vectors = np.linalg.eigh(matrix)
    np.testing.assert_allclose(values, [2.0, 9.0], rtol=1e-12)
    angle = np.degrees(np.arctan2(vectors[1, 0], vectors[0, 0])) % 180
    assert angle == pytest.approx(40.0)


@pytest.mark.parametrize(
    "target,message",
    [
        (
            {"name": "quadratic", "matrix": [[1.0, 2.0], [2.0, 1.0]], "optimum": [0.0, 0.0]},
            "positive definite",
        ),
        ({"name": "quadratic", "matrix": [[1.0, 0.5], [0.0, 1.0]], "optimum": [0.0, 0.0]}, "symmetric"),
        ({"name": "quadratic", "matrix": [[1.0, 0.0], [0.0, 1.0]], "optimum": [0.0]}, "entries"),
        (
            {
                "name": "quadratic",
                "eigenvalues": [1.0, 2.0, 3.0],
                "angle_degrees": 10.0,
                "optimum": [0.0, 0.0, 0.0],
            },
            "2-D",
        ),
        (
            {
                "name": "quadratic",
                "eigenvalues": [1.0, 2.0],
                "optimum": [0.0, 0.0],
                "linear_map": [[1.0, 2.0], [2.0, 4.0]],
            },
            "invertible",
        ),
    ],
)
def test_bad_quadratic_targets_name_the_target_field(target, message):
    config = {
        "tolerances": TOLERANCES,
        "experiments": {
            "q": {
                "target": target,
                "init": {f"theta_{i}": 1.0 for i in range(len(target["optimum"]))},
                "parameterizations": ["identity"],
                "methods": ["gd"],
                "learning_rates": [0.1],
                "seeds": [0],
                "steps": 10,
            }
        },
    }
    # Each names the target's own field at fault, not just the target.
    field = {
        "positive definite": "matrix",
        "symmetric": "matrix",
        "entries": "optimum",
        "2-D": "angle_degrees",
        "invertible": "linear_map",
    }[message]
    with pytest.raises(ConfigError, match=rf"experiments\.q\.target\.{field}: .*{message}"):
        parse_config(config)


def test_linear_chart_needs_its_matrix():
    config = {
        "tolerances": TOLERANCES,
        "experiments": {
            "q": {
                "target": {"name": "quadratic", "eigenvalues": [1.0, 2.0], "optimum": [0.0, 0.0]},
                "init": {"theta_0": 1.0, "theta_1": 1.0},
                "parameterizations": ["linear"],
                "methods": ["gd"],
                "learning_rates": [0.1],
                "seeds": [0],
                "steps": 10,
            }
        },
    }
    with pytest.raises(ConfigError, match=r"experiments\.q\.parameterizations\.0: 'linear' is not available"):
        parse_config(config)


def test_invariance_audit_slopes():
    """One step in every chart: NGD agrees to rounding on affine charts and to O(ρ²) on the Gaussian
    charts; GD differs at first order."""
    from ngbench.audit import one_step_spread
    from ngbench.targets.gaussian_1d import CHARTS

    quadratic = make_target(
        {
            "name": "quadratic",
            "eigenvalues": [1.0, 10.0],
            "optimum": [0.0, 0.0],
            "linear_map": [[2.0, 0.3], [-1.0, 0.7]],
        }
    )
    audit = one_step_spread(
        quadratic, np.array([1.0, -2.0]), ["identity", "linear"], ["gd", "ngd"], [0.01, 0.02]
    )
    assert (audit.loc[audit["method"] == "ngd", "spread"] < 1e-12).all()
    assert (audit.loc[audit["method"] == "gd", "spread"] > 1e-3).all()
    gaussian = make_target({"name": "gaussian_1d", "mean": 3.0, "var": 1.0})
    audit = one_step_spread(gaussian, np.array([-2.0, np.e]), sorted(CHARTS), ["gd", "ngd"], [1e-5, 2e-5])
    spread = audit.pivot(index="lr", columns="method", values="spread")
    assert spread.loc[2e-5, "ngd"] / spread.loc[1e-5, "ngd"] == pytest.approx(4.0, rel=0.05)
    assert spread.loc[2e-5, "gd"] / spread.loc[1e-5, "gd"] == pytest.approx(2.0, rel=0.05)


def test_condition_number_is_eigenvalues_one_and_kappa():
    spec = {"name": "quadratic", "condition_number": 50.0, "angle_degrees": 25.0, "optimum": [0.0, 0.0]}
    matrix = make_target(spec).matrix
    np.testing.assert_allclose(np.linalg.eigvalsh(matrix), [1.0, 50.0], rtol=1e-12)
    np.testing.assert_array_equal(matrix, rotated_matrix([1.0, 50.0], 25.0))


@pytest.mark.parametrize("kappa", [1.0, 3.0, 40.0, 700.0])
def test_gd_at_its_best_step_takes_the_theory_count_from_every_start(kappa):
    """ngbench.theory's closed form ⌈ln(τ/gap₀)/(2 ln r)⌉, r = (κ−1)/(κ+1), against GD run at
    ρ* = 2/(1+κ) from a row's random starts, run by run and tolerance by tolerance."""
    from ngbench.theory import gd_best_step_on_quadratic

    target = {"name": "quadratic", "condition_number": kappa, "angle_degrees": 35.0, "optimum": [0.5, -1.0]}
    init = {"theta_0": {"uniform": [-5.0, 5.0]}, "theta_1": {"uniform": [-5.0, 5.0]}}
    seeds = (0, 1, 2, 3, 4)
    cell = quadratic_cell(target, [0.0, 0.0], "gd", [2.0 / (1.0 + kappa)], steps=40000, seeds=seeds)
    cell["init"] = init
    summaries = solve_cell(cell).summaries.to_pandas()
    for tolerance in TOLERANCES:
        at = summaries[np.isclose(summaries["tolerance"], tolerance)].sort_values("seed")
        expected = gd_best_step_on_quadratic(target, init, seeds, tolerance)
        np.testing.assert_array_equal(at["hit_iter"].to_numpy(dtype=float), expected)
    if kappa > 1:  # Θ(κ log 1/ε): the count grows with κ at a fixed start
        wider = gd_best_step_on_quadratic({**target, "condition_number": 10 * kappa}, init, seeds, 1e-6)
        assert (wider > expected).all()


def test_invariance_slopes_tabulate_the_audit():
    """The audit's table (the ledger's Martens 2020 entry): NGD's spread between the six Gaussian
    charts grows with slope 2 in ρ, GD's with slope 1; on a quadratic's affine charts NGD is exactly
    invariant, every spread is rounding, and there is no slope to report."""
    from ngbench.audit import AUDIT_LEARNING_RATES, one_step_spread, spread_slopes
    from ngbench.targets.gaussian_1d import CHARTS

    gaussian = make_target({"name": "gaussian_1d", "mean": 3.0, "var": 1.0})
    start = np.array([-2.0, np.e])
    audit = one_step_spread(gaussian, start, sorted(CHARTS), ["gd", "ngd"], AUDIT_LEARNING_RATES)
    fitted = spread_slopes(audit, start, "g", len(CHARTS)).set_index("method")
    assert fitted.loc["ngd", "slope"] == pytest.approx(2.0, abs=0.02)
    # GD's steps in the natural and expectation charts are large: its first-order regime ends near
    # ρ = 1e-4 here, and the fit over ρ ≤ 1e-2 bends below 1 — nowhere near NGD's 2.
    assert fitted.loc["gd", "slope"] < 1.2
    gd = audit[audit["method"] == "gd"].set_index("lr")["spread"]
    assert gd[AUDIT_LEARNING_RATES[4]] / gd[AUDIT_LEARNING_RATES[0]] == pytest.approx(10.0, rel=0.05)
    assert fitted.loc["ngd", "slope_low"] <= fitted.loc["ngd", "slope"] <= fitted.loc["ngd", "slope_high"]
    # An independent look at the same numbers: the spread ratio over one decade of ρ is 10^slope.
    ngd = audit[audit["method"] == "ngd"].set_index("lr")["spread"]
    small = [lr for lr in AUDIT_LEARNING_RATES if lr <= 1e-3]
    assert ngd[small[-1]] / ngd[small[-5]] == pytest.approx(100.0, rel=0.05)
    quadratic = make_target(
        {
            "name": "quadratic",
            "eigenvalues": [1.0, 10.0],
            "optimum": [0.0, 0.0],
            "linear_map": [[2.0, 0.3], [-1.0, 0.7]],
        }
    )
    start = np.array([1.0, -2.0])
    audit = one_step_spread(quadratic, start, ["identity", "linear"], ["gd", "ngd"], AUDIT_LEARNING_RATES)
    fitted = spread_slopes(audit, start, "q", 2).set_index("method")
    assert fitted.loc["ngd", "points"] == 0 and np.isnan(fitted.loc["ngd", "slope"])
    # In the table those rounding-level spreads are marked and missing (their digits are the CPU's).
    from ngbench.audit import spread_table

    table = spread_table(audit, start, "q")
    ngd = table[table["method"] == "ngd"]
    assert ngd["at_rounding_level"].all() and ngd["spread"].isna().all()
    assert not table.loc[table["method"] == "gd", "at_rounding_level"].any()
    assert fitted.loc["gd", "slope"] == pytest.approx(1.0, abs=0.01)
