"""Gaussian VI of a Bayesian generalized linear model on a CSV named in the row (docs/maths.md §5, §6).

Prior N(0, δ⁻¹I); ℓ(θ) = Σₙ φ(aₙ, yₙ) + (δ/2)‖θ‖² with aₙ = xₙᵀθ over the training split, φ = −log p(y | a)
of the row's `likelihood` (ngbench.targets.likelihoods); the loss is the negative ELBO of q = N(m, V).
Every expectation over q is one of a 1-D projection aₙ ~ N(xₙᵀm, xₙᵀVxₙ): E[φ], E[φ′] and the
curvature E[φ′z]/s, in closed form where the likelihood has one, else by Gauss–Hermite quadrature
(100 nodes unless the row says otherwise). The gradient is then Xᵀ E[φ′] + δm and E[∇²ℓ] is
Xᵀdiag(E[φ″])X + δI (docs/maths.md §2.7 for the quadrature's own stationary point).

Mean-field charts work in the mean-field form (m, v), V = diag(v) (ngbench.targets.gaussian_family):
a projection's variance is Σⱼ xₙⱼ² vⱼ, the curvature's diagonal Σₙ E[φ″ₙ] xₙⱼ² + δ and the entropy
½Σ log vⱼ, from the squared design made once: a step is O(N·d) per run, nothing d × d or N × d × d.

NGD in the `natural` chart is the Bayesian learning rule / VON update; GD in `mean_chol` the
reparameterised (m, L) gradient. Gradient estimators: Monte Carlo (`{mc: S}`), and `delta`
(E_q[f] → f(m), which makes NGD at ρ = 1 Newton's method on ℓ, docs/maths.md §2.6). The `ef` method
replaces E[∇²ℓ] by the expected empirical Fisher Σₙ E[φ′(aₙ)²] xₙxₙᵀ + δI (VOGN-like).
f* and the optimal mean come from a reference BLR solve, checked for stationarity. The held-out
metric `test_log_loss` is the mean negative log predictive density −log E_q[p(yₙ | xₙᵀθ)] of the
test rows.
"""

from __future__ import annotations

import csv
import math
from functools import cached_property
from pathlib import Path

import numpy as np

from ngbench.targets.base import SpecError
from ngbench.targets.gaussian_family import (
    FULL,
    MEAN_FIELD,
    GaussianFamilyTarget,
    full_form,
    join,
    moments,
    split,
)
from ngbench.targets.likelihoods import (
    LIKELIHOODS,
    BernoulliLogit,
    GaussHermiteRule,
    Likelihood,
    quadrature_points,
    tiered,
)

SPLIT_STREAM = 4
STATIONARY_GRADIENT = 1e-8
# Below this a predictive Σₖ wₖ p(y | aₖ) may have lost terms to underflow (p < 1e-308 at a node):
# its log is then taken as a log-sum-exp of log-densities (GLMVI.test_log_loss).
PREDICTIVE_FLOOR = 1e-250
DATA_DEFAULTS = {"features": "all", "standardize": True, "intercept": True}


