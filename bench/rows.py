"""The benchmark's rows: one measurement against its reference, its target and whether it passed.

A row is always a ratio against a reference measured in the same run (`ratio_row`), or an
absolute count with its target (`Row` directly). bench.report prints them; bench.convergence
and bench.mask_cost build theirs with the same fields.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Row", "ratio_row", "spread"]


@dataclass
class Row:
    section: str
    measurement: str
    short_cut: float | None
    reference: float | None
    versus: str
    ratio: float | None
    target: str
    passed: bool | None
    spread: str = ""
    note: str = ""


def spread(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.3g}-{high:.3g}" if low != high else f"{low:.3g}"


def ratio_row(
    section: str,
    name: str,
    ours: list[float],
    ref: list[float],
    versus: str,
    target: str,
    limit: float | None,
    *,
    ok: Callable[[float], bool] | None = None,
    note: str = "",
) -> Row:
    """The medians of `ours` and `ref`, their ratio, judged by `ok` or `ratio <= limit` (None: info only)."""
    mine, theirs = statistics.median(ours), statistics.median(ref)
    ratio = mine / theirs if theirs else float("inf")
    judge = ok or ((lambda r: r <= limit) if limit is not None else None)
    return Row(
        section,
        name,
        round(mine, 3),
        round(theirs, 3),
        versus,
        round(ratio, 3),
        target,
        None if judge is None else judge(ratio),
        spread=f"{spread(ours)} vs {spread(ref)}",
        note=note,
    )
