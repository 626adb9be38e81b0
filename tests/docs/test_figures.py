"""Figures and references the documentation states are checked, not typed (issue 32 §1, §3).

Contract:
- docs/operations.md says how many offline checks `audit` runs, and its table names each of them:
  both are compared with the audit itself (src.cli.audit.run_offline on this repository);
- README.md stays within 300 lines;
- README.md's fresh-machine figures (a table after the `fresh-machine figures` comment) give
  `make run` and `make test` each a time and where it was measured (scripts/first-run.sh --test):
  a time is a number with its unit within the targets (make run serves within 60 s, make test
  within 8 minutes on 2 cores), and the measurement names its date (YYYY-MM-DD) and machine;
- wherever the README or a page says "the guide" it links to the guide's page (docs/ops-guide.md),
  in prose (code and comments aside); the guide's own page is exempt.
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from src.cli.audit import run_offline
from tests.docs.pages import DOCS, page, prose, section, table_rows
from tests.support.processes import ROOT

README = ROOT / "README.md"
MAX_README_LINES = 300
TARGETS = {"make run": ("s", 60.0), "make test": ("min", 8.0)}
GUIDE_LINK = re.compile(r"\[[^\]]*\]\([^)]*ops-guide\.md[^)]*\)")


def test_the_audit_check_count_and_names_are_the_audits() -> None:
    results = run_offline(ROOT, "prod", "us-east-1")
    audit = section(page("operations.md"), "Audit")
    [count] = re.findall(r"runs (\d+) offline checks", audit)
    assert int(count) == len(results)
    names = [cells[0].strip("`") for cells in table_rows(audit)]
    assert names == [r.name for r in results]


def test_the_readme_is_short() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= MAX_README_LINES


def figure_problems(command: str, time: str, measured: str) -> list[str]:
    problems = []
    unit, limit = TARGETS[command]
    number = re.match(rf"^(?P<value>\d+(?:\.\d+)?) {unit}\b", time)
    if number is None:
        problems.append(f"{command}: {time!r} is not '<number> {unit} ...'")
    elif float(number["value"]) > limit:
        problems.append(f"{command}: {number['value']} {unit} misses the target of {limit:g} {unit}")
    stamp = re.match(r"^(?P<day>\d{4}-\d{2}-\d{2}), (?P<machine>\S.*)$", measured)
    if stamp is None:
        problems.append(f"{command}: measured {measured!r} is not 'YYYY-MM-DD, <machine>'")
    else:
        date.fromisoformat(stamp["day"])
    return problems


def fresh_machine_rows() -> dict[str, tuple[str, str]]:
    text = README.read_text(encoding="utf-8")
    after = text.split("<!-- fresh-machine figures", 1)[1].split("-->", 1)[1]
    table = after.split("\n\n", 1)[0]
    return {cells[0].strip("`"): (cells[1], cells[2]) for cells in table_rows(table)}


def test_the_fresh_machine_figures() -> None:
    rows = fresh_machine_rows()
    assert set(rows) == set(TARGETS)
    assert [p for command, (time, measured) in rows.items() for p in figure_problems(command, time, measured)] == []


@pytest.mark.parametrize(
    ("time", "measured", "wrong"),
    [
        ("FILL-IN s to the first 200 on `/health`", "FILL-IN", 2),
        ("41 s to the first 200", "2026-12-08, x86_64, 2 cores", 0),
        ("75 s to the first 200", "2026-12-08, x86_64, 2 cores", 1),
        ("about a minute", "yesterday", 2),
    ],
)
def test_the_figure_rule_itself(time: str, measured: str, wrong: int) -> None:
    assert len(figure_problems("make run", time, measured)) == wrong


def unlinked_guides(text: str) -> list[str]:
    plain = GUIDE_LINK.sub("", prose(text))
    return [m.group(0) for m in re.finditer(r"\bthe guide\b", plain, re.IGNORECASE)]


def test_the_guide_is_always_a_link() -> None:
    documents = [README, *sorted(p for p in DOCS.rglob("*.md") if p.name != "ops-guide.md")]
    found = {p.relative_to(ROOT).as_posix(): unlinked_guides(p.read_text(encoding="utf-8")) for p in documents}
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_the_link_rule_itself() -> None:
    assert unlinked_guides("as the [guide](ops-guide.md#x) says, and [the guide](docs/ops-guide.md)") == []
    assert unlinked_guides("`the guide` in code, <!-- the guide --> in a comment") == []
    assert unlinked_guides("as the guide says") == ["the guide"]


CHANGELOG = re.compile(r"\bno longer\b|\bpre-issue\b|\bissue[- ]?\d+\b|\bused to\b|\bbefore issue\b", re.IGNORECASE)


def changelog_wording(text: str) -> list[str]:
    return [m.group(0) for m in CHANGELOG.finditer(prose(text))]


def test_pages_say_what_is_not_what_changed() -> None:
    """The issue found "pre-issue-19" and "no longer breaks step 1": a reader has no history to
    compare with, so the pages describe the service as it is (commits keep the history)."""
    documents = [README, *sorted(DOCS.rglob("*.md"))]
    found = {p.relative_to(ROOT).as_posix(): changelog_wording(p.read_text(encoding="utf-8")) for p in documents}
    assert {name: hits for name, hits in found.items() if hits} == {}
    assert changelog_wording("the pre-issue-19 mask no longer breaks step 1") == ["pre-issue", "no longer"]
