"""Target registry: a config row's `target: {name: ..., ...}` becomes a Target through `make_target`."""

from __future__ import annotations

from ngbench.targets.base import Target
from ngbench.targets.gaussian_1d import Gaussian1D

TARGETS: dict[str, type[Target]] = {cls.name: cls for cls in (Gaussian1D,)}


def target_class(name: str) -> type[Target]:
    """The class behind a target name: its charts and methods are known without building it."""
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r} (known: {', '.join(sorted(TARGETS))})") from None


def make_target(spec: dict) -> Target:
    return target_class(spec["name"]).from_spec(spec)


__all__ = ["TARGETS", "Target", "make_target", "target_class"]
