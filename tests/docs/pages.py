"""Reading the documentation's pages for tests/docs: tables, sections, prose without code."""

from __future__ import annotations

import re

from tests.support.processes import ROOT

DOCS = ROOT / "docs"
FENCE = re.compile(r"^ *(```|~~~).*?^ *\1 *$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
FIRST_CODE = re.compile(r"`([^`]+)`")


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under `## heading` (or any level), up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(heading)}\n", text, re.MULTILINE)
    assert match is not None, f"no heading {heading!r}"
    level = len(match[1])
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def table_rows(text: str) -> list[list[str]]:
    """The body rows of every table in the text, as stripped cells (header and rule rows left out)."""
    rows, previous_was_table = [], False
    for line in text.splitlines():
        if not line.startswith("|"):
            previous_was_table = False
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if previous_was_table and not set(line) <= set("|-: "):
            rows.append(cells)
        previous_was_table = True
    # the header row of each table is the first line of a run; drop it
    return [r for r in rows if not all(set(c) <= set("-: ") for c in r)]


def first_code(cell: str) -> str | None:
    match = FIRST_CODE.search(cell)
    return match[1] if match else None


def prose(text: str) -> str:
    """The text without fenced blocks, inline code and HTML comments."""
    text = FENCE.sub("", text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    return CODE_SPAN.sub("", text)
