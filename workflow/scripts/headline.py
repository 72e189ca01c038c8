"""Adapter: every experiment's claims → the README's results block (results/tables/headline.md)."""

import logging
import sys
from pathlib import Path

# This checkout's library (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from ngbench.headline import headline
from ngbench.io import write_text

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
sections = [Path(path).read_text() for path in snakemake.input]
write_text(headline(sections), snakemake.output[0])
