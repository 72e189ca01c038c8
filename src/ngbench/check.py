"""Conformance checker: is a target's maths right? The suite every built-in target passes.

    python -m ngbench.check models/my_model.py:MyModel --spec '{"scale": 2.0}' --init '{"a": 1.0}'
    python -m ngbench.check quadratic --spec '{"eigenvalues": [1, 10], "optimum": [0, 0]}' --init '{...}'

At the starts `init` draws (as a config row's `init`, seeds 0, 1, 2), for every chart × offered
curvature × method of the target:

* `gradient`: ∇ℒ against central differences of ℒ along directions in the target's tangent space
  (every coordinate axis, or random directions beyond 12 coordinates), in canonical coordinates and
  pulled back to every chart (Jᵀ∇ℒ against differences of ℒ∘c);
* `round_trip`: c(θ(c)) = c and θ(c(θ)) = θ on every chart, each point in its domain;
* each offered curvature (`supported`): symmetric; positive semi-definite where it is a Fisher (all
  but the Hessian); the Hessian against differences of the gradient; the Fisher against Monte Carlo
  of the score's outer product, E[s sᵀ] with s = ∇_c log p(x | c) by differences of the target's
  `model_log_density` at draws of its `sample_model` (the distribution whose Fisher it is); the
  empirical Fisher against meanₙ sₙsₙᵀ by differences of its per-datum `datum_losses`;
* `closed_form`: a chart's own `natural_gradient` against the generic JᵀFJ solve, or, where the
  target forms no Fisher matrix (the Gaussian family), against Monte Carlo of wᵀF_θn = wᵀ∇_θℒ;
* `run`: a few steps of every method on every chart at a small learning rate, without a run `failed`.

Each check prints one verdict line with the largest error found and its tolerance; the exit status
is 1 if any failed. A check the target gives no means for (no sampler, a Fisher offered only as a
closed-form direction) prints `skip` and why. `start_problems` is the cheap part the config check
runs for plugin rows before any job.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

import numpy as np

from ngbench.charts import Chart
from ngbench.methods import REGISTRY, unavailability
from ngbench.targets import SpecError, Target, make_target

NOT_PSD = {"hessian"}  # indefinite away from a minimum; every Fisher is an expectation of s sᵀ

GRADIENT_TOLERANCE = 1e-6  # relative to Σᵢ|gᵢvᵢ|: a five-point stencil reaches ~1e-9
SYMMETRY_TOLERANCE = 1e-10
PSD_TOLERANCE = 1e-10  # the smallest eigenvalue may lie this far below 0, relative to the largest
ROUND_TRIP_TOLERANCE = 1e-9
CLOSED_FORM_TOLERANCE = 1e-8
MONTE_CARLO_Z = 6.0  # standard errors: the largest of ~k² entries × 3 points is about 3.5 by chance
MONTE_CARLO_DRAWS = 20_000
MAX_AXES = 12
RANDOM_DIRECTIONS = 8
CHECK_SEEDS = (0, 1, 2)


def supported(target: Target) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(methods, curvatures) the target offers: the registered methods whose preconditioner it declares
    in `curvatures` (and whose other needs, such as exact gradients, it meets), and those curvatures
    apart from `none`. The one place the checker reads a target's declaration."""
    methods = tuple(name for name, method in REGISTRY.items() if unavailability(method, target, {}) is None)
    curvatures = tuple(c for c in target.curvatures if c != "none")
    return methods, curvatures


@dataclass(frozen=True)
class Verdict:
    check: str
    where: str  # chart or curvature
    passed: bool | None  # None: skipped
    error: float = float("nan")
    tolerance: float = float("nan")
    note: str = ""

    def line(self) -> str:
        word = {True: "pass", False: "FAIL", None: "skip"}[self.passed]
        if self.passed is None:
            numbers = ""
        elif self.check == "run":
            numbers = f"  failed runs {self.error:g}  tolerance {self.tolerance:g}"
        else:
            numbers = f"  max error {self.error:.3g}  tolerance {self.tolerance:.3g}"
        note = f"  ({self.note})" if self.note else ""
        return f"{word:4}  {self.check:12} {self.where:28}{numbers}{note}"


