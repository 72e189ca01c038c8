"""What a method is called: a bare direction function wrapped as a method (tests and the audit pass
them to the runner) takes its function's name, and a config variant's long name is its label with the
settings it was given."""

from __future__ import annotations

from functools import partial

import numpy as np

from ngbench.methods import REGISTRY, as_method, make_method


def steepest_descent(target, chart, theta, canonical, context=None):
    return np.ones_like(theta)


def test_a_bare_direction_is_a_method_named_after_its_function():
    method = as_method(steepest_descent)
    assert (method.name, method.base, method.preconditioner) == ("steepest_descent",) * 2 + ("none",)
    theta = np.zeros((2, 3))
    np.testing.assert_array_equal(method(None, None, theta, theta), np.ones((2, 3)))
    assert as_method(method) is method


def test_a_direction_without_a_name_is_called_direction():
    method = as_method(partial(steepest_descent))
    assert (method.name, method.base) == ("direction", "direction")


def test_a_variant_s_long_name_says_its_settings_and_a_default_keeps_the_registry_s():
    variant = make_method({"adam": {"beta2": 0.99}})
    assert variant.long_name == variant.label == f"{REGISTRY['adam'].label} (beta2=0.99)"
    assert variant.long_name != REGISTRY["adam"].long_name
    assert make_method("adam").long_name == REGISTRY["adam"].long_name
