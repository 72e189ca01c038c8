"""Mean NLL of a two-component 1-D Gaussian mixture over its two means (docs/maths.md §3).

ℒ(a, b) = −(1/N) Σₙ log[π N(xₙ; a, σ²) + (1−π) N(xₙ; b, σ²)], π ≠ ½ and σ² known, the data drawn
from the mixture with the config's true means and seed. The score of one datum is
s(x) = (r_a(x)(x−a), r_b(x)(x−b))/σ² and ∇ℒ = −meanₙ s(xₙ). Preconditioners:

* `fisher` (method ngd): the expected Fisher E_{x~p_θ}[s sᵀ], by Gauss–Hermite quadrature over each
  component, plus λI: it is exactly singular on the diagonal a = b.
* `empirical_fisher` (method ef): meanₙ s(xₙ)s(xₙ)ᵀ + λI, the ablation Kunstner et al. (2019) warn of.
* `complete_data_fisher` (method em): diag(meanₙ r_a, meanₙ r_b)/σ²; a step with ρ = 1 is one EM step.

f* has no closed form: `reference_solution` finds it once per experiment (a trust-region Newton solve
from several starts) and checks that it is stationary.
"""

from __future__ import annotations

import numpy as np

from ngbench import portable
from ngbench.charts import IdentityChart
from ngbench.memo import STEP
from ngbench.targets.base import SpecError, Target

# Data draws use their own stream, apart from the start draws of ngbench.experiments.
DATA_STREAM = 1
QUADRATURE_NODES = 80
STATIONARY_GRADIENT = 1e-8


