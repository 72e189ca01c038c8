"""Every result file's provenance names the git commit of the library that computed it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ngbench.solve import source_revision


def _head_of_this_checkout() -> str | None:
    done = subprocess.run(
        ["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def test_the_source_revision_is_the_commit_of_the_checkout():
    head = _head_of_this_checkout()
    if head is None:
        pytest.skip("not a git checkout (an unpacked release): the revision is 'unknown' there")
    revision = source_revision()
    assert revision in (head, head + "+dirty")
