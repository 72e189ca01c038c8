"""Exact identities between methods, computed by the pipeline so that a ledger entry can check them.

- Delta-method BLR is Newton (Khan & Rue 2023, JMLR 24(281); docs/maths.md §2.6): the Bayesian
  learning rule in natural parameters with E_q[f] replaced by f(m) (`gradient: delta`) at ρ = 1 moves
  the mean exactly as Newton's method moves θ on the MAP loss ℓ(θ) = Σᵢ log(1 + e^{−yᵢxᵢᵀθ}) + δ/2·‖θ‖².
  Both are run here from θ = m = 0 (the BLR's covariance starting at I): the BLR by the library's own
  natural-gradient step, Newton written out from the data (sigmoid, gradient, Hessian), sharing none of
  that code. The table says whether the largest difference of the two iterates, relative to Newton's,
  is within TOLERANCE at every step: the difference itself is rounding (~1e-13), whose last digits
  differ from one CPU to another, so it goes to the job's log, not to a table held to the
  reproducibility contract.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ngbench.methods import natural_gradient
from ngbench.targets import make_target
from ngbench.targets.gaussian_family import join, split

IDENTITY_COLUMNS = ["experiment", "identity", "steps", "tolerance", "holds"]
TOLERANCE = 1.0e-10
NEWTON_STEPS = 6  # Newton converges quadratically: six steps reach the optimum to rounding


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def delta_blr_against_newton(
    target_spec: dict, experiment: str, steps: int = NEWTON_STEPS
) -> tuple[pd.DataFrame, float]:
    """The identity's table row, and the largest relative difference found."""
    target = make_target({**target_spec}, gradient="delta")
    chart = target.chart("natural")
    x, y, delta, dim = target.train_x, target.train_y, target.prior_precision, target.dim
    newton = np.zeros(dim)
    theta = chart.from_canonical(join(newton[None], np.eye(dim)[None]))
    worst = 0.0
    for _ in range(steps):
        p = _sigmoid(x @ newton)
        gradient = x.T @ (p - y) + delta * newton
        hessian = x.T @ ((p * (1 - p))[:, None] * x) + delta * np.eye(dim)
        newton = newton - np.linalg.solve(hessian, gradient)
        theta = theta - 1.0 * natural_gradient(target, chart, theta, chart.to_canonical(theta))
        mean = split(chart.to_canonical(theta), dim)[0][0]
        worst = max(worst, float(np.max(np.abs(mean - newton)) / max(1.0, float(np.max(np.abs(newton))))))
    row = {
        "experiment": experiment,
        "identity": "delta_blr_is_newton",
        "steps": steps,
        "tolerance": TOLERANCE,
        "holds": bool(worst <= TOLERANCE),
    }
    return pd.DataFrame([row], columns=IDENTITY_COLUMNS), worst