class Mixture(Target):
    name = "mixture"
    state_names = ("theta_0", "theta_1")
    charts = {"identity": IdentityChart("identity")}
    curvatures = ("none", "fisher", "empirical_fisher", "complete_data_fisher", "hessian")
    needs_reference = True
    # No symbol: the subscript of θ₀ would be under 7 pt, or make the whole label 10 pt (plots.SCRIPT_SCALE).
    plot_labels = ("mean of component 0", "mean of component 1")

    def __init__(self, weight: float, var: float, means, n: int, data_seed: int, damping: float):
        if not 0 < weight < 1 or weight == 0.5:
            raise SpecError(
                "weight", f"must lie in (0, 1) and differ from 1/2 (label symmetry), got {weight}"
            )
        if not var > 0:
            raise SpecError("var", f"must be positive, got {var}")
        if not damping >= 0:
            raise SpecError("damping", f"must be ≥ 0, got {damping}")
        if len(means) != 2:
            raise SpecError("means", f"needs the two components' means, got {len(means)}")
        if not (isinstance(n, int) and n >= 2):
            raise SpecError("n", f"must be an integer ≥ 2, got {n!r}")
        self.weight = float(weight)
        self.var = float(var)
        self.true_means = np.asarray(means, dtype=float)
        self.damping = float(damping)
        rng = np.random.default_rng([DATA_STREAM, data_seed])
        first = rng.random(n) < weight
        self.data = np.where(first, self.true_means[0], self.true_means[1]) + np.sqrt(
            var
        ) * rng.standard_normal(n)
        # Logs and exponentials from ngbench.portable: EF runs pass near a saddle, where a last-bit
        # difference grows e-fold per step; with these every CPU computes the same trajectory.
        self.log_weights = np.array([portable.scalar_log(w) for w in (self.weight, 1.0 - self.weight)])
        self.log_normaliser = 0.5 * portable.scalar_log(2 * np.pi * self.var)
        self._reference: dict | None = None

    @classmethod
    def from_spec(cls, spec: dict) -> Mixture:
        return cls(spec["weight"], spec["var"], spec["means"], spec["n"], spec["data_seed"], spec["damping"])

    # --- per-datum pieces, batched: canonical (B, 2), points (B, M) → arrays (B, M, 2) ---------------

    def _pointwise(self, canonical, points):
        """The centred points x − θ_k, the log-joints log w_k + log N(x; θ_k, σ²) (each (B, M, 2)), their
        difference Δ and e^−|Δ| (B, M): what the loss and the scores at `points` share."""
        centred = points[..., None] - canonical[:, None, :]
        # log_weights − log_normaliser − centred² / 2σ², in place: the same operations in the same order.
        log_joint = np.square(centred)
        log_joint /= 2 * self.var
        np.subtract(self.log_weights - self.log_normaliser, log_joint, out=log_joint)
        difference = log_joint[..., 0] - log_joint[..., 1]
        # The same e^−|Δ| as portable.logaddexp takes of these log-joints: the loss reuses it.
        smaller = portable.exp(-np.abs(difference))
        return centred, log_joint, difference, smaller

    def _scores(self, canonical, points):
        """∇_θ log p(x | θ) at every point: (r_k (x − θ_k) / σ²)_k, and r, each of shape (B, M, 2)."""
        return self._scores_of(*self._pointwise(canonical, points))

    def _scores_of(self, centred, log_joint, difference, smaller):
        # Two components: r = (1, e)/(1 + e) with e = exp(−|Δ|) ≤ 1 for the larger log-joint first,
        # each share to full relative precision, with one exponential per point.
        larger_share = 1.0 / (1.0 + smaller)
        smaller_share = smaller * larger_share
        first_larger = difference >= 0
        responsibilities = np.empty(log_joint.shape)
        np.copyto(responsibilities[..., 0], np.where(first_larger, larger_share, smaller_share))
        np.copyto(responsibilities[..., 1], np.where(first_larger, smaller_share, larger_share))
        return responsibilities * centred / self.var, responsibilities

    # Within a runner step the loss, the gradient and the data's Fisher matrices are taken at the same
    # canonical array: its data terms are computed once (ngbench.memo; outside a step, every call).
    def _data_terms(self, canonical):
        return STEP.get("mixture_data", canonical, lambda: self._pointwise(canonical, self._data(canonical)))

    def _data_scores(self, canonical):
        return STEP.get("mixture_scores", canonical, lambda: self._scores_of(*self._data_terms(canonical)))

    def _data(self, canonical):
        return np.broadcast_to(self.data, (canonical.shape[0], self.data.size))

    def _damped(self, metric):
        return metric + self.damping * np.eye(2)

    # --- Target interface ---------------------------------------------------------------------------

    def loss(self, canonical):
        return self.datum_losses(canonical).mean(axis=1)

    def datum_losses(self, canonical):
        """−log p(xₙ | θ) of each datum, (B, N); the empirical Fisher is meanₙ ∇ℓₙ∇ℓₙᵀ of these."""
        _, log_joint, _, smaller = self._data_terms(canonical)
        return -portable.logaddexp_given(log_joint[..., 0], log_joint[..., 1], smaller)

    def grad(self, canonical):
        scores, _ = self._data_scores(canonical)
        return -scores.mean(axis=1)

    def hessian(self, canonical):
        """∇²ℒ = meanₙ[s sᵀ − diag(r_k((x−θ_k)²/σ⁴ − 1/σ²))]; indefinite between the modes."""
        scores, responsibilities = self._data_scores(canonical)
        centred = self._data_terms(canonical)[0] / self.var  # (x − θ_k)/σ², from the scores' x − θ_k
        curvature = responsibilities * (centred**2 - 1.0 / self.var)
        outer = np.einsum("bmi,bmj->bij", scores, scores) / self.data.size
        return outer - np.einsum("bmi,ij->bij", curvature, np.eye(2)) / self.data.size

    def fisher(self, canonical):
        """Expected Fisher E_{x~p_θ}[s sᵀ] + λI by Gauss–Hermite quadrature over each component."""
        nodes, node_weights = portable.hermite_gauss(QUADRATURE_NODES)
        # Points of component k sit at θ_k + σ z; the quadrature weight is w_k ω_z.
        points = (canonical[:, :, None] + np.sqrt(self.var) * nodes).reshape(canonical.shape[0], -1)
        weights = (np.array([self.weight, 1.0 - self.weight])[:, None] * node_weights).reshape(-1)
        scores, _ = self._scores(canonical, points)
        return self._damped(np.einsum("m,bmi,bmj->bij", weights, scores, scores))

    # The model whose Fisher `fisher` is (less λI, `damping`), for the conformance checker (ngbench.check).
    def sample_model(self, canonical, rng, count):
        first = rng.random((canonical.shape[0], count)) < self.weight
        means = np.where(first, canonical[:, :1], canonical[:, 1:2])
        return means + np.sqrt(self.var) * rng.standard_normal(means.shape)

    def model_log_density(self, canonical, draws):
        _, log_joint, _, smaller = self._pointwise(canonical, draws)
        return portable.logaddexp_given(log_joint[..., 0], log_joint[..., 1], smaller)

    def empirical_fisher(self, canonical):
        scores, _ = self._data_scores(canonical)
        return self._damped(np.einsum("bmi,bmj->bij", scores, scores) / self.data.size)

    def complete_data_fisher(self, canonical):
        _, responsibilities = self._data_scores(canonical)
        return np.einsum("bk,kl->bkl", responsibilities.mean(axis=1) / self.var, np.eye(2))

    # --- optimum ------------------------------------------------------------------------------------

    def reference_solution(self) -> dict:
        """Every local minimum found from several starts, the best one as f*; checked stationary."""
        from scipy.optimize import minimize

        quartiles = np.quantile(self.data, [0.25, 0.75])
        starts = [self.true_means, self.true_means[::-1], quartiles, quartiles[::-1]]
        optima = []
        for start in starts:
            solution = minimize(
                lambda t: self.loss(t[None, :])[0],
                np.asarray(start, dtype=float),
                jac=lambda t: self.grad(t[None, :])[0],
                hess=lambda t: self.hessian(t[None, :])[0],
                method="trust-exact",
                options={"gtol": 1e-12, "maxiter": 1000},
            )
            point = solution.x
            gradient_norm = float(np.linalg.norm(self.grad(point[None, :])[0]))
            if gradient_norm > STATIONARY_GRADIENT:
                raise RuntimeError(
                    f"reference solve from {start} stopped at a non-stationary point "
                    f"(|grad| = {gradient_norm:.3g})"
                )
            if np.linalg.eigvalsh(self.hessian(point[None, :])[0]).min() <= 0:
                continue  # a saddle, not a minimum
            if not any(np.allclose(point, known["optimum"], atol=1e-6) for known in optima):
                optima.append(
                    {
                        "optimum": point.tolist(),
                        "loss": float(self.loss(point[None, :])[0]),
                        "gradient_norm": gradient_norm,
                    }
                )
        optima.sort(key=lambda o: o["loss"])
        best = optima[0]
        return {
            "optimum_loss": best["loss"],
            "optimum": best["optimum"],
            "gradient_norm": best["gradient_norm"],
            "local_minima": optima,
        }

    def with_reference(self, reference: dict) -> Mixture:
        self._reference = reference
        return self

    def _require_reference(self) -> dict:
        if self._reference is None:
            raise RuntimeError("the mixture's f* comes from a reference solve: call with_reference first")
        return self._reference

    @property
    def optimum_loss(self) -> float:
        return self._require_reference()["optimum_loss"]

    def optimum(self) -> np.ndarray:
        return np.asarray(self._require_reference()["optimum"])

    def landmarks(self) -> np.ndarray:
        return np.array([m["optimum"] for m in self._require_reference()["local_minima"]])
