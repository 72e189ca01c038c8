"""Bayesian logistic regression on the Wisconsin breast-cancer data: Gaussian VI of its posterior.

docs/maths.md §5. Prior N(0, δ⁻¹I); ℓ(θ) = Σₙ[softplus(aₙ) − yₙaₙ] + (δ/2)‖θ‖² with aₙ = xₙᵀθ over the
training split; the loss is the negative ELBO of q = N(m, V). Every expectation over q is one of a
1-D projection aₙ ~ N(xₙᵀm, xₙᵀVxₙ), by Gauss–Hermite quadrature (100 nodes unless the row says
otherwise: fewer are not accurate on this posterior, see the README). The gradient is the exact
derivative of that quadrature loss (∂/∂sₙ E[f(μₙ + sₙz)] = E[f′·z]), so its fixed point is the
quadrature loss's own stationary point; its curvature term Xᵀdiag(E[σ(a)z]/s)X is E[∇²ℓ] by Stein's
identity up to quadrature error (docs/maths.md §2.7).

NGD in the `natural` chart is then the Bayesian learning rule / VON update; GD in `mean_chol` is the
usual reparameterised (m, L) gradient. Gradient estimators: Monte Carlo (`{mc: S}`), and `delta`
(E_q[f] → f(m), which makes NGD at ρ = 1 Newton's method on ℓ, docs/maths.md §2.6). The `ef` method
replaces E[∇²ℓ] by the expected empirical Fisher Σₙ E[(σ(aₙ) − yₙ)²] xₙxₙᵀ + δI (VOGN-like).
f* and the optimal mean come from a reference BLR solve, checked for stationarity.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ngbench.targets.base import SpecError
from ngbench.targets.gaussian_family import (
    FULL,
    MEAN_FIELD,
    GaussianFamilyTarget,
    cov_inverse,
    join,
    split,
)

DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "breast_cancer.csv"
SPLIT_STREAM = 4
STATIONARY_GRADIENT = 1e-8


def load_breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    """Features (569, 30) and labels (1 = benign) of the file in ngbench/data (see its README)."""
    table = np.loadtxt(DATA_FILE, delimiter=",", skiprows=1)
    return table[:, :-1], table[:, -1]


def gauss_hermite(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes zₖ and weights wₖ (Σwₖ = 1) with Σₖ wₖ f(zₖ) = E[f(z)], z ~ N(0, 1), exact to degree 2·count − 1.

    scipy's `roots_hermitenorm` (Golub–Welsch below 150 nodes, an asymptotic expansion above): numpy's
    `hermegauss` overflows from 372 nodes on (non-finite weights) and is already wrong at 371, inside
    the schema's bound of 400. Imported here, so only jobs of this target pay for scipy.special.
    """
    from scipy.special import roots_hermitenorm

    nodes, weights = roots_hermitenorm(count)
    return nodes, weights / np.sqrt(2.0 * np.pi)


def softplus(a: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, a)


def sigmoid(a: np.ndarray) -> np.ndarray:
    """σ(a) to full relative precision for either sign.

    ½(1 + tanh(a/2)) loses it as σ → 0: the sum cancels, and from a ≈ −37 on it returns exactly 0.
    """
    small = np.exp(-np.abs(a))
    return np.where(a >= 0.0, 1.0, small) / (1.0 + small)


