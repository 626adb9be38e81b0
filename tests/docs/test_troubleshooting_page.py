"""docs/troubleshooting.md covers every ErrorCode and every exit path of the CLI: a new code
(src/errors.py) or exit code (src/cli) without a row fails here. (Until issue 32 this held the
README's Troubleshooting section, which is now that page.)"""

from __future__ import annotations

import re

from src import cli
from src.errors import ErrorCode
from tests.support.processes import ROOT

PAGE = ROOT / "docs" / "troubleshooting.md"


def troubleshooting_rows() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("\n## Error codes\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("|---")]


def first_cells() -> list[str]:
    return [row.split("|")[1] for row in troubleshooting_rows()]


def test_every_error_code_has_a_row() -> None:
    named = {code for cell in first_cells() for code in re.findall(r"`([A-Z][A-Za-z]+)`", cell)}
    missing = sorted(code.value for code in ErrorCode if code.value not in named)
    assert missing == [], f"codes without a row in docs/troubleshooting.md: {missing}"


def test_every_cli_exit_code_is_explained() -> None:
    cells = " ".join(first_cells())
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    # 0 needs no row; 3 is every code above; 1, 2 and 130 each have one.
    for code in (1, 2, cli.EXIT_INTERRUPTED):
        assert f"CLI exit {code}" in cells
    assert cli.EXIT_ERROR == 3 and "3 an error" in operations
