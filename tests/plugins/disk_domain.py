"""A plugin target whose domain is not a box over its init coordinates (tests/test_config_edges.py):
the config check can only count the starts outside it, not name a coordinate."""

import numpy as np

from ngbench.targets.quadratic import Quadratic

RADIUS = 2.0


class DiskDomain(Quadratic):
    """A quadratic defined on the open disk of radius 2 around the origin only."""

    def in_domain(self, canonical):
        return super().in_domain(canonical) & (np.linalg.norm(canonical, axis=1) < RADIUS)
