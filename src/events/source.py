"""The event source: `Secret Label Updated` events from an SQS queue wake the refresh at once.

Contract:
- Off unless SECRETS_EVENTS_QUEUE_URL is set (and the service reads secrets from AWS): then
  polling alone keeps the values fresh, as before. On, one daemon thread long-polls the
  queue (ReceiveMessage, WaitTimeSeconds=20, VisibilityTimeout=0, up to 10 messages) and
  never deletes, changes or sends a message: `sqs:ReceiveMessage` on the one queue is the
  only permission it needs. The reader and the wiring from Settings: src.events.sqs.
- Each message body is the event as EventBridge delivers it to an SQS target: the whole
  event JSON (`source` aws.secretsmanager, `detail-type` Secret Label Updated, `detail`
  with `name`, `labelUpdated`, `versionId`; see
  https://docs.aws.amazon.com/secretsmanager/latest/userguide/event-detail-secret-label-updated-secretsmanager.html).
  Anything else is ignored. An event for a served secret (by name, or by ARN when
  SECRET_NAME is one) whose `labelUpdated` is AWSCURRENT and whose `versionId` differs from
  the version served calls `wake`: the Supervisor (src.loading.refresh) refreshes after a random
  delay of up to a second, DescribeSecret first, as a timed refresh does. The event only
  says "look now"; DescribeSecret decides. So a duplicate, a late or an out-of-order event
  costs at most one DescribeSecret and never a fetch of an old version (a rollback to an
  earlier version is a real change, which is why an "older" id cannot be skipped locally).
- A failing source (AccessDenied, the queue deleted, the endpoint unreachable, anything
  else) never stops the service or the poll: it is logged, counted (EventSourceFailure,
  property error_code), shown as `failing` with its code in the full /health view, which
  stays `ok` for that alone, and retried with capped full-jitter backoff.
- A blind path is noticed and made up for. ReceiveMessage returns at most 10 messages
  ("Valid values: 1 to 10", MaxNumberOfMessages in
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html),
  and nobody deletes: ten or more visible messages (junk, or many label moves within a
  minute) can hide a new event for their whole 60 s retention. "Full" is decided from
  the receive alone, with no extra permission: a receive that returns the maximum
  (`max_messages`, 10) messages, every one already seen, means the queue holds at least
  that many visible messages and this task cannot tell whether more are behind them. The
  state turns `blind` (code EventPathBlind, with its hint), one WARNING is logged and one
  EventSourceBlind metric counted for the episode (INFO for nothing else), and `on_blind(True)`
  tells the Supervisor to refresh now and then every SECRETS_EVENTS_FALLBACK_INTERVAL
  seconds (10 by default), so a rotation reaches the task within about 11 s even though
  its event is hidden. The first receive that returns fewer than the maximum (or nothing)
  ends the episode: state `ok`, one INFO line, `on_blind(False)`, the normal interval.
  SQS may return fewer messages than it holds ("fewer messages might be returned"), so an
  episode can end early and start again: each start is one WARNING, never one per receive.
  A receive that returns the maximum with something new in it does not end an episode (the
  new message was delivered, but more may be hidden behind it); two such receives in a row
  start one (a queue kept full of new messages, a flood, hides events as well).

Why one queue read by every task without deleting (the fan-out): EventBridge puts each
event on the queue once; every task long-polls the same queue with VisibilityTimeout=0,
so a received message stays visible to the others (aws/aws-sdk-java#705: with no
visibility timeout the message "can be picked up by multiple consumers"), and nobody
deletes it: the queue's MessageRetentionPeriod (60 s, SQS's minimum) removes it. Each
process remembers the message and event ids it has handled (bounded, for longer than the
retention), and after a receive that returned only messages it has seen it pauses about
a second (jittered) before the next, so it does not spin on a visible message for the
minute it lives. Failure modes:
- a task that starts during an event still sees the message for up to 60 s and compares
  its `versionId` with what it loaded: equal (it started on the new version) does nothing;
- a task that stops, or is SIGKILLed, leaves nothing behind: it owns no queue, no
  subscription and no message;
- duplicates (SQS and EventBridge are both at-least-once) and out-of-order events are
  settled by the version comparison and DescribeSecret, above;
- a message lost (Secrets Manager's events are best effort), a queue deleted or a
  permission removed: the timed poll (SECRETS_REFRESH_INTERVAL) still refreshes; only
  the speed-up is lost, and /health, the log and the metric say so.
The queue must have no redrive policy: every receive counts towards maxReceiveCount, and
a dead-letter queue would take the event from the other tasks.
The alternative, an SNS topic with one queue per task, delivers each event to each task
once, but every task must create, subscribe, authorise and delete its own queue at run
time (sqs:CreateQueue, sns:Subscribe, SetQueueAttributes...: far more IAM than one
ReceiveMessage), and a SIGKILLed or OOM-killed task leaves an orphan queue and
subscription that nobody deletes. Read-without-delete keeps the task role at one action
on one queue and has nothing to clean up.

(A little over 250 lines: the contract above, the loop and its three states (failing, blind,
ok) with their transitions, which read best together; the parser and the seen ids are in
src.events.message, the SQS reader in src.events.sqs.)
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from src.errors import ErrorCode, SecretsError
from src.events.message import MalformedEvent, SecretEvent, SeenIds, parse_event, stale_name
from src.loading.refresh import backoff
from src.secret.status import now
from src.telemetry import metrics

__all__ = [
    "EventSource",
    "EventSourceState",
    "MalformedEvent",
    "SecretEvent",
    "SeenIds",
    "parse_event",
    "stale_name",
]

log = logging.getLogger("short_cut.events")

# After a receive that returned only seen messages: pause this long (±25 %) before the next.
SEEN_PAUSE = 1.0
# Retry a failing source with full-jitter backoff up to this cap by default (the service passes
# SECRETS_RETRY_MAX_BACKOFF, the one cap of every retry it makes).
FAILURE_BACKOFF_CAP = 60.0
State = Literal["off", "starting", "ok", "failing", "blind"]
# The most one ReceiveMessage returns (MaxNumberOfMessages: 1 to 10); src.events.sqs asks for it.
MAX_MESSAGES = 10
BLIND_HINT = ErrorCode.EventPathBlind.hint


@dataclass(frozen=True)
class EventSourceState:
    """What /health's full view shows of the event source: state, error code and hint, last event."""

    state: State = "off"
    error: str | None = None
    hint: str | None = None
    last_event_at: datetime | None = None
    # Events that woke the refresh: each is a DescribeSecret, not necessarily a new version.
    wakes: int = field(default=0)

    def view(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "error": self.error,
            "hint": self.hint,
            "last_event_at": self.last_event_at.isoformat() if self.last_event_at else None,
            "wakes": self.wakes,
        }


