"""The report's pages as HTML: the front page that opens on the answer, and each experiment's tables.

`snakemake --report` shows the workflow description (workflow/report/workflow.rst) on its first page
and renders a report item of type HTML as is; it shows Markdown as plain text. So the pipeline's
Markdown tables (what `ngbench.tables` and the ledger write) are turned into HTML here: the subset
those writers use — a bold caption paragraph, pipe tables, `- ` lists, `code` and **bold** spans.
Figures go in as data URIs, so that the front page stands alone like the report around it.
"""

from __future__ import annotations

import base64
import html
import re

# Wide enough for the ledger at 1400 px; the report puts the first page in a 32rem column otherwise.
PAGE_STYLE = "width: 1060px; max-width: 1060px; font-size: 13px; line-height: 1.35; font-family: sans-serif;"
TABLE_STYLE = "border-collapse: collapse; margin: 4px 0 12px 0; font-size: 12px;"
CELL_STYLE = "border: 1px solid #bbb; padding: 2px 6px; vertical-align: top; text-align: left;"


def _inline(text: str) -> str:
    """Escape, then `code` and **bold** spans."""
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)


def _cells(line: str, bars: list[int]) -> list[str]:
    """A table line's cells. The writers pad every cell to its column's width, so the rule line's
    `|` positions cut each line exactly, a `|` inside a cell included; a line of another length (not
    padded) is split at every `|`."""
    if len(line) == bars[-1] + 1:
        return [line[a + 1 : b].strip() for a, b in zip(bars, bars[1:], strict=False)]
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    bars = [i for i, char in enumerate(lines[1]) if char == "|"]  # lines[1]: the |:---| rule
    header, rows = _cells(lines[0], bars), [_cells(line, bars) for line in lines[2:]]
    head = "".join(f'<th style="{CELL_STYLE}">{_inline(cell)}</th>' for cell in header)
    body = "".join(
        "<tr>" + "".join(f'<td style="{CELL_STYLE}">{_inline(cell)}</td>' for cell in row) + "</tr>"
        for row in rows
    )
    return f'<table style="{TABLE_STYLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def markdown_to_html(text: str) -> str:
    """The Markdown the pipeline writes, as HTML: blocks separated by blank lines, each a pipe table,
    a `- ` list or a paragraph."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    out = []
    for block in blocks:
        if block[0].lstrip().startswith("|") and len(block) >= 2:
            out.append(_table(block))
        elif all(line.startswith("- ") for line in block):
            out.append("<ul>" + "".join(f"<li>{_inline(line[2:])}</li>" for line in block) + "</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(line.strip() for line in block))}</p>")
    return "\n".join(out)


def image(png: bytes, alt: str, width_px: int = 1000) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}" style="width: {width_px}px;">'


# Snakemake's report shows its description (where the front page goes) in a 32rem column, inside a
# screen-high box that centres it vertically: a page taller than the screen would lose its top, out
# of reach of the scroll bar. While the front page is shown, start that box at the top and let the
# column be as wide as the page. (Selectors of snakemake 9's report template; elsewhere, no effect.)
FRONT_PAGE_CSS = """<style>
div.h-screen.items-center { align-items: flex-start; justify-content: flex-start; }
div.prose.max-w-lg { max-width: none; }
</style>"""


def page(title: str, sections: list[tuple[str, str]], front: bool = False) -> str:
    """One HTML fragment: a title, then (heading, HTML body) sections in order; `front`: laid out as
    the report's first page (FRONT_PAGE_CSS)."""
    parts = ['<meta charset="utf-8">'] + ([FRONT_PAGE_CSS] if front else [])  # a page also stands alone
    parts += [f'<div class="ngbench-page" style="{PAGE_STYLE}">', f"<h1>{html.escape(title)}</h1>"]
    for heading, body in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>\n{body}")
    parts.append("</div>")
    return "\n".join(parts) + "\n"
