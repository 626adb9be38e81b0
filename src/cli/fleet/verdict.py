"""The verdict of `fleet`: which reporting tasks serve the secret's AWSCURRENT version, and
the table and summary the operator reads.

The reference is only ever AWSCURRENT as Secrets Manager states it, read for every target
secret. A report is:
- `current`: it names a target secret and that secret's AWSCURRENT version;
- `BEHIND`: it names a target secret and another version;
- `FAILING`: the task's last load or refresh failed (status `failing` in the record): it is
  "serving X, failing with CODE" and never current, even when X is AWSCURRENT;
- `UNKNOWN`: it cannot be tied to a target secret (a wrong or redacted name such as
  `***/prod/app` or `Redacted`, no version, or a line that claims to be a record of a
  schema fleet does not know).
AWSCURRENT is read before and after the query; if it moved in between, the reports were
judged against a goal that no longer holds: not converged (`moved`).
Converged means: every target secret has at least one recent report, and every recent
report is current (which a failing report never is). A target no recent task reports
(`unreported`) is not served as far as fleet can tell: not converged. Fleet judges only
tasks that report; a task silent for longer than --active-within is listed as silent and
left out (a stopped task stays in the log window).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime

from src.cli.fleet.reports import Report
from src.cli.output import Output

CURRENT, BEHIND, FAILING, UNKNOWN, SILENT = "current", "BEHIND", "FAILING", "UNKNOWN", "silent (stopped?)"


@dataclass
class Verdict:
    current: dict[str, str]  # target secret name -> its AWSCURRENT version id
    active: list[Report]
    silent: list[Report]
    behind: list[Report]
    unknown: list[Report]
    failing: list[Report] = field(default_factory=list)  # serving a version, last refresh failed
    unreported: list[str] = field(default_factory=list)  # target secrets without a recent current/behind report
    moved: list[str] = field(default_factory=list)  # target secrets whose AWSCURRENT changed during the query

    @property
    def converged(self) -> bool:
        return (
            bool(self.active)
            and not self.behind
            and not self.unknown
            and not self.failing
            and not self.unreported
            and not self.moved
        )

    def state(self, report: Report) -> str:
        if report in self.silent:
            return SILENT
        return state_of(report, self.current)


def state_of(report: Report, current: Mapping[str, str]) -> str:
    if report.invalid or report.secret_name is None or report.secret_name not in current:
        return UNKNOWN
    if report.failing:
        return FAILING
    if report.version_id is None:
        return UNKNOWN
    return CURRENT if report.version_id == current[report.secret_name] else BEHIND


def judge(
    reports: list[Report],
    *,
    now: datetime,
    active_within: float,
    current: Mapping[str, str],
    moved: list[str] | None = None,
) -> Verdict:
    """`current`: AWSCURRENT of every target secret, as Secrets Manager answered after the query;
    `moved`: the targets whose AWSCURRENT was another version before the query."""
    active = [r for r in reports if active_within <= 0 or (now - r.seen_at).total_seconds() <= active_within]
    silent = [r for r in reports if r not in active]
    behind = [r for r in active if state_of(r, current) == BEHIND]
    unknown = [r for r in active if state_of(r, current) == UNKNOWN]
    failing = [r for r in active if state_of(r, current) == FAILING]
    reported = {r.secret_name for r in active if r not in unknown}
    unreported = sorted(name for name in current if name not in reported)
    return Verdict(dict(current), active, silent, behind, unknown, failing, unreported, sorted(moved or []))


def on_replica(report: Report, primary_region: str | None) -> bool:
    """Whether the task read the version it serves from another Region than the secret's own (its
    failover replica: the record's `region`). The version id is the same in both Regions."""
    return bool(primary_region and report.region and report.region != primary_region)


def described(report: Report, state: str, primary_region: str | None = None) -> str:
    """The state column: a failing task is "serving X, failing with CODE"; a task on the replica says so."""
    text = state
    if state == FAILING:
        text = f"serving {report.version_id or 'nothing'}, failing with {report.error_code or '?'}"
    if on_replica(report, primary_region):
        text += f" (read from the replica in {report.region})"
    return text


