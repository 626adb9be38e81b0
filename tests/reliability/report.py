"""The reliability report: one row per scenario, printed as a table after the run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass
class Row:
    scenario: str
    expected: str
    observed: str
    passed: bool
    recovery_s: float | None = None


ROWS: list[Row] = []


def record(scenario: str, expected: str, observed: str, passed: bool, recovery_s: float | None = None) -> None:
    ROWS.append(Row(scenario, expected, observed, passed, None if recovery_s is None else round(recovery_s, 2)))


def table() -> str:
    header = ("scenario", "expected", "observed", "pass", "recovery (s)")
    lines = [header] + [
        (
            r.scenario,
            r.expected,
            r.observed,
            "PASS" if r.passed else "FAIL",
            "-" if r.recovery_s is None else f"{r.recovery_s:.2f}",
        )
        for r in ROWS
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def save(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"reliability-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps([asdict(r) for r in ROWS], indent=2))
    return path