def log_sigmoid(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """log σ(a) = −log(1 + e⁻ᵃ), accurate where σ(a) underflows (a ≲ −745) or rounds to 1.

    `out` may be `a` itself: the result is then written over it.
    """
    out = np.negative(a, out=out)
    return np.negative(np.logaddexp(0.0, out, out=out), out=out)


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


class LogisticVI(GaussianFamilyTarget):
    name = "logistic_vi"
    needs_reference = True
    curvatures = ("none", "fisher", "empirical_fisher")
    gradient_estimators = ("mc", "delta")
    observed_columns = ("mean_error", "test_log_loss")  # D = 31: never the one-dimensional case

    def __init__(
        self,
        prior_precision: float = 1.0,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        quadrature_nodes: int = 100,
    ):
        if not prior_precision > 0:
            raise SpecError("prior_precision", f"must be positive, got {prior_precision}")
        if not 0 < test_fraction < 1:
            raise SpecError("test_fraction", f"must lie in (0, 1), got {test_fraction}")
        if not (isinstance(quadrature_nodes, int) and quadrature_nodes >= 2):
            raise SpecError("quadrature_nodes", f"must be an integer ≥ 2, got {quadrature_nodes!r}")
        features, labels = load_breast_cancer()
        order = np.random.default_rng([SPLIT_STREAM, split_seed]).permutation(labels.size)
        n_test = int(round(test_fraction * labels.size))
        # The held-out log-loss averages over the test rows; the features are standardised by the
        # training rows' spread, which needs two rows at least (and then is checked below).
        if not 1 <= n_test <= labels.size - 2:
            raise SpecError(
                "test_fraction",
                f"{test_fraction} of {labels.size} rows leaves {n_test} to test and {labels.size - n_test} "
                "to train: needs at least 1 and 2",
            )
        test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
        # Standardised with the training split's statistics only: the test split stays unseen.
        centre, scale = features[train].mean(axis=0), features[train].std(axis=0)
        if not (scale > 0).all():
            raise SpecError(
                "test_fraction", f"{test_fraction} leaves a feature constant over the training rows"
            )

        def design(rows):
            return np.column_stack([(features[rows] - centre) / scale, np.ones(rows.size)])

        self.train_x, self.train_y = design(train), labels[train]
        self.test_x, self.test_y = design(test), labels[test]
        super().__init__(self.train_x.shape[1])
        self.prior_precision = float(prior_precision)
        self.nodes, self.weights = gauss_hermite(quadrature_nodes)
        with np.errstate(divide="ignore"):  # the outermost weights of a large rule underflow to 0
            self.log_weights = np.log(self.weights)
        self.delta = False
        self._reference: dict | None = None
        self._memo = None
        self._scratch = None
        self._test_scratch = None

    @classmethod
    def from_spec(cls, spec: dict) -> LogisticVI:
        return cls(
            prior_precision=spec.get("prior_precision", 1.0),
            test_fraction=spec.get("test_fraction", 0.2),
            split_seed=spec.get("split_seed", 0),
            quadrature_nodes=spec.get("quadrature_nodes", 100),
        )

    def set_gradient(self, gradient) -> None:
        if gradient == "delta":
            self.delta = True
            return
        super().set_gradient(gradient)

    # --- quadrature over the 1-D projections a ~ N(xᵀm, xᵀVx) ---
    def _projections(self, x, mean, cov):
        centre = mean @ x.T  # (B, N)
        spread = np.sqrt(np.maximum((np.matmul(x, cov) * x).sum(axis=-1), 0.0))  # √(xₙᵀVxₙ)
        return centre, spread

    def _nodes(self, centre, spread):
        return centre[..., None] + spread[..., None] * self.nodes  # (B, N, K)

    def _buffers(self, count: int) -> tuple[np.ndarray, ...]:
        """Four (count, nodes) float arrays and one boolean, made once per size and reused."""
        shape = (count, self.nodes.size)
        if self._scratch is None or self._scratch[0].shape != shape:
            self._scratch = tuple(np.empty(shape) for _ in range(4)) + (np.empty(shape, dtype=bool),)
        return self._scratch

    def _train_expectations(self, mean, cov):
        """Over the training projections: centre, spread, E[softplus(a)], E[σ(a)] and E[σ(a)z]/s.

        The runner asks for the loss and then the gradient of the same states: the last result is
        kept (checked by value, since a chart may hand over an array it later updates in place).
        """
        if (
            self._memo is not None
            and np.array_equal(self._memo[0], mean)
            and np.array_equal(self._memo[1], cov)
        ):
            return self._memo[2]
        centre, spread = self._projections(self.train_x, mean, cov)
        batch, count = centre.shape
        expected_softplus, probabilities, stein = (np.empty((batch, count)) for _ in range(3))
        # Run by run, in buffers kept between calls: one run's (N, nodes) arrays stay in cache, and
        # no step pays the page faults of fresh arrays of the whole batch's size. The operations
        # are those of the whole-batch expressions in the comments, in the same order, so every
        # number is the same.
        a, small, term, scratch, nonnegative = self._buffers(count)
        weighted_nodes = self.weights * self.nodes
        for run in range(batch):
            np.multiply(spread[run, :, None], self.nodes, out=a)
            a += centre[run, :, None]  # a = centre + spread·z
            # One exp for both functions, stable for either sign of a: small = exp(−|a|).
            np.exp(np.negative(np.abs(a, out=small), out=small), out=small)
            # softplus(a) = max(a, 0) + log1p(small)
            np.maximum(a, 0.0, out=term)
            term += np.log1p(small, out=scratch)
            np.matmul(term, self.weights, out=expected_softplus[run])
            # σ(a) = where(a ≥ 0, 1/(1 + small), small/(1 + small)), as small · (1/(1 + small))
            reciprocal = np.divide(1.0, np.add(small, 1.0, out=scratch), out=scratch)
            p = np.multiply(small, reciprocal, out=small)
            np.copyto(p, reciprocal, where=np.greater_equal(a, 0.0, out=nonnegative))
            np.matmul(p, self.weights, out=probabilities[run])
            np.matmul(p, weighted_nodes, out=stein[run])
        # ∂/∂s E[softplus(μ + sz)] / s = E[σ(a) z] / s, which is E[σ′(a)] by Stein's identity.
        stein /= spread
        result = (centre, spread, expected_softplus, probabilities, stein)
        self._memo = (mean.copy(), cov.copy(), result)
        return result

    def loss(self, canonical, log_det_cov=None):
        mean, cov = split(canonical, self.dim)
        centre, _, expected_softplus, _, _ = self._train_expectations(mean, cov)
        logdet = self._log_det_cov(canonical, log_det_cov)
        delta, dim = self.prior_precision, self.dim
        return (
            expected_softplus.sum(axis=1)
            - centre @ self.train_y
            + 0.5 * delta * ((mean**2).sum(axis=1) + np.trace(cov, axis1=1, axis2=2))
            - 0.5 * dim * np.log(delta / (2.0 * np.pi))
            - 0.5 * (dim * np.log(2.0 * np.pi * np.e) + logdet)
        )

    def _gradient(self, mean, probabilities):
        """E[∇ℓ] = Xᵀ(p − y) + δm."""
        return (probabilities - self.train_y) @ self.train_x + self.prior_precision * mean

    def _curvature(self, weights):
        """Xᵀdiag(weights)X + δI: E[∇²ℓ] for weights E[σ′(a)], or a surrogate of it."""
        x = self.train_x
        return np.matmul(x.T * weights[:, None, :], x) + self.prior_precision * np.eye(self.dim)

    def _assemble(self, mean, probabilities, curvature):
        return self._gradient(mean, probabilities), self._curvature(curvature)

    def expected_gradient_hessian(self, mean, cov):
        if self.delta:
            a = mean @ self.train_x.T
            # σ′ = σ(a)σ(−a): p(1 − p) loses σ′'s relative precision where p rounds to 1.
            return self._assemble(mean, sigmoid(a), sigmoid(a) * sigmoid(-a))
        _, _, _, probabilities, curvature = self._train_expectations(mean, cov)
        return self._assemble(mean, probabilities, curvature)

    def sampled_gradient_hessian(self, samples):
        a = samples @ self.train_x.T  # (B, S, N)
        p = sigmoid(a)
        return self._assemble(samples.mean(axis=1), p.mean(axis=1), (p * sigmoid(-a)).mean(axis=1))

    def estimate_grad(self, canonical, rngs=None):
        if self.delta:
            return self.grad(canonical)
        return super().estimate_grad(canonical, rngs)

    def empirical_fisher_direction(self, chart, theta, canonical, rngs=None):
        """NGD with E[∇²ℓ] replaced by Σₙ E[(σ(aₙ) − yₙ)²] xₙxₙᵀ + δI (the expected empirical Fisher).

        The expectations are taken like the row's gradient: quadrature, Monte Carlo or at the mean.
        """
        mean, cov = split(canonical, self.dim)
        y = self.train_y
        if self.mc_samples is not None:
            samples = self.draw_samples(canonical, rngs)
            p = sigmoid(samples @ self.train_x.T)  # (B, S, N)
            g_mean = self._gradient(samples.mean(axis=1), p.mean(axis=1))
            residual = ((p - y) ** 2).mean(axis=1)
        elif self.delta:
            p = sigmoid(mean @ self.train_x.T)
            g_mean = self._gradient(mean, p)
            residual = (p - y) ** 2
        else:
            centre, spread, _, p, _ = self._train_expectations(mean, cov)
            g_mean = self._gradient(mean, p)
            residual = (sigmoid(self._nodes(centre, spread)) - y[:, None]) ** 2 @ self.weights
        grad = join(g_mean, 0.5 * (self._curvature(residual) - cov_inverse(canonical, self.dim)))
        return chart.natural_gradient(theta, canonical, grad, None)

    def test_log_loss(self, canonical) -> np.ndarray:
        """Mean held-out log-loss −log p(yₙ | xₙ) of the predictive p(y = 1 | x) = E_q[σ(xᵀθ)].

        With σ(−a) = 1 − σ(a), p(y | x) = E_q[σ(±xᵀθ)] (+ for y = 1): its log is taken as
        log Σₖ wₖ σ(±aₖ) from log σ, never as log(p) or log(1 − p) of a rounded p, which is wrong
        once p (or 1 − p) falls below about 1e-16.
        """
        mean, cov = split(canonical, self.dim)
        centre, spread = self._projections(self.test_x, mean, cov)
        sign = (2.0 * self.test_y - 1.0)[:, None]
        log_predictive = np.empty(centre.shape)
        # Run by run in one reused buffer, as `_train_expectations`; the same operations as
        # −log_expectation(log_sigmoid(sign · a), log w) of the whole batch, in the same order.
        signed = self._test_buffer(centre.shape[1])
        for run in range(centre.shape[0]):
            np.multiply(spread[run, :, None], self.nodes, out=signed)
            signed += centre[run, :, None]
            signed *= sign
            log_predictive[run] = log_expectation(
                log_sigmoid(signed, out=signed), self.log_weights, out=signed
            )
        return -log_predictive.mean(axis=1)

    def _test_buffer(self, count: int) -> np.ndarray:
        if self._test_scratch is None or self._test_scratch.shape != (count, self.nodes.size):
            self._test_scratch = np.empty((count, self.nodes.size))
        return self._test_scratch

    def observe(self, canonical, chart):
        return np.column_stack([super().observe(canonical, chart)[:, 0], self.test_log_loss(canonical)])

    # --- the reference solution ---
    def reference_solution(self) -> dict:
        """The BLR fixed point of each family, from the prior, to stationarity (‖∇‖∞ ≤ 1e-8)."""
        families = {}
        for family, chart_name in ((FULL, "natural"), (MEAN_FIELD, "diagonal_natural")):
            chart = self.charts[chart_name]
            start = join(np.zeros((1, self.dim)), np.eye(self.dim)[None] / self.prior_precision)
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
                    f"logistic_vi reference ({family}) is not stationary: ‖∇‖∞ = {stationarity:.2e}"
                )
            mean, cov = split(canonical, self.dim)
            families[family] = {
                "optimum_loss": float(self.loss_at(chart, theta, canonical)[0]),
                "optimum_mean": mean[0].tolist(),
                "optimum_cov": cov[0].tolist(),
                "stationarity": stationarity,
                "test_log_loss": float(self.test_log_loss(canonical)[0]),
            }
        return {"optimum_loss": families[FULL]["optimum_loss"], "families": families}

    def with_reference(self, reference: dict) -> LogisticVI:
        self._reference = reference
        return self

    def _family_reference(self, family: str) -> dict:
        if self._reference is None:
            raise ValueError("logistic_vi needs its reference solution (f*): see reference_solution()")
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
