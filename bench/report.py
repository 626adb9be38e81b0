"""The report: the rows as a table, the start-up breakdown, the machine, and the JSON file of the run."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.apps import Pinning, cpu_list
from bench.rows import Row


def render_table(rows: list[Row]) -> str:
    header = ("section", "measurement", "short-cut", "reference", "vs", "ratio", "target", "pass", "spread (min-max)")
    lines = [header] + [
        (
            r.section,
            r.measurement,
            "-" if r.short_cut is None else f"{r.short_cut:g}",
            "-" if r.reference is None else f"{r.reference:g}",
            r.versus,
            "-" if r.ratio is None else f"{r.ratio:.3f}",
            r.target,
            "-" if r.passed is None else ("PASS" if r.passed else "FAIL"),
            r.spread + (f"; {r.note}" if r.note else ""),
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines]
    text.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(text)


def machine(pinning: Pinning) -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, measured process on CPU {cpu_list(pinning.service)}, "
        f"benchmark on CPU {cpu_list(pinning.driver)}{' (shared!)' if pinning.shared else ''}, "
        f"Python {platform.python_version()}, {platform.system()}"
    )


def report(
    rows: list[Row],
    details: dict[str, Any],
    *,
    pinning: Pinning,
    skipped: str | None,
    runs: int,
    startup_runs: int,
    smoke: bool,
    out: Path,
) -> None:
    """Print the table and the notes under it, and write bench-<time>.json into `out`."""
    where = machine(pinning)
    print(render_table(rows))
    if skipped:
        print(f"\npodman --cpus 0.5 section skipped: {skipped}")
    print(f"\nstart-up breakdown, 1 CPU, median CPU ms: {details.get('startup_breakdown_cpu_ms')}")
    logged = details.get("startup_breakdown_wall_ms")
    print(f"start-up timings logged by the service, 1 CPU, median wall ms: {logged}")
    note = " (smoke: nothing judged)" if smoke else ""
    print(f"machine: {where}; runs: {runs}, start-up runs: {startup_runs}{note}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {
        "when": stamp, "machine": where, "runs": runs, "startup_runs": startup_runs, "smoke": smoke,
        "podman_skipped": skipped,
        "rows": [asdict(r) for r in rows], "details": details,
    }  # fmt: skip
    (out / f"bench-{stamp}.json").write_text(json.dumps(result, indent=2))
