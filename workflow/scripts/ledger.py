"""Adapter: the config's claims and the tables they name → the ledger (ngbench.ledger)."""

import logging
import sys
from pathlib import Path

# This checkout's library, the one the rule's `library` param hashes (see workflow/rules/common.smk).
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

import pandas as pd

from ngbench.io import write_text
from ngbench.ledger import Claim, ledger, to_markdown

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO, format="%(message)s")
claims = [Claim(**claim) for claim in snakemake.params.claims]
tables = {path: pd.read_csv(path) for path in snakemake.input}
result = ledger(claims, tables)
write_text(result.to_csv(index=False), snakemake.output.csv)
write_text(to_markdown(result), snakemake.output.markdown)
