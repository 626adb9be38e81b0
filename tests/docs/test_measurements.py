"""Every table on the performance and reliability pages says when and on what machine it was
measured (issue 32 §3).

Contract: between a table and the heading or table before it stands a line
`_Measured YYYY-MM-DD on <machine>._` (a real date; the machine names its cores), so a figure is
never shown without the run it came from.
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from tests.docs.pages import page

STAMP = re.compile(r"^_Measured (?P<day>\d{4}-\d{2}-\d{2}) on (?P<machine>.*?\bcores?\b.*?)\._$")


def unstamped_tables(text: str) -> list[int]:
    """1-based lines of tables whose preceding stretch (since the last heading or table) has no stamp."""
    missing: list[int] = []
    stretch: list[str] = []
    in_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("|"):
            if not in_table:
                stamps = [m for m in (STAMP.match(s) for s in stretch) if m]
                if not stamps or any(not _is_date(m["day"]) for m in stamps):
                    missing.append(number)
            in_table, stretch = True, []
            continue
        in_table = False
        stretch = [] if line.startswith("#") else [*stretch, line]
    return missing


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", ["performance.md", "reliability.md"])
def test_every_table_carries_its_date_and_machine(name: str) -> None:
    text = page(name)
    assert text.count("\n|") > 0
    assert unstamped_tables(text) == []


def test_the_rule_itself() -> None:
    stamped = "## A\n\n_Measured 2026-11-29 on x86_64, 2 cores._\n\n| a |\n|---|\n| 1 |\n"
    assert unstamped_tables(stamped) == []
    assert unstamped_tables(stamped + "\ntext\n\n| b |\n|---|\n| 2 |\n") == [11]
    assert unstamped_tables("## A\n\n_Measured 2026-13-40 on x86_64, 2 cores._\n\n| a |\n") == [5]
    assert unstamped_tables("## A\n\n_Measured 2026-11-29 on a laptop._\n\n| a |\n") == [5]
    assert unstamped_tables("## A\n\n_Measured 2026-11-29 on x86_64, 2 cores._\n\n## B\n\n| a |\n") == [7]
