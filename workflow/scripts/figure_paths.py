"""Adapter: trajectories of one seed → a paths-over-contours figure (PNG and PDF)."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))


from ngbench.io import read_trajectories
from ngbench.plots import plot_paths, save_figure, select_paths
from ngbench.targets import make_target

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
figure = snakemake.params.spec["figure"]
paths = select_paths(
    read_trajectories(snakemake.input), figure["parameterization"], figure["seed"], figure["learning_rates"]
)
target = make_target(snakemake.params.spec["target"])
save_figure(plot_paths(target, paths, figure["title"]), snakemake.output.png, snakemake.output.pdf)