def _judge(check, where, error, tolerance, note="") -> Verdict:
    error = float(error)
    return Verdict(check, where, bool(error <= tolerance), error, tolerance, note)


# --- directions and differences -------------------------------------------------------------------


def tangent(target: Target, canonical: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Directions (B, k) moved into the target's tangent space (a symmetric matrix block stays symmetric)."""
    project = getattr(target, "tangent", None)
    return directions if project is None else project(canonical, directions)


def _directions(size: int, count_rng: np.random.Generator) -> np.ndarray:
    """Unit directions (m, k): every axis for a few coordinates, random ones beyond."""
    if size <= MAX_AXES:
        return np.eye(size)
    raw = count_rng.standard_normal((RANDOM_DIRECTIONS, size))
    return raw / np.linalg.norm(raw, axis=1, keepdims=True)


def _scaled(points: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Directions (B, m, k) scaled coordinate-wise to the points' size, so a step stays in the domain."""
    scale = np.maximum(np.abs(points), 1e-2)
    return directions[None, :, :] * scale[:, None, :]


def _five_point(function, points: np.ndarray, directions: np.ndarray, step: float = 1e-3) -> np.ndarray:
    """d/dt function(points + t·v) at t = 0: (B, m, ...) from points (B, k) and directions v (B, m, k)."""
    batch, count, size = directions.shape
    base = np.repeat(points, count, axis=0)
    flat = directions.reshape(batch * count, size)

    def at(k):
        return np.asarray(function(base + k * step * flat))

    derivative = (-at(2) + 8.0 * at(1) - 8.0 * at(-1) + at(-2)) / (12.0 * step)
    return derivative.reshape(batch, count, *derivative.shape[1:])


def _noise_floor(target: Target, points: np.ndarray) -> np.ndarray:
    """Below this, a directional derivative is rounding noise of the differences (~1e-12·|ℒ|/step)."""
    return 1e-6 * (1.0 + np.abs(target.loss(points)))[:, None]


def _relative(error: np.ndarray, scale: np.ndarray, floor: float = 1e-12) -> float:
    return float(np.max(np.abs(error) / np.maximum(scale, floor))) if error.size else 0.0


# --- the checks ------------------------------------------------------------------------------------


def check_gradient(target: Target, points: np.ndarray, rng) -> Verdict:
    directions = tangent_directions(target, points, rng)
    grad = target.grad(points)
    analytic = np.einsum("bk,bmk->bm", grad, directions)
    numeric = _five_point(target.loss, points, directions)
    scale = np.einsum("bk,bmk->bm", np.abs(grad), np.abs(directions)) + _noise_floor(target, points)
    return _judge("gradient", "canonical", _relative(analytic - numeric, scale), GRADIENT_TOLERANCE)


def tangent_directions(target: Target, points: np.ndarray, rng) -> np.ndarray:
    raw = _scaled(points, _directions(points.shape[1], rng))
    batch, count, size = raw.shape
    flat = tangent(target, np.repeat(points, count, axis=0), raw.reshape(batch * count, size))
    return flat.reshape(batch, count, size)


def chart_tangents(target: Target, chart: Chart, points: np.ndarray, rng):
    """Directions in chart coordinates (B, m, p), images of canonical tangents, so they keep whatever
    structure θ has (a triangular factor, a diagonal); and which of them move at all (B, m): a
    canonical direction a chart cannot follow (off the diagonal, for a mean-field chart) maps to 0."""
    canonical_directions = tangent_directions(target, points, rng)
    small = 1e-6
    batch, count, size = canonical_directions.shape
    base = np.repeat(points, count, axis=0)
    flat = canonical_directions.reshape(batch * count, size)
    directions = (chart.from_canonical(base + small * flat) - chart.from_canonical(base - small * flat)) / (
        2 * small
    )
    directions = directions.reshape(batch, count, -1)
    lengths = np.linalg.norm(directions, axis=2)
    return directions, lengths > 1e-9 * lengths.max()


def check_chart(target: Target, name: str, chart: Chart, points: np.ndarray, rng) -> list[Verdict]:
    """Round trip, domain, and the pulled-back gradient Jᵀ∇ℒ against differences of ℒ∘c along tangents."""
    theta = chart.from_canonical(points)
    back = chart.to_canonical(theta)
    again = chart.from_canonical(back)
    canonical = chart.canonical_form(points)  # the points as the chart writes them, e.g. (μ, v)
    scale = np.maximum(np.abs(canonical), 1.0)
    round_trip = max(
        _relative(back - canonical, scale), _relative(again - theta, np.maximum(np.abs(theta), 1.0))
    )
    verdicts = [_judge("round_trip", name, round_trip, ROUND_TRIP_TOLERANCE)]
    if not chart.in_domain(theta).all():
        verdicts.append(
            Verdict("domain", name, False, note="a start's chart coordinates are outside the chart's domain")
        )
    chart_directions, moves = chart_tangents(target, chart, points, rng)
    pulled = chart.pullback_gradient(theta, target.grad(canonical))
    analytic = np.einsum("bk,bmk->bm", pulled, chart_directions)
    numeric = _five_point(lambda t: target.loss(chart.to_canonical(t)), theta, chart_directions, step=1e-4)
    scale = np.einsum("bk,bmk->bm", np.abs(pulled), np.abs(chart_directions)) + _noise_floor(target, points)
    error = _relative((analytic - numeric)[moves], scale[moves])
    verdicts.append(_judge("gradient", name, error, 1e-5, "Jᵀ∇ℒ"))
    return verdicts


def _curvature(target: Target, name: str, points: np.ndarray):
    """The curvature matrices (B, k, k), or None where the target offers it only as a direction."""
    try:
        return np.asarray(getattr(target, name)(points))
    except (NotImplementedError, AttributeError):
        return None


def check_curvature(target: Target, name: str, points: np.ndarray, rng) -> list[Verdict]:
    matrix = _curvature(target, name, points)
    if matrix is None:
        return [Verdict("curvature", name, None, note="offered only as a closed-form direction")]
    largest = np.maximum(np.abs(matrix).max(axis=(1, 2)), 1e-300)[:, None, None]
    verdicts = [
        _judge(
            "symmetric",
            name,
            np.max(np.abs(matrix - np.swapaxes(matrix, 1, 2)) / largest),
            SYMMETRY_TOLERANCE,
        )
    ]
    if name not in NOT_PSD:
        eigenvalues = np.linalg.eigvalsh(0.5 * (matrix + np.swapaxes(matrix, 1, 2)))
        below = np.max(np.maximum(-eigenvalues[:, 0], 0.0) / np.maximum(eigenvalues[:, -1], 1e-300))
        verdicts.append(_judge("psd", name, below, PSD_TOLERANCE, "−λ_min/λ_max"))
    if name == "hessian":
        directions = tangent_directions(target, points, rng)
        analytic = np.einsum("bij,bmj->bmi", matrix, directions)
        numeric = _five_point(target.grad, points, directions)
        scale = np.einsum("bij,bmj->bmi", np.abs(matrix), np.abs(directions)) + 1e-9 * np.abs(matrix).max()
        verdicts.append(
            _judge("against", name, _relative(analytic - numeric, scale), 1e-5, "differences of ∇ℒ")
        )
    elif name == "fisher":
        verdicts.append(check_fisher_monte_carlo(target, matrix, points, rng))
    elif name == "empirical_fisher":
        verdicts.append(check_empirical_fisher(target, matrix, points))
    else:
        verdicts.append(Verdict("against", name, None, note="no independent computation for this curvature"))
    return verdicts


def _scores(values_at, point: np.ndarray) -> np.ndarray:
    """∂/∂c of each entry of `values_at(c)` (c of shape (1, k), values (n,)) at `point`, by central
    differences along every axis: (n, k), the scores of n draws or data."""
    step = 1e-5 * np.maximum(np.abs(point), 1e-2)
    columns = []
    for axis in range(point.size):
        shift = np.zeros(point.size)
        shift[axis] = step[axis]
        up, down = values_at((point + shift)[None, :]), values_at((point - shift)[None, :])
        columns.append((up - down) / (2 * step[axis]))
    return np.stack(columns, axis=1)


def check_empirical_fisher(target: Target, matrix: np.ndarray, points: np.ndarray) -> Verdict:
    """meanₙ ∇ℓₙ∇ℓₙᵀ (+ λI, `damping`) from differences of the target's `datum_losses` (B, N)."""
    datum_losses = getattr(target, "datum_losses", None)
    if datum_losses is None:
        return Verdict("against", "empirical_fisher", None, note="no datum_losses to take the scores of")
    if points.shape[1] > MAX_AXES:
        return Verdict("against", "empirical_fisher", None, note="too many coordinates for differences")
    damping = float(getattr(target, "damping", 0.0))
    worst = 0.0
    for point, offered in zip(points, matrix, strict=True):
        scores = _scores(lambda c: datum_losses(c)[0], point)
        expected = scores.T @ scores / scores.shape[0] + damping * np.eye(point.size)
        worst = max(worst, _relative(offered - expected, np.abs(expected).max()))
    return _judge(
        "against", "empirical_fisher", worst, 1e-6, "meanₙ sₙsₙᵀ, sₙ by differences of datum_losses"
    )


def check_fisher_monte_carlo(target: Target, fisher: np.ndarray, points: np.ndarray, rng) -> Verdict:
    """F against the Monte Carlo mean of s sᵀ, s the score by differences of `model_log_density`."""
    sample = getattr(target, "sample_model", None)
    log_density = getattr(target, "model_log_density", None)
    if sample is None or log_density is None:
        return Verdict(
            "against", "fisher", None, note="no sample_model/model_log_density to draw the score from"
        )
    size = points.shape[1]
    if size > MAX_AXES:
        return Verdict(
            "against", "fisher", None, note=f"{size} coordinates: too many for a Monte Carlo check"
        )
    damping = float(getattr(target, "damping", 0.0))
    worst = 0.0
    for point, matrix in zip(points, fisher, strict=True):
        draws = sample(point[None, :], rng, MONTE_CARLO_DRAWS)  # (1, n, ...)
        scores = _scores(lambda c, draws=draws: log_density(c, draws)[0], point)
        products = scores[:, :, None] * scores[:, None, :]
        estimate = products.mean(axis=0) + damping * np.eye(size)
        standard_error = products.std(axis=0) / np.sqrt(products.shape[0])
        floor = 1e-9 * np.abs(matrix).max()
        worst = max(worst, float(np.max(np.abs(matrix - estimate) / (standard_error + floor))))
    return _judge(
        "against",
        "fisher",
        worst,
        MONTE_CARLO_Z,
        f"Monte Carlo of s sᵀ, {MONTE_CARLO_DRAWS} draws, in standard errors",
    )


def check_closed_form(target: Target, name: str, chart: Chart, points: np.ndarray, rng) -> Verdict:
    """A chart's own natural gradient against the generic JᵀFJ solve, or, where the Fisher is offered
    only through the closed forms, against Monte Carlo of the model's score in chart coordinates."""
    if type(chart).natural_gradient is Chart.natural_gradient:
        return Verdict(
            "closed_form", name, None, note="no closed-form natural gradient: the generic solve is used"
        )
    if _curvature(target, "fisher", points) is None:
        return check_natural_gradient_monte_carlo(target, name, chart, points, rng)
    theta = chart.from_canonical(points)
    canonical = chart.canonical_form(points)
    grad = target.grad(canonical)
    closed = chart.natural_gradient(theta, canonical, grad, target.fisher)
    generic = chart.generic_natural_gradient(theta, canonical, grad, target.fisher)
    return _judge(
        "closed_form",
        name,
        _relative(closed - generic, np.abs(generic).max() + 1e-300),
        CLOSED_FORM_TOLERANCE,
        "against the generic solve",
    )


def check_natural_gradient_monte_carlo(target: Target, name: str, chart: Chart, points, rng) -> Verdict:
    """n = F_θ⁻¹∇_θℒ means wᵀF_θn = wᵀ∇_θℒ for every tangent w, and wᵀF_θn = E[(D_w log q)(D_n log q)]:
    directional derivatives of the model's log-density in chart coordinates, by differences, at draws
    of the model. No Fisher matrix is formed, so this holds charts whose Fisher has no generic solve."""
    sample = getattr(target, "sample_model", None)
    log_density = getattr(target, "model_log_density", None)
    if sample is None or log_density is None:
        return Verdict("closed_form", name, None, note="the Fisher is offered only through the closed forms")
    theta = chart.from_canonical(points)
    canonical = chart.canonical_form(points)
    grad = target.grad(canonical)
    natural = chart.natural_gradient(theta, canonical, grad, None)
    pulled = chart.pullback_gradient(theta, grad)
    directions, moves = chart_tangents(target, chart, points, rng)
    # Measured on gaussian_nd (d = 3): an error of 5% in n's mean block gives z ≈ 6, of 20% in its
    # matrix block z ≈ 6.5, a factor 2 z ≈ 18 to 50. Ten times the draws only doubles z, at 2 s a chart.
    count = MONTE_CARLO_DRAWS
    worst = 0.0
    for b in range(points.shape[0]):
        draws = sample(points[b : b + 1], rng, count)
        size = max(np.abs(theta[b]).max(), 1e-2)

        def derivative(direction, b=b, draws=draws, size=size):
            step = 1e-6 * size / max(np.abs(direction).max(), 1e-300)
            up = log_density(chart.to_canonical((theta[b] + step * direction)[None]), draws)[0]
            down = log_density(chart.to_canonical((theta[b] - step * direction)[None]), draws)[0]
            return (up - down) / (2 * step)

        along_natural = derivative(natural[b])
        # w = n itself among the tangents: nᵀFn against nᵀ∇ℒ weighs every block of n at once.
        tangents = [natural[b]] + [directions[b, m] for m in np.flatnonzero(moves[b])]
        for tangent_direction in tangents:
            products = derivative(tangent_direction) * along_natural
            expected = pulled[b] @ tangent_direction
            standard_error = products.std() / np.sqrt(products.size)
            floor = 1e-9 * (np.abs(expected) + 1e-300)
            worst = max(worst, abs(products.mean() - expected) / (standard_error + floor))
    return _judge(
        "closed_form",
        name,
        worst,
        MONTE_CARLO_Z,
        f"wᵀFn against wᵀ∇ℒ by Monte Carlo, {count} draws, in standard errors",
    )


def check_run(
    target: Target, name: str, method: str, points: np.ndarray, seeds, learning_rate: float, steps: int
) -> Verdict:
    from ngbench.runner import run_batch

    chart = target.charts[name]
    reason = unavailability(REGISTRY[method], target, {name: chart})
    if reason is not None:
        return Verdict("run", f"{name} × {method}", None, note=reason)
    try:
        result = run_batch(
            target,
            chart,
            REGISTRY[method],
            points,
            np.full(points.shape[0], learning_rate),
            steps,
            converged_gap=0.0,
            seeds=np.asarray(seeds),
        )
    except Exception as error:  # noqa: BLE001 — the verdict is the point
        return Verdict("run", f"{name} × {method}", False, note=f"raised {type(error).__name__}: {error}")
    failed = int((result.status == "failed").sum())
    note = result.first_fault or f"{steps} steps at lr {learning_rate:g}: " + ", ".join(
        sorted(set(result.status))
    )
    return Verdict("run", f"{name} × {method}", failed == 0, float(failed), 0.0, note)


def _guarded(check: str, where: str, compute, *args) -> list:
    """A check's verdicts, or one failing verdict naming what the target raised (its own code's fault)."""
    try:
        verdicts = compute(*args)
    except Exception as error:  # noqa: BLE001 — a target that raises fails the check, and the rest go on
        return [Verdict(check, where, False, note=f"raised {type(error).__name__}: {error}")]
    return verdicts if isinstance(verdicts, list) else [verdicts]


def run_checks(
    target: Target,
    init: dict,
    learning_rate: float = 1e-3,
    steps: int = 5,
    seeds=CHECK_SEEDS,
    run: bool = True,
):
    """Every verdict for a target at the starts `init` draws; yields them as they come."""
    rng = np.random.default_rng(20261201)
    points = target.initial_states(init, tuple(seeds))
    methods, curvatures = supported(target)
    yield from _guarded("gradient", "canonical", check_gradient, target, points, rng)
    for name, chart in sorted(target.charts.items()):
        yield from _guarded("chart", name, check_chart, target, name, chart, points, rng)
    for curvature in curvatures:
        yield from _guarded("curvature", curvature, check_curvature, target, curvature, points, rng)
    if "fisher" in curvatures:  # a closed form of the natural gradient needs the Fisher
        for name, chart in sorted(target.charts.items()):
            yield from _guarded("closed_form", name, check_closed_form, target, name, chart, points, rng)
    if not run:
        return
    if target.needs_reference:
        reference = _guarded("reference", "reference_solution", lambda: [target.reference_solution()])
        if isinstance(reference[0], Verdict):
            yield reference[0]
            return
        target = target.with_reference(reference[0])
    for name in sorted(target.charts):
        for method in methods:
            yield check_run(target, name, method, points, seeds, learning_rate, steps)


def start_problems(target: Target, init: dict, seeds) -> list[str]:
    """The checker's cheap part, for the config check: the gradient at the row's first start."""
    verdict = check_gradient(target, target.initial_states(init, tuple(seeds)[:1]), np.random.default_rng(0))
    if verdict.passed:
        return []
    return [
        f"grad: differs from finite differences of loss at the first start by {verdict.error:.3g} "
        f"(relative; tolerance {verdict.tolerance:.3g}): run python -m ngbench.check on it"
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ngbench.check", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "target", help="a built-in target's name, or path/to/file.py:Class (relative to here)"
    )
    parser.add_argument(
        "--spec", default="{}", help="the target's fields as JSON, as in a config row's `target`"
    )
    parser.add_argument(
        "--init",
        default=None,
        help="starts as JSON, as a config row's `init` (default: the class's `example_init`)",
    )
    parser.add_argument(
        "--gradient", default=None, help="the gradient estimator, e.g. '{\"mc\": 4}' (default exact)"
    )
    parser.add_argument("--lr", type=float, default=1e-3, help="learning rate of the short runs")
    parser.add_argument("--steps", type=int, default=5, help="steps of the short runs")
    args = parser.parse_args(argv)
    try:
        spec = json.loads(args.spec)
        key = "plugin" if ":" in args.target else "name"
        target = make_target(
            {key: args.target, **spec}, gradient=json.loads(args.gradient) if args.gradient else None
        )
        init = json.loads(args.init) if args.init else getattr(target, "example_init", None)
    except (SpecError, json.JSONDecodeError) as error:
        print(f"ngbench.check: {args.target}: {error}", file=sys.stderr)
        return 2
    if init is None:
        print(
            f"ngbench.check: {args.target}: give --init (starts, as a config row's `init`)", file=sys.stderr
        )
        return 2
    failed = 0
    for verdict in run_checks(target, init, args.lr, args.steps):
        print(verdict.line(), flush=True)
        failed += verdict.passed is False
    print(f"{failed} check(s) failed" if failed else "every check passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
