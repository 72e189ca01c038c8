"""The elliptical quadratic ½(θ−θ*)ᵀA(θ−θ*): the NLL of x ~ N(θ, A⁻¹), whose Fisher in θ is A.

NGD is therefore Newton's method here and its iterates are e_t = (1−ρ)ᵗe₀; GD's are (I−ρA)ᵗe₀
(docs/maths.md §2.5). Charts: `identity`, and `linear` (θ = Bφ, B from the config) on which GD changes
and NGD does not: the invariance is exact for affine charts.
"""

from __future__ import annotations

import numpy as np

from ngbench import portable
from ngbench.charts import Chart, IdentityChart
from ngbench.targets.base import SpecError, Target


class LinearChart(Chart):
    """θ = Bφ for an invertible B."""

    name = "linear"
    affine = True

    def __init__(self, matrix: np.ndarray, coordinate_names: tuple[str, ...]):
        self.matrix = matrix
        self.inverse = portable.inverse_2x2(matrix) if matrix.shape == (2, 2) else np.linalg.inv(matrix)
        self.coordinate_names = coordinate_names

    # Products by einsum, not `@`: `@` calls a BLAS kernel chosen per CPU, einsum sums in one order.
    def to_canonical(self, theta):
        return np.einsum("ij,bj->bi", self.matrix, theta)

    def from_canonical(self, canonical):
        return np.einsum("ij,bj->bi", self.inverse, canonical)

    def jacobian(self, theta):
        return np.broadcast_to(self.matrix, (theta.shape[0], *self.matrix.shape))

    def pullback_gradient(self, theta, grad_canonical):
        return np.einsum("bi,ij->bj", grad_canonical, self.matrix)


def rotated_matrix(eigenvalues, angle_degrees: float = 0.0) -> np.ndarray:
    """diag(eigenvalues), rotated by `angle_degrees` in 2-D: A = R diag(λ) Rᵀ."""
    eigenvalues = np.asarray(eigenvalues, dtype=float)
    if angle_degrees and eigenvalues.size != 2:
        raise SpecError("angle_degrees", "applies to 2-D quadratics only")
    for index, value in enumerate(eigenvalues):
        if not value > 0:
            raise SpecError(f"eigenvalues.{index}", f"must be > 0, got {value}")
    if eigenvalues.size != 2:
        return np.diag(eigenvalues)
    # Correctly rounded cosine and sine: numpy's may differ in the last bit from one CPU to another.
    cos, sin = portable.cos_sin_degrees(angle_degrees)
    rotation = np.array([[cos, -sin], [sin, cos]])
    return np.einsum("ik,k,jk->ij", rotation, eigenvalues, rotation)


def _float_array(value, field: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=float)
    except ValueError:  # ragged rows
        raise SpecError(field, "rows must all have the same length") from None


MATRIX_FIELDS = ("matrix", "eigenvalues", "condition_number")


class Quadratic(Target):
    name = "quadratic"
    curvatures = ("none", "fisher", "hessian")
    plot_labels = ("$\\theta_0$", "$\\theta_1$")

    def __init__(self, matrix, optimum, linear_map=None, matrix_field: str = "matrix"):
        """`matrix_field` names the config field A came from (`matrix`, or `eigenvalues` it was built of)."""
        matrix = _float_array(matrix, matrix_field)
        optimum = _float_array(optimum, "optimum")
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise SpecError(matrix_field, f"matrix must be square, got shape {matrix.shape}")
        if optimum.shape != (matrix.shape[0],):
            raise SpecError(
                "optimum",
                f"has {optimum.size} entries, the matrix is {matrix.shape[0]}×{matrix.shape[0]}",
            )
        if not np.allclose(matrix, matrix.T, rtol=1e-12, atol=1e-12 * np.abs(matrix).max()):
            raise SpecError(matrix_field, "matrix must be symmetric")
        if np.linalg.eigvalsh(matrix).min() <= 0:
            raise SpecError(matrix_field, "matrix must be positive definite")
        self.matrix = matrix
        self.theta_star = optimum
        self.state_names = tuple(f"theta_{i}" for i in range(optimum.size))
        self.charts = {"identity": IdentityChart("identity", self.state_names)}
        if linear_map is not None:
            linear_map = _float_array(linear_map, "linear_map")
            if linear_map.shape != matrix.shape:
                raise SpecError(
                    "linear_map", f"must be {matrix.shape[0]}×{matrix.shape[0]}, got shape {linear_map.shape}"
                )
            if np.linalg.cond(linear_map) > 1e12:
                raise SpecError("linear_map", "must be invertible (condition number ≤ 1e12)")
            names = tuple(f"phi_{i}" for i in range(optimum.size))
            self.charts["linear"] = LinearChart(linear_map, names)

    @classmethod
    def from_spec(cls, spec: dict) -> Quadratic:
        """A from exactly one of `matrix`, `eigenvalues` or `condition_number` κ (eigenvalues 1 and κ:
        the scalar a row can sweep, `condition_number: {sweep: [...]}`)."""
        given = [field for field in MATRIX_FIELDS if field in spec]
        if len(given) != 1:
            named = " and ".join(given) if given else "none"
            raise SpecError(
                given[-1] if given else "",
                f"give exactly one of {', '.join(MATRIX_FIELDS)} (got {named})",
            )
        field = given[0]
        if field == "matrix":
            if "angle_degrees" in spec:
                raise SpecError("angle_degrees", "rotates eigenvalues or condition_number, not a matrix")
            matrix = spec["matrix"]
        else:
            eigenvalues = spec["eigenvalues"] if field == "eigenvalues" else [1.0, spec["condition_number"]]
            if field == "condition_number" and not spec["condition_number"] >= 1:
                raise SpecError(field, f"must be ≥ 1, got {spec['condition_number']}")
            matrix = rotated_matrix(eigenvalues, spec.get("angle_degrees", 0.0))
        return cls(matrix, spec["optimum"], spec.get("linear_map"), matrix_field=field)

    @property
    def optimum_loss(self) -> float:
        return 0.0

    def optimum(self) -> np.ndarray:
        return self.theta_star

    def loss(self, canonical):
        error = canonical - self.theta_star
        return 0.5 * np.einsum("bi,ij,bj->b", error, self.matrix, error)

    def grad(self, canonical):
        return np.einsum("bi,ij->bj", canonical - self.theta_star, self.matrix)

    def fisher(self, canonical):
        return np.broadcast_to(self.matrix, (canonical.shape[0], *self.matrix.shape))

    def hessian(self, canonical):
        return self.fisher(canonical)

    # The distribution whose Fisher is A, x ~ N(θ, A⁻¹), for the conformance checker (ngbench.check).
    def sample_model(self, canonical, rng, count):
        noise = rng.standard_normal((canonical.shape[0], count, canonical.shape[1]))
        factor = np.linalg.cholesky(np.linalg.inv(self.matrix))
        return canonical[:, None, :] + np.einsum("ij,bnj->bni", factor, noise)

    def model_log_density(self, canonical, draws):
        error = draws - canonical[:, None, :]
        return -0.5 * np.einsum("bni,ij,bnj->bn", error, self.matrix, error)
