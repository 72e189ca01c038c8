"""Bayesian logistic regression on the Wisconsin breast-cancer data: Gaussian VI of its posterior.

docs/maths.md §5. The `glm_vi` target (ngbench.targets.glm_vi) with the `bernoulli_logit` likelihood
on the CSV shipped in ngbench/data: ℓ(θ) = Σₙ[softplus(aₙ) − yₙaₙ] + (δ/2)‖θ‖² with aₙ = xₙᵀθ over the
training split, the 30 features standardised by the training rows, and a bias column. Expectations by
Gauss–Hermite quadrature (100 nodes unless the row says otherwise: fewer are not accurate on this
posterior, see the README).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ngbench.targets.glm_vi import GLMVI, gauss_hermite, log_expectation
from ngbench.targets.likelihoods import BernoulliLogit, log_sigmoid, sigmoid, softplus

DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "breast_cancer.csv"

__all__ = [
    "LogisticVI",
    "gauss_hermite",
    "load_breast_cancer",
    "log_expectation",
    "log_sigmoid",
    "sigmoid",
    "softplus",
]


def load_breast_cancer() -> tuple[np.ndarray, np.ndarray]:
    """Features (569, 30) and labels (1 = benign) of the file in ngbench/data (see its README)."""
    table = np.loadtxt(DATA_FILE, delimiter=",", skiprows=1)
    return table[:, :-1], table[:, -1]


class LogisticVI(GLMVI):
    name = "logistic_vi"

    @classmethod
    def from_spec(cls, spec: dict) -> LogisticVI:
        features, labels = load_breast_cancer()
        return cls(
            features,
            labels,
            BernoulliLogit(),
            prior_precision=spec.get("prior_precision", 1.0),
            test_fraction=spec.get("test_fraction", 0.2),
            split_seed=spec.get("split_seed", 0),
            quadrature_nodes=spec.get("quadrature_nodes", 100),
        )