def gauss_hermite(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes zₖ and weights wₖ (Σwₖ = 1) with Σₖ wₖ f(zₖ) = E[f(z)], z ~ N(0, 1), exact to degree 2·count − 1.

    scipy's `roots_hermitenorm` (Golub–Welsch below 150 nodes, an asymptotic expansion above): numpy's
    `hermegauss` overflows from 372 nodes on (non-finite weights) and is already wrong at 371, inside
    the schema's bound of 400. Imported here, so only jobs of this target pay for scipy.special.
    """
    from scipy.special import roots_hermitenorm

    nodes, weights = roots_hermitenorm(count)
    return nodes, weights / np.sqrt(2.0 * np.pi)


def log_expectation(
    log_values: np.ndarray, log_weights: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """log Σₖ wₖ exp(log_valuesₖ) over the last axis, without forming the (possibly underflowing) values.

    `out`, of `log_values`' shape (it may be `log_values` itself), holds the terms on the way.
    """
    terms = np.add(log_values, log_weights, out=out)
    top = terms.max(axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)  # all −∞ (or a +∞): let the sum below say so
    exponentials = np.exp(np.subtract(terms, top, out=terms), out=terms)
    return (top + np.log(exponentials.sum(axis=-1, keepdims=True)))[..., 0]


# --- the data: a CSV named in the row, checked cell by cell before any job ------------------------------


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_csv(data: dict) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Features (n, p), response (n,) and the feature names of a row's `data` mapping.

    Every problem is a SpecError naming the field (`data.csv`, `data.response`, `data.features.2`)
    and, for a cell, its row (1 = the first data line, the header being line 1 of the file) and column.
    """
    for field in ("csv", "response"):
        if field not in data:
            raise SpecError(f"data.{field}", "missing: data needs {csv: PATH, response: COLUMN}")
    path = Path(data["csv"])
    if not path.is_file():
        raise SpecError("data.csv", f"no file {str(path)!r} (relative to the working directory {Path.cwd()})")
    with path.open(newline="") as handle:
        lines = list(csv.reader(handle))
    if not lines:
        raise SpecError("data.csv", f"{path} is empty: it needs a header line naming its columns")
    header = [name.strip() for name in lines[0]]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise SpecError("data.csv", f"{path}: the header names column(s) {repeated} more than once")
    response = data["response"]
    if response not in header:
        raise SpecError("data.response", f"no column {response!r} in {path} (columns: {', '.join(header)})")
    features = data.get("features", DATA_DEFAULTS["features"])
    if features == "all":
        features, field_of = [name for name in header if name != response], None
    else:
        for index, name in enumerate(features):
            where = f"data.features.{index}"
            if name not in header:
                raise SpecError(where, f"no column {name!r} in {path} (columns: {', '.join(header)})")
            if name == response:
                raise SpecError(where, f"{name!r} is the response: it cannot also be a feature")
            if features.index(name) != index:
                raise SpecError(where, f"{name!r} is listed twice")
        field_of = {name: f"data.features.{index}" for index, name in enumerate(features)}
    columns = [header.index(name) for name in [*features, response]]
    rows = [line for line in lines[1:] if line]  # a trailing newline leaves an empty line
    if not rows:
        raise SpecError("data.csv", f"{path} has a header and no data rows")
    table = np.empty((len(rows), len(columns)))
    for number, line in enumerate(rows, start=1):
        place = f"{path}: row {number} (line {number + 1})"
        if len(line) != len(header):
            raise SpecError("data.csv", f"{place}: {len(line)} cells, the header has {len(header)}")
        for slot, column in enumerate(columns):
            text, name = line[column].strip(), header[column]
            value = _number(text)
            field = "data.response" if name == response else (field_of or {}).get(name, "data.features")
            if text == "":
                raise SpecError(field, f"{place}, column {name!r}: empty cell")
            if value is None:
                raise SpecError(field, f"{place}, column {name!r}: {text!r} is not a number")
            if not math.isfinite(value):
                raise SpecError(field, f"{place}, column {name!r}: {text!r} is not a finite number")
            table[number - 1, slot] = value
    for slot, name in enumerate(features):
        if (table[:, slot] == table[0, slot]).all():
            field = (field_of or {}).get(name, "data.features")
            raise SpecError(field, f"{path}: column {name!r} is constant ({table[0, slot]:g} in every row)")
    return table[:, :-1], table[:, -1], list(features)


def make_likelihood(spec: dict) -> Likelihood:
    name = spec.get("likelihood", BernoulliLogit.name)
    if name not in LIKELIHOODS:
        raise SpecError(
            "likelihood", f"unknown likelihood {name!r} (known: {', '.join(sorted(LIKELIHOODS))})"
        )
    if "noise_variance" in spec and name != "gaussian":
        raise SpecError("noise_variance", f"only the gaussian likelihood has one, not {name}")
    if name == "gaussian":
        variance = spec.get("noise_variance", 1.0)
        if not variance > 0:
            raise SpecError("noise_variance", f"must be positive, got {variance}")
        return LIKELIHOODS[name](variance)
    return LIKELIHOODS[name]()


class GLMVI(GaussianFamilyTarget):
    name = "glm_vi"
    needs_reference = True
    curvatures = ("none", "fisher", "empirical_fisher")
    gradient_estimators = ("mc", "delta")
    observed_columns = ("mean_error", "test_log_loss")
    mean_field_form = True  # every method below reads (m, v) as well as (m, V)

    def __init__(
        self,
        features: np.ndarray,
        response: np.ndarray,
        likelihood: Likelihood | None = None,
        prior_precision: float = 1.0,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        quadrature_nodes: int = 100,
        standardize: bool = True,
        intercept: bool = True,
        feature_names: list[str] | None = None,
    ):
        likelihood = BernoulliLogit() if likelihood is None else likelihood
        if not prior_precision > 0:
            raise SpecError("prior_precision", f"must be positive, got {prior_precision}")
        if not 0 < test_fraction < 1:
            raise SpecError("test_fraction", f"must lie in (0, 1), got {test_fraction}")
        if not (isinstance(quadrature_nodes, int) and quadrature_nodes >= 2):
            raise SpecError("quadrature_nodes", f"must be an integer ≥ 2, got {quadrature_nodes!r}")
        outside = np.flatnonzero(likelihood.outside_support(response))
        if outside.size:
            raise SpecError(
                "data.response",
                f"row {outside[0] + 1}: {response[outside[0]]:g} is outside the support of {likelihood.name} "
                f"(it needs {likelihood.support}; {outside.size} row(s) in all)",
            )
        if features.shape[1] == 0 and not intercept:
            raise SpecError("data.features", "no feature and no intercept: the model has no parameter")
        names = feature_names or [f"column {k}" for k in range(features.shape[1])]
        order = np.random.default_rng([SPLIT_STREAM, split_seed]).permutation(response.size)
        n_test = int(round(test_fraction * response.size))
        # The held-out metric averages over the test rows; the features are standardised by the
        # training rows' spread, which needs two rows at least (and then is checked below).
        if not 1 <= n_test <= response.size - 2:
            raise SpecError(
                "test_fraction",
                f"{test_fraction} of {response.size} rows leaves {n_test} to test and "
                f"{response.size - n_test} to train: needs at least 1 and 2",
            )
        test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
        # Standardised with the training split's statistics only: the test split stays unseen.
        centre, scale = features[train].mean(axis=0), features[train].std(axis=0)
        if not (scale > 0).all():
            constant = names[int(np.flatnonzero(~(scale > 0))[0])]
            raise SpecError(
                "test_fraction",
                f"{test_fraction} (split_seed {split_seed}) leaves feature {constant!r} constant over the "
                "training rows",
            )
        if not standardize:
            centre, scale = np.zeros_like(centre), np.ones_like(scale)

        def design(rows):
            columns = [(features[rows] - centre) / scale] + ([np.ones(rows.size)] if intercept else [])
            return np.column_stack(columns)

        self.likelihood = likelihood
        self.train_x, self.train_y = design(train), response[train]
        self.test_x, self.test_y = design(test), response[test]
        super().__init__(self.train_x.shape[1])
        self.prior_precision = float(prior_precision)
        self.quadrature_nodes = quadrature_nodes
        self.delta = False
        self.closed_forms = True  # False: quadrature even where the likelihood has closed forms (tests)
        self.narrow_quadrature = True  # False: the declared rule on every projection (tests, benchmarks)
        self._reference: dict | None = None
        self._memo = None
        # `ef`'s E[φ′²] at the memo's state, from the loss's own quadrature pass where the likelihood
        # fuses it: made while `fuse_squared_slopes` is on, which `empirical_fisher_direction` turns on
        # and a memo whose squares nobody asked for turns off (one wasted pass when `ef` ends).
        self.fuse_squared_slopes = False
        self._memo_squared_slopes: np.ndarray | None = None
        self._memo_squared_slopes_used = False
        self._points_scratch = None
        self._projection_scratch: dict[int, np.ndarray] = {}  # by the design matrix's row count
        self._squares: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(x) → (x, x²), see `_squared`

    # The quadrature rules are made on first use: the config check builds the target at every
    # Snakemake start and needs no rule, and making one imports scipy.special (~0.3 s).
    @cached_property
    def _declared_rule(self) -> GaussHermiteRule:
        return GaussHermiteRule(*gauss_hermite(self.quadrature_nodes))

    @cached_property
    def _narrow_rule(self) -> GaussHermiteRule:
        """The declared rule, with the likelihood's smaller rules (fewer nodes) on narrow projections."""
        narrow = [
            (limit, *gauss_hermite(count))
            for count, limit in sorted(self.likelihood.narrow_rules.items())
            if count < self.quadrature_nodes
        ]
        return GaussHermiteRule(self.nodes, self.weights, narrow)

    @property
    def rule(self) -> GaussHermiteRule:
        """The rule the expectations use: by projection width unless `narrow_quadrature` is off (tests)."""
        return self._narrow_rule if self.narrow_quadrature else self._declared_rule

    @property
    def nodes(self) -> np.ndarray:
        return self._declared_rule.nodes

    @property
    def weights(self) -> np.ndarray:
        return self._declared_rule.weights

    @cached_property
    def log_weights(self) -> np.ndarray:
        with np.errstate(divide="ignore"):  # the outermost weights of a large rule underflow to 0
            return np.log(self.weights)

    @classmethod
    def from_spec(cls, spec: dict) -> GLMVI:
        likelihood = make_likelihood(spec)
        if "data" not in spec:
            raise SpecError("data", "glm_vi needs data: {csv: PATH, response: COLUMN, ...}")
        data = {**DATA_DEFAULTS, **spec["data"]}
        features, response, names = read_csv(data)
        return cls(
            features,
            response,
            likelihood,
            prior_precision=spec.get("prior_precision", 1.0),
            test_fraction=spec.get("test_fraction", 0.2),
            split_seed=spec.get("split_seed", 0),
            quadrature_nodes=spec.get("quadrature_nodes", 100),
            standardize=data["standardize"],
            intercept=data["intercept"],
            feature_names=names,
        )

    @classmethod
    def data_files(cls, spec: dict) -> list[str]:
        """Files a row's spec names whose content its jobs depend on (hashed into their params)."""
        return [spec["data"]["csv"]] if isinstance(spec.get("data"), dict) and "csv" in spec["data"] else []

    def set_gradient(self, gradient) -> None:
        if gradient == "delta":
            self.delta = True
            return
        super().set_gradient(gradient)

    # --- expectations over the 1-D projections a ~ N(xᵀm, xᵀVx) ---
    def _squared(self, x) -> np.ndarray:
        """x ⊙ x (N, d) of a design matrix, made once: the mean-field form's projections and curvature."""
        entry = self._squares.get(id(x))
        if entry is None or entry[0] is not x:
            entry = self._squares[id(x)] = (x, x * x)
        return entry[1]

    def _projections(self, x, mean, cov):
        """Centres xₙᵀm and spreads √(xₙᵀVxₙ), (B, N); `cov` is V (B, d, d) or the variances v (B, d)."""
        centre = mean @ x.T  # (B, N)
        if cov.ndim == 2:
            # xₙᵀdiag(v)xₙ = Σⱼ xₙⱼ²vⱼ: one (B, d) × (d, N) product (the full path's sum of the same
            # terms, in BLAS's order: rounding apart).
            return centre, np.sqrt(np.maximum(cov @ self._squared(x).T, 0.0))
        # x V then its rows' products with x in a (B, N, d) buffer kept per design matrix: fresh
        # arrays of that size cost their page faults at every step (3× the arithmetic at 28 × 455 × 31).
        rows = np.matmul(x, cov, out=self._projection_buffer(x, cov.shape[0]))
        spread = np.sqrt(np.maximum(np.multiply(rows, x, out=rows).sum(axis=-1), 0.0))  # √(xₙᵀVxₙ)
        return centre, spread

    def _projection_buffer(self, x, batch: int) -> np.ndarray:
        shape = (batch, *x.shape)
        buffer = self._projection_scratch.get(x.shape[0])
        if buffer is None or buffer.shape != shape:
            buffer = self._projection_scratch[x.shape[0]] = np.empty(shape)
        return buffer

    def _nodes(self, centre, spread):
        return centre[..., None] + spread[..., None] * self.nodes  # (B, N, K)

    def projection_expectations(self, centre, spread, y, slopes=True, squared_slopes=False):
        """(Σₙ E[φ], E[φ′], curvature E[φ″]) over aₙ ~ N(centreₙ, spreadₙ²): closed form or quadrature.

        `slopes=False`: the quadrature may leave E[φ′] and E[φ″] out (None). `squared_slopes`: a fourth
        array, E[φ′²] from the same pass, or None where the likelihood does not fuse it
        (`Likelihood.fuses_squared_slopes`) or has closed forms.
        """
        exact = self.likelihood.closed_form(centre, spread, y) if self.closed_forms else None
        if exact is not None:
            return (*exact, None) if squared_slopes else exact
        if not squared_slopes:
            return self.likelihood.quadrature(centre, spread, y, self.rule, slopes=slopes)
        if not (slopes and self.likelihood.fuses_squared_slopes):
            return (*self.likelihood.quadrature(centre, spread, y, self.rule, slopes=slopes), None)
        return self.likelihood.quadrature(centre, spread, y, self.rule, slopes=True, squared_slopes=True)

    def _train_expectations(self, mean, cov, slopes=True):
        """Over the training projections: centre, spread, Σₙ E[φ], E[φ′] and the curvature E[φ″].

        The runner asks for the loss and then the gradient of the same states: the last result is
        kept (checked by value, since a chart may hand over an array it later updates in place).
        `slopes=False` (the loss of a row whose gradient is sampled or taken at the mean): E[φ′] and
        E[φ″] may be None.
        """
        memo = self._memo
        if (
            memo is not None
            and memo[3] is self.rule
            and np.array_equal(memo[0], mean)
            and np.array_equal(memo[1], cov)
        ):
            if memo[2][3] is not None or not slopes:
                return memo[2]
            centre, spread = memo[2][:2]
        else:
            centre, spread = self._projections(self.train_x, mean, cov)
        if self._memo_squared_slopes is not None and not self._memo_squared_slopes_used:
            self.fuse_squared_slopes = False  # made for `ef` and not asked for: another method runs now
        if self.fuse_squared_slopes:
            *expectations, squared = self.projection_expectations(
                centre, spread, self.train_y, slopes, squared_slopes=True
            )
        else:
            expectations, squared = self.projection_expectations(centre, spread, self.train_y, slopes), None
        result = (centre, spread, *expectations)
        self._memo = (mean.copy(), cov.copy(), result, self.rule)  # the rule too: tests switch it
        self._memo_squared_slopes, self._memo_squared_slopes_used = squared, False
        return result

    def loss(self, canonical, log_det_cov=None):
        mean, cov = moments(canonical, self.dim)
        # A sampled or delta-method gradient does not use the quadrature's E[φ′] and E[φ″].
        slopes = self.mc_samples is None and not self.delta
        _, _, data_term, _, _ = self._train_expectations(mean, cov, slopes)
        logdet = self._log_det_cov(canonical, log_det_cov)
        delta, dim = self.prior_precision, self.dim
        return (
            data_term
            + 0.5 * delta * ((mean**2).sum(axis=1) + self._trace(cov))
            - 0.5 * dim * np.log(delta / (2.0 * np.pi))
            - 0.5 * (dim * np.log(2.0 * np.pi * np.e) + logdet)
        )

    @staticmethod
    def _trace(cov):
        """tr V of V (B, d, d) or of its diagonal v (B, d)."""
        return cov.sum(axis=1) if cov.ndim == 2 else np.trace(cov, axis1=1, axis2=2)

    def _gradient(self, mean, slopes):
        """E[∇ℓ] = Xᵀ E[φ′] + δm."""
        return slopes @ self.train_x + self.prior_precision * mean

    def _curvature(self, weights, diagonal=False):
        """Xᵀdiag(weights)X + δI: E[∇²ℓ] for weights E[φ″], or a surrogate of it; with `diagonal`,
        only its diagonal Σₙ weightsₙ xₙⱼ² + δ (B, d), from the squared design."""
        x = self.train_x
        if diagonal:
            return weights @ self._squared(x) + self.prior_precision
        return np.matmul(x.T * weights[:, None, :], x) + self.prior_precision * np.eye(self.dim)

    def _assemble(self, mean, slopes, curvature, diagonal=False):
        return self._gradient(mean, slopes), self._curvature(curvature, diagonal)

    def expected_gradient_hessian(self, mean, cov):
        """E∇ℓ and E∇²ℓ (B, d, d); called with the variances v (B, d) of the mean-field form
        (`expected_gradient_hessian_diagonal`), the diagonal of E∇²ℓ (B, d) instead."""
        diagonal = cov.ndim == 2
        if self.delta:
            a, y = mean @ self.train_x.T, self.train_y
            return self._assemble(mean, self.likelihood.first(a, y), self.likelihood.second(a, y), diagonal)
        _, _, _, slopes, curvature = self._train_expectations(mean, cov)
        return self._assemble(mean, slopes, curvature, diagonal)

    def expected_gradient_hessian_diagonal(self, mean, var):
        return self.expected_gradient_hessian(mean, var)

    def sampled_gradient_hessian(self, samples, diagonal=False):
        a = samples @ self.train_x.T  # (B, S, N)
        return self._assemble(samples.mean(axis=1), *self.likelihood.sample_means(a, self.train_y), diagonal)

    def sampled_gradient_hessian_diagonal(self, samples):
        return self.sampled_gradient_hessian(samples, diagonal=True)

    def estimate_grad(self, canonical, rngs=None):
        if self.delta:
            return self.grad(canonical)
        return super().estimate_grad(canonical, rngs)

    def empirical_fisher_direction(self, chart, theta, canonical, rngs=None):
        """NGD with E[∇²ℓ] replaced by Σₙ E[φ′(aₙ)²] xₙxₙᵀ + δI (the expected empirical Fisher).

        The expectations are taken like the row's gradient: quadrature, Monte Carlo or at the mean.
        """
        mean, cov = moments(canonical, self.dim)
        y, likelihood = self.train_y, self.likelihood
        if self.mc_samples is not None:
            samples = self.draw_samples(canonical, rngs)
            a = samples @ self.train_x.T  # (B, S, N)
            g_mean = self._gradient(samples.mean(axis=1), likelihood.sample_means(a, y)[0])
            residual = (likelihood.first(a, y) ** 2).mean(axis=1)
        elif self.delta:
            slopes = likelihood.first(mean @ self.train_x.T, y)
            g_mean = self._gradient(mean, slopes)
            residual = slopes**2
        else:
            centre, spread, _, slopes, _ = self._train_expectations(mean, cov)
            g_mean = self._gradient(mean, slopes)
            residual = self._memo_squared_slopes
            if residual is None:
                residual = self._expected_squared_slopes(centre, spread)
                self.fuse_squared_slopes = True  # the next states' loss passes make them
            self._memo_squared_slopes_used = True
        # (g_μ, ½(E[∇²ℓ] − Σ⁻¹)) with the surrogate for E[∇²ℓ]: its diagonal in the mean-field form.
        grad = self._grad_from(canonical, g_mean, self._curvature(residual, cov.ndim == 2))
        return chart.natural_gradient(theta, canonical, grad, None)

    def _expected_squared_slopes(self, centre, spread) -> np.ndarray:
        """E[φ′(aₙ)²] by the quadrature (`rule`), a chunk of (rows, nodes) points at a time: no
        batch-sized temporaries."""
        y = self.train_y

        def evaluate(points, chunk):
            slope = self.likelihood.first(points, chunk.responses(y))
            return (np.multiply(slope, slope, out=slope) @ chunk.weights,)

        return tiered(self.rule, centre, spread, evaluate, 1, self._points_buffer())[0]

    def _points_buffer(self) -> np.ndarray:
        size = self.rule.scratch_size()
        if self._points_scratch is None or self._points_scratch.size != size:
            self._points_scratch = np.empty(size)
        return self._points_scratch

    def test_log_loss(self, canonical) -> np.ndarray:
        """Mean held-out −log p(yₙ | xₙ) of the predictive p(y | x) = E_q[p(y | xᵀθ)].

        log Σₖ wₖ p(y | aₖ) from the likelihood's `density` where it has one and the sum is at least
        `PREDICTIVE_FLOOR`: a few ulps of the log-sum-exp of log-densities, at less than half its cost,
        each projection by its rule in `rule` (as the training expectations). Below that floor (some
        densities underflow) and for likelihoods without `density`, it is that log-sum-exp
        (`log_expectation`) over the declared rule, never the log of a rounded predictive, which is
        wrong once it falls below about 1e-16.
        """
        centre, spread = self._projections(self.test_x, *moments(canonical, self.dim))
        y = self.test_y
        if type(self.likelihood).density is Likelihood.density:  # no `density`: log-sum-exp throughout
            low = np.arange(centre.size)
            log_predictive = np.empty(centre.size)
        else:

            def evaluate(points, chunk):
                # Overflow and log 0 are where a density underflows: those rows are redone below.
                with np.errstate(over="ignore", invalid="ignore"):
                    return (self.likelihood.density(points, chunk.responses(y)) @ chunk.weights,)

            predictive = tiered(self.rule, centre, spread, evaluate, 1, self._points_buffer())[0].reshape(-1)
            with np.errstate(divide="ignore", invalid="ignore"):
                log_predictive = np.log(predictive)
            low = np.flatnonzero(~(predictive >= PREDICTIVE_FLOOR))  # NaN included
        # Run by run (at most a run's rows at a time), in the declared rule.
        flat_centre, flat_spread = centre.reshape(-1), spread.reshape(-1)
        for first in range(0, low.size, y.size):
            rows = low[first : first + y.size]
            points = quadrature_points(flat_centre[rows], flat_spread[rows], self.nodes)
            log_density = self.likelihood.log_density(points, y[rows % y.size, None])
            log_predictive[rows] = log_expectation(log_density, self.log_weights, out=log_density)
        return -log_predictive.reshape(centre.shape).mean(axis=1)

    def observe(self, canonical, chart):
        return np.column_stack([super().observe(canonical, chart)[:, 0], self.test_log_loss(canonical)])

    # --- the reference solution ---
    def reference_solution(self) -> dict:
        """The BLR fixed point of each family, from the prior, to stationarity (‖∇‖∞ ≤ 1e-8)."""
        families = {}
        for family, chart_name in ((FULL, "natural"), (MEAN_FIELD, "diagonal_natural")):
            chart = self.charts[chart_name]
            # The prior N(0, I/δ), in the chart's own form: (0, 1/δ) for a mean-field one, no d × d.
            prior_var = np.full((1, self.dim), 1.0 / self.prior_precision)
            prior = np.concatenate([np.zeros((1, self.dim)), prior_var], axis=1)
            start = prior if self._uses_mean_field_form(chart) else full_form(prior, self.dim)
            theta = chart.from_canonical(start)
            loss = self.loss_at(chart, theta, start)[0]
            rate = 1.0
            for _ in range(10_000):
                canonical = chart.to_canonical(theta)
                step = rate * chart.natural_gradient(theta, canonical, self.grad(canonical), None)
                trial = theta - step
                inside = chart.in_domain(trial)[0]
                trial_loss = self.loss_at(chart, trial, chart.to_canonical(trial))[0] if inside else np.inf
                if not trial_loss <= loss + 1e-12 * abs(loss):
                    rate *= 0.5  # a damped BLR step: ρ = 1 is Newton-like and may overshoot far away
                    if rate < 1e-12:
                        break
                    continue
                theta, loss = trial, trial_loss
                if np.abs(step).max() < 1e-13:
                    break
            canonical = chart.to_canonical(theta)
            stationarity = float(np.abs(chart.pullback_gradient(theta, self.grad(canonical))).max())
            if not stationarity <= STATIONARY_GRADIENT:
                raise RuntimeError(
                    f"{self.name} reference ({family}) is not stationary: ‖∇‖∞ = {stationarity:.2e}"
                )
            mean, cov = split(full_form(canonical, self.dim), self.dim)  # the file holds V whole
            families[family] = {
                "optimum_loss": float(self.loss_at(chart, theta, canonical)[0]),
                "optimum_mean": mean[0].tolist(),
                "optimum_cov": cov[0].tolist(),
                "stationarity": stationarity,
                "test_log_loss": float(self.test_log_loss(canonical)[0]),
            }
        return {"optimum_loss": families[FULL]["optimum_loss"], "families": families}

    def with_reference(self, reference: dict) -> GLMVI:
        self._reference = reference
        return self

    def _family_reference(self, family: str) -> dict:
        if self._reference is None:
            raise ValueError(f"{self.name} needs its reference solution (f*): see reference_solution()")
        return self._reference["families"][family]

    @property
    def optimum_loss(self) -> float:
        return self._family_reference(FULL)["optimum_loss"]

    def optimum_loss_for(self, chart) -> float:
        return self._family_reference(chart.family)["optimum_loss"]

    def optimum_mean(self, family: str) -> np.ndarray:
        return np.asarray(self._family_reference(family)["optimum_mean"])

    def optimum(self, family: str = FULL) -> np.ndarray:
        reference = self._family_reference(family)
        return join(np.asarray(reference["optimum_mean"])[None], np.asarray(reference["optimum_cov"])[None])[
            0
        ]
