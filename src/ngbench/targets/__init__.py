"""Target registry: a config row's `target: {name: ..., ...}` becomes a Target through `make_target`.

A row's `target: {plugin: path/file.py:Class, ...}` names a user's class instead (`ngbench.plugins`).
"""

from __future__ import annotations

from ngbench.targets.base import SpecError, Target
from ngbench.targets.gaussian_1d import Gaussian1D
from ngbench.targets.gaussian_family import GaussianND
from ngbench.targets.glm_vi import GLMVI
from ngbench.targets.logistic_vi import LogisticVI
from ngbench.targets.mixture import Mixture
from ngbench.targets.quadratic import Quadratic

TARGETS: dict[str, type[Target]] = {
    cls.name: cls for cls in (Gaussian1D, Quadratic, Mixture, GaussianND, LogisticVI, GLMVI)
}


def make_target(spec: dict, reference: dict | None = None, gradient=None) -> Target:
    """Build a target from a config row's `target` mapping; a SpecError names the field at fault.

    `reference` is the reference solution of a target whose f* has no closed form; `gradient` the
    row's gradient estimator (None or "exact", "delta", or {"mc": S} where the target has one).
    """
    if "plugin" in spec:
        from ngbench.plugins import build_plugin  # here: ngbench.plugins imports this package

        target = build_plugin(spec)
    else:
        target = _registered(spec)
    target.set_gradient(gradient)
    if reference is not None:
        target.with_reference(reference)
    return target


def _registered(spec: dict) -> Target:
    try:
        cls = TARGETS[spec["name"]]
    except KeyError:
        raise SpecError(
            "name", f"unknown target {spec['name']!r} (known: {', '.join(sorted(TARGETS))})"
        ) from None
    return cls.from_spec(spec)


__all__ = ["TARGETS", "SpecError", "Target", "make_target"]
