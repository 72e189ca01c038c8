"""The reproducibility contract, checked: regenerated outputs held against the committed ones.

Same machine and package versions: every output is byte-identical. Another CPU (numpy and OpenBLAS
choose other SIMD code, so transcendental functions and BLAS kernels round their last bits
differently):

* `results/tables/` (Markdown, LaTeX): the same text, every printed number at its printed precision;
* `results/stats/` (CSV): the same rows, columns and names; every integer, infinity and missing value
  identical; every other number within a relative `STATS_RELATIVE_TOLERANCE`;
* `figures/`: every text of a PDF (titles, labels, legends, tick labels) identical; a PDF rendered to
  pixels, and a PNG, the same size with at most `FIGURE_CHANGED_PIXELS` of the pixels changed beyond
  what a one-pixel shift of antialiased strokes explains (see `image_difference`). The PNG's text is
  its PDF's, drawn from the same figure.

`python -m ngbench.contract REFERENCE CANDIDATE` compares two checkouts (or copies of their
outputs), prints every difference and whether the contract holds, and exits 1 when it does not.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import io
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CONTRACT_DIRECTORIES = ("results/tables", "results/stats", "figures")
# The low-dimensional targets compute every bit alike on any CPU (ngbench.portable). The others agree
# to ~1e-8 where a run settles (Adam under Monte Carlo noise, measured with OpenBLAS's Haswell kernels
# against SkylakeX); the tables print 4 significant digits, and one iteration more in an aRT of
# 10,000 is 1e-4: both far above this.
STATS_RELATIVE_TOLERANCE = 1e-6
# A colour channel may move this much (of 255) before a pixel counts as changed: antialiasing of a
# stroke moved by a fraction of a pixel changes its edge pixels by less.
PIXEL_TOLERANCE = 48
# Changed pixels that no one-pixel shift explains, as a fraction of the image. A curve drawn from
# other data, or one more or less series, changes more than 1e-2 of a panel; the curve of a run that
# never settles (GD in natural parameters at d = 100) wiggles differently on another CPU, 1.6e-4 of
# the figure measured. What a figure says in words and numbers is held exactly by its PDF's text.
FIGURE_CHANGED_PIXELS = 1e-3
PDF_RENDER_DPI = 100


@dataclass(frozen=True)
class Finding:
    path: str
    holds: bool  # within the contract
    detail: str  # "identical", or what differs


def compare_trees(reference: Path, candidate: Path, directories=CONTRACT_DIRECTORIES) -> list[Finding]:
    """Every contract file of either tree, compared; a file present in one tree only breaks it."""
    findings = []
    for directory in directories:
        for tree in (reference, candidate):
            if not (tree / directory).is_dir():
                findings.append(Finding(directory, False, f"no such directory in {tree}"))
        names = {
            path.relative_to(tree).as_posix()
            for tree in (reference, candidate)
            for path in (tree / directory).rglob("*")
            if path.is_file()
        }
        for name in sorted(names):
            findings.append(compare_file(name, reference / name, candidate / name))
    return findings


def compare_file(name: str, reference: Path, candidate: Path) -> Finding:
    if not reference.exists():
        return Finding(name, False, "new file: not in the reference")
    if not candidate.exists():
        return Finding(name, False, "missing: the reference has it, the candidate does not")
    old, new = reference.read_bytes(), candidate.read_bytes()
    if old == new:
        return Finding(name, True, "identical")
    suffix = reference.suffix
    if suffix == ".csv":
        problems = compare_csv(old.decode(), new.decode())
    elif suffix == ".png":
        problems = compare_images(_png_pixels(old), _png_pixels(new))
    elif suffix == ".pdf":
        problems = compare_pdfs(old, new)
    else:
        problems = compare_text(old.decode(), new.decode())
    if problems:
        return Finding(name, False, "; ".join(problems))
    return Finding(name, True, "bytes differ, within the contract")


def compare_text(old: str, new: str, lines: int = 6) -> list[str]:
    """Text files must be identical: the differing lines, as a unified diff."""
    diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), "reference", "candidate", n=0))
    changed = [line for line in diff[2:] if line[:1] in "+-"]
    shown = " | ".join(changed[:lines]) + (f" | … ({len(changed)} lines)" if len(changed) > lines else "")
    return [f"text differs: {shown}"] if changed else []


def compare_csv(old: str, new: str, relative_tolerance: float = STATS_RELATIVE_TOLERANCE) -> list[str]:
    """Same header, rows and non-numeric cells; integers and non-finite values exact; floats close."""
    old_rows, new_rows = list(csv.reader(io.StringIO(old))), list(csv.reader(io.StringIO(new)))
    if not old_rows or not new_rows or old_rows[0] != new_rows[0]:
        return [f"columns differ: {old_rows[:1]} against {new_rows[:1]}"]
    if len(old_rows) != len(new_rows):
        return [f"{len(old_rows) - 1} rows against {len(new_rows) - 1}"]
    header = old_rows[0]
    problems = []
    for number, (a_row, b_row) in enumerate(zip(old_rows[1:], new_rows[1:], strict=True), start=2):
        if len(a_row) != len(b_row):
            problems.append(f"line {number}: {len(a_row)} cells against {len(b_row)}")
            continue
        for column, a, b in zip(header, a_row, b_row, strict=True):
            if a != b and not _close(a, b, relative_tolerance):
                problems.append(f"line {number}, {column}: {a} against {b}")
    return problems[:8] + ([f"… {len(problems)} cells in all"] if len(problems) > 8 else [])


def _close(a: str, b: str, relative_tolerance: float) -> bool:
    """Two different cells agree only as finite floats that are close, and a whole number (a count, a
    median of counts: "155" or "155.0") only with the same number."""
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    if not (math.isfinite(x) and math.isfinite(y)):
        return False
    if x.is_integer() or y.is_integer():
        return x == y
    return abs(x - y) <= relative_tolerance * max(abs(x), abs(y))


def _png_pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def image_difference(old: np.ndarray, new: np.ndarray, tolerance: int = PIXEL_TOLERANCE) -> int:
    """Pixels that changed and that no one-pixel shift explains.

    A pixel of either image is explained if the other image has a pixel of the same colour (each
    channel within `tolerance`) at it or at one of its eight neighbours. A curve drawn a fraction of
    a pixel elsewhere, which is what rounding in the data does, is explained; a curve, marker or
    glyph that is new, gone or moved by more is not.
    """
    return int((~(_explained(old, new, tolerance) & _explained(new, old, tolerance))).sum())


def _explained(image: np.ndarray, other: np.ndarray, tolerance: int) -> np.ndarray:
    height, width, _ = image.shape
    padded = np.pad(other, ((1, 1), (1, 1), (0, 0)), mode="edge")
    explained = np.zeros((height, width), dtype=bool)
    for dy in range(3):
        for dx in range(3):
            shifted = padded[dy : dy + height, dx : dx + width]
            explained |= np.abs(image - shifted).max(axis=2) <= tolerance
    return explained


def compare_images(old: np.ndarray, new: np.ndarray, allowed: float = FIGURE_CHANGED_PIXELS) -> list[str]:
    if old.shape != new.shape:
        return [f"image size {old.shape[1]}×{old.shape[0]} against {new.shape[1]}×{new.shape[0]}"]
    changed = image_difference(old, new)
    pixels = old.shape[0] * old.shape[1]
    if changed > allowed * pixels:
        return [f"{changed} pixels changed beyond a one-pixel shift (allowed {allowed * pixels:.0f})"]
    return []


def compare_pdfs(old: bytes, new: bytes) -> list[str]:
    """Page by page: the text exactly, then the page rendered at `PDF_RENDER_DPI` as an image."""
    old_pages, new_pages = _pdf_pages(old), _pdf_pages(new)
    if len(old_pages) != len(new_pages):
        return [f"{len(old_pages)} pages against {len(new_pages)}"]
    problems = []
    for number, ((a_text, a), (b_text, b)) in enumerate(zip(old_pages, new_pages, strict=True), start=1):
        if a_text != b_text:
            changed = sorted(set(a_text.splitlines()) ^ set(b_text.splitlines()))
            problems.append(f"page {number}: text differs: {' | '.join(changed[:6])}")
        problems += [f"page {number}: {problem}" for problem in compare_images(a, b)]
    return problems


def _pdf_pages(data: bytes) -> list[tuple[str, np.ndarray]]:
    """(text, pixels) of every page."""
    import pypdfium2

    document = pypdfium2.PdfDocument(data)
    try:
        pages = []
        for page in document:
            text = page.get_textpage().get_text_range()
            bitmap = page.render(scale=PDF_RENDER_DPI / 72)
            pages.append((text, np.asarray(bitmap.to_pil().convert("RGB"), dtype=np.int16)))
        return pages
    finally:
        document.close()


def report(findings: list[Finding]) -> tuple[str, bool]:
    """What a reader needs: every file that differs, and the verdict."""
    identical = sum(f.detail == "identical" for f in findings)
    within = [f for f in findings if f.holds and f.detail != "identical"]
    broken = [f for f in findings if not f.holds]
    lines = [
        f"{len(findings)} files: {identical} identical, {len(within)} within the contract, {len(broken)} not"
    ]
    lines += [f"  within  {f.path}" for f in within]
    lines += [f"  BREAKS  {f.path}: {f.detail}" for f in broken]
    holds = not broken
    lines.append(
        "the reproducibility contract holds" if holds else "the reproducibility contract does not hold"
    )
    return "\n".join(lines), holds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ngbench.contract",
        description="Compare regenerated tables, statistics and figures with a reference copy.",
    )
    parser.add_argument("reference", type=Path, help="the checkout (or copy) holding the committed outputs")
    parser.add_argument("candidate", type=Path, help="the checkout holding the regenerated outputs")
    args = parser.parse_args(argv)
    findings = compare_trees(args.reference, args.candidate)
    if not findings:
        print("no tables, statistics or figures to compare: the contract cannot be checked")
        return 1
    text, holds = report(findings)
    print(text)
    return 0 if holds else 1


if __name__ == "__main__":
    sys.exit(main())
