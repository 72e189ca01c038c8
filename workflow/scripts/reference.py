"""Adapter: a target's spec → its reference solution (f*, local minima) as JSON."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from ngbench.io import write_json
from ngbench.solve import reference_solution

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
write_json(reference_solution(snakemake.params.target), snakemake.output[0])
