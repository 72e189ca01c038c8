"""Plugin targets with deliberate mistakes, as a user might make them: the checker and the config
check must catch each (tests/test_plugins.py). Loaded as plugins (`tests/plugins/broken_models.py:Name`),
never imported by the tests themselves."""

import numpy as np

from ngbench.targets.quadratic import Quadratic


class WrongGradient(Quadratic):
    """A(θ − θ*) with θ* taken as 0: right at the optimum the config rows use, wrong elsewhere."""

    def grad(self, canonical):
        return np.einsum("bi,ij->bj", canonical, self.matrix)


class WrongFisher(Quadratic):
    """The Fisher's off-diagonal forgotten: diag(A), symmetric and positive, but not E[s sᵀ] = A."""

    def fisher(self, canonical):
        return np.broadcast_to(np.diag(np.diag(self.matrix)), (canonical.shape[0], *self.matrix.shape))

    def hessian(self, canonical):  # Quadratic's is its Fisher: keep this one right
        return Quadratic.fisher(self, canonical)


class RaisesInFromSpec(Quadratic):
    @classmethod
    def from_spec(cls, spec):
        return cls(spec["matrix"], spec["optimum"]) if 1 / spec["scale"] else None


class RaisesInLoss(Quadratic):
    def loss(self, canonical):
        raise RuntimeError("the user's loss has a bug")


class NotATarget:
    pass
