"""Adapter: trajectories of one seed → a paths-over-contours figure (PNG and PDF)."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from ngbench.io import damaged_inputs_end_the_job, read_json, read_trajectories
from ngbench.plots import plot_paths, provenance, save_figure, select_paths
from ngbench.targets import make_target

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
figure, tolerance = snakemake.params.spec["figure"], snakemake.params.spec["tolerance"]
with damaged_inputs_end_the_job():
    reference = read_json(snakemake.input.reference) if hasattr(snakemake.input, "reference") else None
    trajectories = read_trajectories(snakemake.input.trajectories)
target = make_target(snakemake.params.spec["target"], reference)
paths = select_paths(
    trajectories, figure["parameterization"], figure["seed"], figure["learning_rates"], tolerance
)
drawn = plot_paths(target, paths, figure["title"], tolerance, snakemake.params.preset)
source = provenance(snakemake.params.rows)
save_figure(drawn, snakemake.output.png, snakemake.output.pdf, figure["title"], source)