OFF = EventSourceState()


class Reader(Protocol):
    def receive(self) -> list[tuple[str, str]]:
        """(MessageId, Body) of the messages a long poll returned; raises SecretsError."""
        ...


Wake = Callable[[SecretEvent, str], None]


class EventSource:
    """The long-poll loop, in one daemon thread; `run_once` is one turn of it (tests drive it)."""

    def __init__(
        self,
        reader: Reader,
        *,
        names: tuple[str, ...],
        served: Callable[[], Mapping[str, str]],
        wake: Wake,
        backoff_cap: float = FAILURE_BACKOFF_CAP,
        on_blind: Callable[[bool], None] | None = None,
        max_messages: int = MAX_MESSAGES,
    ) -> None:
        self._reader = reader
        self._on_blind = on_blind
        self._max_messages = max_messages
        self._was_full = False
        self._backoff_cap = backoff_cap
        self._names = names
        self._served = served
        self._wake = wake
        self._seen = SeenIds()
        self._failures = 0
        self._state = EventSourceState(state="starting")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> EventSourceState:
        return self._state

    def start(self) -> None:
        # A daemon: a long poll in flight must not hold up the process's exit for 20 s.
        self._thread = threading.Thread(target=self._run, name="secret-events", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            pause = self.run_once()
            if pause > 0:
                self._stop.wait(pause)

    def run_once(self) -> float:
        """Receive once and handle what is new; the seconds to wait before the next receive."""
        try:
            messages = self._reader.receive()
        except SecretsError as error:
            return self._failed(error)
        except Exception as exc:
            # Never let the thread die: a dead event source would be a silent loss of the speed-up.
            log.exception("unexpected error in the secret event source")
            return self._failed(SecretsError(ErrorCode.InternalError, f"{type(exc).__name__} in the event source"))
        if self._state.state in ("starting", "failing"):
            if self._state.state == "failing":
                log.info("secret event source recovered", extra={"event_source": "sqs"})
            self._state = replace(self._state, state="ok", error=None, hint=None)
        self._failures = 0
        fresh = False
        for message_id, body in messages:
            malformed = False
            try:
                event = parse_event(body)
            except MalformedEvent:
                event, malformed = None, True
            if not self._seen.add(message_id, event.event_id if event else ""):
                continue
            fresh = True
            if malformed:
                # Nothing of the body is quoted: it is the sender's text (log forging, size).
                log.warning(
                    "secret event dropped: its name, labelUpdated or versionId is not of Secrets Manager's shape",
                    extra={"event_source": "sqs"},
                )
            elif event is not None:
                self._handle(event)
        self._judge(full=len(messages) >= self._max_messages, fresh=fresh)
        if messages and not fresh:
            return SEEN_PAUSE * random.uniform(0.75, 1.25)  # noqa: S311 - not for security
        return 0.0

    def _judge(self, *, full: bool, fresh: bool) -> None:
        """Start a blind episode on a full receive of seen messages, or on a second full receive in a
        row (a queue kept full of new messages hides as much); end it on a receive that was not full."""
        blind, again = self._state.state == "blind", self._was_full
        self._was_full = full
        if full and (not fresh or again) and not blind:
            self._state = replace(self._state, state="blind", error=ErrorCode.EventPathBlind, hint=BLIND_HINT)
            metrics.event_source_blind()
            log.warning(
                "secret event path blind: a receive returned %d messages (%s), so a new event may be hidden "
                "behind them; refreshing on the fallback interval until it can deliver again",
                self._max_messages,
                "all seen before" if not fresh else "the second full receive in a row",
                extra={"error_code": ErrorCode.EventPathBlind, "hint": BLIND_HINT, "event_source": "sqs"},
            )
            self._tell(True)
        elif not full and blind:
            self._state = replace(self._state, state="ok", error=None, hint=None)
            log.info("secret event path delivers again; back to the normal refresh interval")
            self._tell(False)

    def _tell(self, blind: bool) -> None:
        if self._on_blind is None:
            return
        try:
            self._on_blind(blind)
        except Exception:
            log.exception("the Supervisor could not be told about the event path")

    def _handle(self, event: SecretEvent) -> None:
        name = stale_name(event, self._names, self._served())
        if name is None:
            # Name, label and version were checked against Secrets Manager's shapes (parse_event).
            log.debug(
                "secret event ignored: %s %s -> %s (not served, not AWSCURRENT, or the version served)",
                event.name,
                event.label,
                event.version_id,
            )
            return
        log.info(
            "secret event: %s AWSCURRENT -> %s; refreshing now",
            name,
            event.version_id,
            # Not secret_name/version_id: this line announces an event, it does not report what is served.
            extra={"event_secret_name": name, "event_version_id": event.version_id, "event_source": "sqs"},
        )
        self._state = replace(self._state, last_event_at=now(), wakes=self._state.wakes + 1)
        try:
            self._wake(event, name)
        except Exception:
            log.exception("the refresh could not be woken")

    def _failed(self, error: SecretsError) -> float:
        self._failures += 1
        first = self._state.state != "failing" or self._state.error != error.code
        if self._state.state == "blind":
            self._tell(False)  # the fallback interval belongs to a blind path; failing keeps the normal one
        self._state = replace(self._state, state="failing", error=error.code, hint=error.hint)
        metrics.event_source_failed(error)
        pause = max(backoff(self._failures, self._backoff_cap), 0.2)
        # One WARNING when the source starts failing (or fails differently), then INFO per retry.
        log.log(
            logging.WARNING if first else logging.INFO,
            "secret event source failing, polling continues; retry in %.1f s: %s",
            pause,
            error,
            extra={"error_code": error.code, "hint": error.hint, "event_source": "sqs"},
        )
        return pause
