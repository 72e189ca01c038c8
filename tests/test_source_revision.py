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


def test_changed_sources_mark_the_revision_dirty_and_a_hanging_git_is_not_waited_for(monkeypatch):
    """git answered by a stand-in: a checkout whose src/ differs from its commit, then a git that
    hangs (each call must carry a time limit, or a stuck git stalls every solver job)."""
    calls = []

    def git(command, **options):
        calls.append(options)
        if options.get("timeout") is None:
            raise AssertionError(f"git called without a time limit: {command}")
        out = "0123abc\n" if "rev-parse" in command else " M src/ngbench/solve.py\n"
        return subprocess.CompletedProcess(command, 0, stdout=out, stderr="")

    monkeypatch.setattr(subprocess, "run", git)
    assert source_revision() == "0123abc+dirty"
    assert len(calls) == 2

    def hanging_git(command, **options):
        raise subprocess.TimeoutExpired(command, options["timeout"])

    monkeypatch.setattr(subprocess, "run", hanging_git)
    assert source_revision() == "unknown"
