"""The verdict of `fleet`: which reporting tasks serve the secret's current version, and the
table and summary the operator reads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from src.cli.fleet.reports import Report
from src.cli.output import Output
from src.errors import SecretsError


@dataclass
class Verdict:
    current: dict[str, str]  # secret name -> the version every task should serve
    source: str  # "AWSCURRENT" or "newest reported"
    active: list[Report]
    silent: list[Report]
    behind: list[Report]

    @property
    def converged(self) -> bool:
        return bool(self.active) and not self.behind


def judge(
    reports: list[Report],
    *,
    now: datetime,
    active_within: float,
    current_version: Callable[[str], str] | None,
) -> Verdict:
    current: dict[str, str] = {}
    source = "AWSCURRENT"
    for name in sorted({r.secret_name for r in reports}):
        version = None
        if current_version is not None:
            try:
                version = current_version(name)
            except SecretsError:
                version = None
        if version is None:
            source = "newest reported"
            version = max((r for r in reports if r.secret_name == name), key=lambda r: r.seen_at).version_id
        current[name] = version
    active = [r for r in reports if active_within <= 0 or (now - r.seen_at).total_seconds() <= active_within]
    silent = [r for r in reports if r not in active]
    behind = [r for r in active if r.version_id != current[r.secret_name]]
    return Verdict(current, source, active, silent, behind)


def _ago(now: datetime, moment: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def print_fleet(
    out: Output, verdict: Verdict, *, log_group: str, since: str, now: datetime, active_within: float
) -> None:
    rows = sorted(verdict.active + verdict.silent, key=lambda r: (r.secret_name, r.task))
    out.line(f"fleet: {log_group}, reports from the last {since}")
    if rows:
        out.line(f"{'TASK':<34} {'SECRET':<24} {'VERSION':<38} LAST REPORT")
    for report in rows:
        state = (
            "silent (stopped?)"
            if report in verdict.silent
            else ("current" if report.version_id == verdict.current[report.secret_name] else "BEHIND")
        )
        out.line(
            f"{report.task:<34} {report.secret_name:<24} {report.version_id:<38} "
            f"{_iso(report.seen_at)} ({_ago(now, report.seen_at)}) {state}"
        )
    for name, version in sorted(verdict.current.items()):
        out.line(f"current: {name} {version} ({verdict.source})")
    if not rows:
        out.line(
            f"fleet: no task reported a version in the last {since}: is the service running, "
            "and does it log to this group?"
        )
    elif not verdict.active:
        out.line(
            f"fleet: no task reported in the last {active_within:g}s: the per-minute reports come from the "
            "SecretAgeSeconds metric lines (METRICS must not be off); use --active-within 0 to judge every task."
        )
    elif verdict.behind:
        out.line(
            f"fleet: {len({r.task for r in verdict.behind})} of {len({r.task for r in verdict.active})} "
            "reporting tasks are NOT on the current version; wait for their next refresh before revoking old keys."
        )
    else:
        out.line(f"fleet: all {len({r.task for r in verdict.active})} reporting tasks serve the current version.")
    out.set(
        log_group=log_group,
        since=since,
        current=verdict.current,
        current_source=verdict.source,
        converged=verdict.converged,
        tasks=[{**asdict(r), "seen_at": _iso(r.seen_at), "active": r in verdict.active} for r in rows],
    )
