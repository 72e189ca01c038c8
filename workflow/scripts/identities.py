"""Adapter: an experiment's target → the exact identities the pipeline checks on it (ngbench.identities)."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from ngbench.identities import delta_blr_against_newton
from ngbench.io import write_text

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
table, worst = delta_blr_against_newton(snakemake.params.target, snakemake.wildcards.experiment)
logging.info("delta-method BLR against Newton: largest relative difference %.3e", worst)
write_text(table.to_csv(index=False), snakemake.output[0])
