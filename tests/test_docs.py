"""The documentation exists where it is referenced: section citations, links and test names resolve."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MATHS = REPO / "docs" / "maths.md"
# Where citations may live: the library, workflow, tests, config, benchmarks, docs and the top level.
CITING_DIRECTORIES = ("src", "workflow", "tests", "config", "benchmarks", "docs")
CITING_SUFFIXES = {".py", ".smk", ".md", ".yaml", ".yml", ".rst", ".toml"}
TOP_LEVEL_FILES = ("README.md", "Snakefile", "pyproject.toml")

SECTION = r"§\d+(?:\.\d+)?"
# "docs/maths.md §1.2", "docs/maths.md §1.2, §2.3, §5" and "docs/maths.md §1.2 and §2.3".
CITATION = re.compile(rf"docs/maths\.md((?:\s*(?:,|and)?\s*{SECTION})+)")
HEADING = re.compile(rf"^#+\s+({SECTION})\s", re.MULTILINE)
# Markdown links and images: [text](target) and ![alt](target).
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
TEST_REFERENCE = re.compile(r"tests/([\w/]+\.py)::(\w+)")
# The old name of the reference, which is not in the repository, split so this file does not match.
OLD_NAME = "MATH" + ".md"


def citing_files() -> list[Path]:
    files = [REPO / name for name in TOP_LEVEL_FILES if (REPO / name).exists()]
    for directory in CITING_DIRECTORIES:
        files += [
            path
            for path in sorted((REPO / directory).rglob("*"))
            if path.is_file() and path.suffix in CITING_SUFFIXES and "__pycache__" not in path.parts
        ]
    return files


def sections() -> set[str]:
    return set(HEADING.findall(MATHS.read_text()))


def test_maths_has_the_cited_section_numbers():
    """The numbering the citations were written against: §0, §1.1–§1.3, §2.1–§2.7, §3 and §5."""
    expected = {"§0", "§1", "§1.1", "§1.2", "§1.3", "§2", "§3", "§5"} | {f"§2.{i}" for i in range(1, 8)}
    assert expected <= sections()


def test_every_maths_citation_names_an_existing_section():
    known = sections()
    cited = 0
    missing = []
    for path in citing_files():
        for line_number, line in enumerate(path.read_text().splitlines(), 1):
            for match in CITATION.finditer(line):
                for section in re.findall(SECTION, match.group(1)):
                    cited += 1
                    if section not in known:
                        missing.append(f"{path.relative_to(REPO)}:{line_number}: {section}")
    assert cited > 50  # the README, library, config and tests cite it throughout
    assert not missing, "sections cited but not in docs/maths.md:\n" + "\n".join(missing)


def test_bare_section_references_inside_the_docs_exist():
    """A "§2.4" inside docs/*.md means a section of docs/maths.md ("issue 14 §1" is an issue's)."""
    known = sections()
    missing = []
    for path in sorted((REPO / "docs").glob("*.md")):
        text = path.read_text()
        for match in re.finditer(rf"(?<!issue 14 )({SECTION})", text):
            if match.group(1) not in known:
                missing.append(f"{path.name}: {match.group(1)}")
    assert not missing, missing


def test_no_citation_of_a_file_outside_the_repository():
    stale = [
        f"{path.relative_to(REPO)}:{number}"
        for path in citing_files()
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OLD_NAME in line
    ]
    assert not stale, f"{OLD_NAME} is not in the repository; cite docs/maths.md instead: {stale}"


def test_relative_links_in_the_readme_and_docs_point_to_files():
    documents = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    broken = []
    checked = 0
    for document in documents:
        for target in LINK.findall(document.read_text()):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL, or an anchor in the same file
            path = target.split("#", 1)[0]
            checked += 1
            if not (document.parent / path).resolve().exists():
                broken.append(f"{document.relative_to(REPO)}: {target}")
    assert checked >= 4  # the README links both documents and its figures
    assert not broken, broken


def test_the_readme_links_both_documents():
    links = set(LINK.findall((REPO / "README.md").read_text()))
    assert {"docs/maths.md", "docs/extending.md"} <= links


def test_tests_named_in_the_docs_exist():
    """Each `tests/<file>.py::<name>` in docs/*.md names a function or constant defined in that file."""
    missing = []
    for document in sorted((REPO / "docs").glob("*.md")):
        for file, name in TEST_REFERENCE.findall(document.read_text()):
            path = REPO / "tests" / file
            if not path.exists():
                missing.append(f"{document.name}: tests/{file} does not exist")
                continue
            tree = ast.parse(path.read_text())
            defined = {
                node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)
            } | {
                target.id
                for node in tree.body
                if isinstance(node, ast.Assign)
                for target in node.targets
                if isinstance(target, ast.Name)
            }
            if name not in defined:
                missing.append(f"{document.name}: tests/{file}::{name}")
    assert not missing, missing
