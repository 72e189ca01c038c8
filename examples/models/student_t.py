"""A user's model for ngbench: the location and scale of Newcomb's speed-of-light data, robustly.

Newcomb's 66 measurements (1882; deviations from 24 800 ns, in `newcomb.csv`) hold two outliers,
−44 and −2. A Student-t model with ν degrees of freedom, x ~ μ + σ t_ν, shrugs them off; the loss
is its mean negative log-likelihood up to a constant,

    ℒ(μ, σ) = log σ + (ν+1)/2 · meanₙ log(1 + zₙ²/ν),   zₙ = (xₙ − μ)/σ,

and its Fisher in (μ, σ) is diag((ν+1)/((ν+3)σ²), 2ν/((ν+3)σ²)) (Lange, Little & Taylor 1989).
Charts: `location_scale` (μ, σ), on which GD and NGD differ, and `location_log_scale` (μ, log σ),
with the closed-form natural gradient the checker holds against the generic solve.

Nothing here edits ngbench: the class is named in a config row as
`target: {plugin: models/student_t.py:StudentT, dof: 4}` and checked by
`python -m ngbench.check models/student_t.py:StudentT --spec '{"dof": 4}'`.
"""

from pathlib import Path

import numpy as np

from ngbench import portable
from ngbench.charts import Chart, IdentityChart
from ngbench.targets.base import Interval, SpecError, Target

DATA = Path(__file__).parent / "newcomb.csv"


class LocationLogScale(Chart):
    """θ = (μ, log σ)."""

    name = "location_log_scale"
    coordinate_names = ("location", "log_scale")

    def __init__(self, dof: float):
        self.dof = dof  # the closed-form natural gradient needs ν

    def to_canonical(self, theta):
        return np.stack([theta[:, 0], portable.exp(theta[:, 1])], axis=1)

    def from_canonical(self, canonical):
        return np.stack([canonical[:, 0], portable.log(canonical[:, 1])], axis=1)

    def jacobian(self, theta):
        jacobian = np.zeros((theta.shape[0], 2, 2))
        jacobian[:, 0, 0] = 1.0
        jacobian[:, 1, 1] = portable.exp(theta[:, 1])
        return jacobian

    def natural_gradient(self, theta, canonical, grad_canonical, fisher):
        # F in (μ, log σ) is diag((ν+1)/((ν+3)σ²), 2ν/(ν+3)): no solve needed.
        dof, scale = self.dof, canonical[:, 1]
        return np.stack(
            [
                grad_canonical[:, 0] * scale**2 * (dof + 3) / (dof + 1),
                grad_canonical[:, 1] * scale * (dof + 3) / (2 * dof),
            ],
            axis=1,
        )


class StudentT(Target):
    name = "student_t"
    # Trajectory files keep the coordinates named theta_0, theta_1 (ngbench.io.STATE_COLUMNS): μ and σ.
    state_names = ("theta_0", "theta_1")
    curvatures = ("none", "fisher")  # the Fisher is offered: gd, ngd, adam and the other methods run
    needs_reference = True  # no closed-form optimum: `reference_solution` finds it
    plot_labels = ("location $\\mu$", "scale $\\sigma$")
    init_domains = {"theta_1": Interval(0.0, np.inf, "a scale must be > 0")}
    # The fields a config row may give, checked before any job (the row is named in the message).
    spec_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["dof"],
        "properties": {"dof": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000}},
    }
    # Starts for `python -m ngbench.check` when no --init is given.
    example_init = {"theta_0": {"uniform": [10.0, 40.0]}, "theta_1": {"loguniform": [2.0, 20.0]}}

    def __init__(self, dof: float):
        if not dof > 0:
            raise SpecError("dof", f"must be > 0, got {dof}")
        self.dof = float(dof)
        self.data = np.loadtxt(DATA, delimiter=",", skiprows=1)
        self.charts = {
            "location_scale": IdentityChart("location_scale", ("location", "scale")),
            "location_log_scale": LocationLogScale(self.dof),
        }
        self._reference = None

    @classmethod
    def from_spec(cls, spec):
        return cls(spec["dof"])

    def _standardised(self, canonical):
        location, scale = canonical[:, :1], canonical[:, 1:]
        return (self.data - location) / scale, scale[:, 0]

    def loss(self, canonical):
        z, scale = self._standardised(canonical)
        return portable.log(scale) + 0.5 * (self.dof + 1) * portable.log1p(z**2 / self.dof).mean(axis=1)

    def grad(self, canonical):
        z, scale = self._standardised(canonical)
        weight = (self.dof + 1) / (self.dof + z**2)  # the t model's down-weighting of outliers
        g_location = -(weight * z).mean(axis=1) / scale
        g_scale = (1.0 - (weight * z**2).mean(axis=1)) / scale
        return np.stack([g_location, g_scale], axis=1)

    def fisher(self, canonical):
        scale = canonical[:, 1]
        fisher = np.zeros((canonical.shape[0], 2, 2))
        fisher[:, 0, 0] = (self.dof + 1) / ((self.dof + 3) * scale**2)
        fisher[:, 1, 1] = 2 * self.dof / ((self.dof + 3) * scale**2)
        return fisher

    # The distribution whose Fisher `fisher` is, for the checker's Monte Carlo of the score.
    def sample_model(self, canonical, rng, count):
        draws = rng.standard_t(self.dof, size=(canonical.shape[0], count))
        return canonical[:, :1] + canonical[:, 1:] * draws

    def model_log_density(self, canonical, draws):
        z = (draws - canonical[:, :1]) / canonical[:, 1:]
        return -np.log(canonical[:, 1:]) - 0.5 * (self.dof + 1) * np.log1p(z**2 / self.dof)

    def reference_solution(self):
        from scipy.optimize import minimize

        start = np.array([np.median(self.data), np.median(np.abs(self.data - np.median(self.data)))])
        solution = minimize(
            lambda t: self.loss(t[None, :])[0],
            start,
            jac=lambda t: self.grad(t[None, :])[0],
            method="BFGS",
            options={"gtol": 1e-12, "maxiter": 1000},
        )
        gradient_norm = float(np.linalg.norm(self.grad(solution.x[None, :])[0]))
        if gradient_norm > 1e-8:
            raise RuntimeError(f"the reference solve stopped at |grad| = {gradient_norm:.3g}")
        return {
            "optimum_loss": float(self.loss(solution.x[None, :])[0]),
            "optimum": solution.x.tolist(),
            "gradient_norm": gradient_norm,
        }

    def with_reference(self, reference):
        self._reference = reference
        return self

    @property
    def optimum_loss(self):
        return self._reference["optimum_loss"]

    def optimum(self):
        return np.asarray(self._reference["optimum"])
