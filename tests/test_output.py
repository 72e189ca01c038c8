"""What `snakemake` prints by default (profiles/default): a line a job, errors in full."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def test_the_default_profile_quiets_only_the_header_and_the_reasons():
    profile = yaml.safe_load((REPO / "profiles" / "default" / "config.yaml").read_text())
    # Quieting `rules` would also drop a failing job's error block (Snakemake files both under it),
    # `progress` the "N of M steps done" a user watches, `all` everything.
    assert set(profile["quiet"]) == {"host", "reason"}
    assert profile["show-failed-logs"] is True


def test_every_rule_says_in_a_few_words_what_its_job_does():
    """A rule with a `message:` is printed as one line ('Job 3: solve row/chart') instead of ~8."""
    files = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    rules = {}
    for path in files:
        for block in re.split(r"^(?=(?:rule|checkpoint) \w+:)", path.read_text(), flags=re.MULTILINE)[1:]:
            name = re.match(r"(?:rule|checkpoint) (\w+):", block).group(1)
            message = re.search(r"^    message:\n        \"([^\"]+)\"", block, flags=re.MULTILINE)
            rules[name] = message and message.group(1)
    assert {"all", "solve", "aggregate", "analysis_figures"} <= set(rules)
    assert all(rules.values()), [name for name, message in rules.items() if not message]
    assert all(len(message) <= 80 for message in rules.values()), rules
