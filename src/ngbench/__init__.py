"""ngbench: natural gradient versus gradient descent, benchmarked reproducibly.

The package owns the maths (targets, charts, methods, the vectorized runner, statistics, figures)
and never imports snakemake. Keep this module light: the Snakefile imports `ngbench.experiments`
at parse time, and every cluster job re-parses the Snakefile.
"""

__version__ = "0.1.0"