def _ago(now: datetime, moment: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _shown(text: str | None, width: int) -> str:
    # A name or id as the task logged it, cut to its column: it is an identifier, never a value.
    if text is None:
        return "(none)"
    return text if len(text) <= width else text[: width - 1] + "…"


def summary(verdict: Verdict, *, since: str, active_within: float, rows: int) -> str:
    tasks = len({r.task for r in verdict.active})
    if not rows:
        return (
            f"fleet: no task reported a version in the last {since}: is the service running, "
            "and does it log to this group?"
        )
    if not verdict.active:
        return (
            f"fleet: no task reported in the last {active_within:g}s: every running task writes a served-version "
            "heartbeat each minute; use --active-within 0 to judge every task."
        )
    if verdict.moved:
        return (
            f"fleet: AWSCURRENT of {', '.join(verdict.moved)} moved while the query ran (a rotation finished): "
            "NOT converged; run fleet again, or use --wait."
        )
    if verdict.unknown:
        return (
            f"fleet: {len({r.task for r in verdict.unknown})} of {tasks} reporting tasks report a version that "
            f"cannot be tied to {', '.join(sorted(verdict.current))} (a wrong or redacted secret name, or a "
            "missing field): NOT converged; check SECRET_NAME in the task definition and the log mask."
        )
    if verdict.failing:
        return (
            f"fleet: {len({r.task for r in verdict.failing})} of {tasks} reporting tasks are failing to refresh "
            "(each row says what it still serves and the code): NOT converged; fix the cause before revoking old keys."
        )
    if verdict.behind:
        return (
            f"fleet: {len({r.task for r in verdict.behind})} of {tasks} reporting tasks are NOT on AWSCURRENT; "
            "wait for their next refresh before revoking old keys."
        )
    if verdict.unreported:
        return (
            f"fleet: no task reported {', '.join(verdict.unreported)} in the last {active_within:g}s: NOT converged; "
            "check --name and that every task serves it."
        )
    return f"fleet: all {tasks} reporting tasks serve AWSCURRENT."


def silent_note(verdict: Verdict, *, active_within: float) -> str | None:
    """How many tasks the verdict left out: fleet judges only tasks that report."""
    silent = {r.task for r in verdict.silent} - {r.task for r in verdict.active}
    if not silent:
        return None
    return (
        f"fleet: {len(silent)} task(s) left out as silent (no report in the last {active_within:g}s; stopped, "
        "or its log lines do not reach the group): fleet judges only tasks that report."
    )


def print_fleet(
    out: Output,
    verdict: Verdict,
    *,
    log_group: str,
    since: str,
    now: datetime,
    active_within: float,
    primary_region: str | None = None,
) -> None:
    rows = sorted(verdict.active + verdict.silent, key=lambda r: (r.secret_name or "", r.task))
    out.line(f"fleet: {log_group}, reports from the last {since}")
    if rows:
        out.line(f"{'TASK':<34} {'SECRET':<24} {'VERSION':<38} LAST REPORT")
    for report in rows:
        state = described(report, verdict.state(report), primary_region)
        out.line(
            f"{report.task:<34} {_shown(report.secret_name, 24):<24} {_shown(report.version_id, 38):<38} "
            f"{_iso(report.seen_at)} ({_ago(now, report.seen_at)}) {state}"
        )
    for name, version in sorted(verdict.current.items()):
        out.line(f"AWSCURRENT: {name} {version}")
    replica = sorted({r.task for r in verdict.active if on_replica(r, primary_region)})
    if replica:
        out.line(
            f"fleet: {len(replica)} task(s) read the secret from its replica (ServingFromReplica): "
            f"{primary_region} failed for them; each refresh tries it first."
        )
    note = silent_note(verdict, active_within=active_within)
    if note:
        out.line(note)
    out.line(summary(verdict, since=since, active_within=active_within, rows=len(rows)))
    out.set(
        unreported=verdict.unreported,
        moved=verdict.moved,
        silent_tasks=len({r.task for r in verdict.silent} - {r.task for r in verdict.active}),
        log_group=log_group,
        since=since,
        current=verdict.current,
        current_source="AWSCURRENT",
        converged=verdict.converged,
        tasks=[
            {
                **asdict(r),
                "seen_at": _iso(r.seen_at),
                "active": r in verdict.active,
                "state": verdict.state(r),
                "on_replica": on_replica(r, primary_region),
            }
            for r in rows
        ],
    )
