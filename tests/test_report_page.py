"""The report's HTML pages: the pipeline's Markdown, read back from the HTML as a browser would."""

from __future__ import annotations

from html.parser import HTMLParser

import pandas as pd

from ngbench.ledger import Claim, ledger
from ngbench.ledger import to_markdown as ledger_markdown
from ngbench.report_page import image, markdown_to_html, page


class Cells(HTMLParser):
    """Every table of a page as lists of rows of cell texts, and the bold and list-item texts."""

    def __init__(self):
        super().__init__()
        self.tables, self.bold, self.items, self._cell, self._tag = [], [], [], None, []

    def handle_starttag(self, tag, attrs):
        self._tag.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        self._tag.pop()
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._tag and self._tag[-1] == "b":
            self.bold.append(data)
        if self._tag and self._tag[-1] == "li":
            self.items.append(data)


def parsed(html: str) -> Cells:
    cells = Cells()
    cells.feed(html)
    return cells


def test_the_ledger_reads_back_cell_for_cell():
    claims = [
        Claim("a", "Someone & Other 2020", "x < y holds | sometimes", None, "a <b>tag</b>"),
        Claim("b", "S", "t", {"table": "iterations", "experiment": "e", "statistic": "art", "at_most": 1.0}),
    ]
    table = ledger(claims, {"results/stats/e.csv": pd.DataFrame({"art": [0.5]})})
    cells = parsed(markdown_to_html(ledger_markdown(table)))
    (rows,) = cells.tables
    assert rows[0] == list(table.columns)
    assert [row[0] for row in rows[1:]] == ["a", "b"]
    # Markup in a cell is text, never HTML: the claim's own "<b>" comes back as written.
    assert rows[1][table.columns.get_loc("found")] == "needs a <b>tag</b>"
    assert rows[2][table.columns.get_loc("verdict")] == "reproduced"
    # A "|" inside a cell stays in its cell (the writers pad columns; the rule line says where they end).
    assert rows[1][table.columns.get_loc("statement")] == "x < y holds | sometimes"
    assert cells.bold[0].startswith("Literature claims, checked by the pipeline")


def test_lists_code_and_a_page_of_sections():
    text = "**caption** then `code`\n\n- first item\n- second item\n\n| a | b |\n|:--|:--|\n| 1 | 2 |\n"
    html = page("T", [("S1", markdown_to_html(text)), ("S2", image(b"\x89PNG", "alt"))])
    cells = parsed(html)
    assert cells.items == ["first item", "second item"] and cells.bold == ["caption"]
    assert cells.tables == [[["a", "b"], ["1", "2"]]] and "<code>code</code>" in html
    assert html.index("<h2>S1</h2>") < html.index("<h2>S2</h2>") and "data:image/png;base64,iVBORw==" in html
