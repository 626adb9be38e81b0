"""The event source's SQS side: the queue reader and the wiring from Settings (see src.events.source).

Contract: `QueueReader.receive()` is one long poll of the queue SECRETS_EVENTS_QUEUE_URL names
(ReceiveMessage, WaitTimeSeconds=20, VisibilityTimeout=0, up to 10 messages): it never
deletes, changes or sends a message, so `sqs:ReceiveMessage` on that one queue is all the
task role needs. Its botocore client is built like src.aws.client's (standard retries, explicit
timeouts, a session that loads one service's data); the endpoint comes from botocore, so
AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL point it at an emulator. Every failure is a
`SecretsError` with the AWS code (a deleted queue is QueueDoesNotExist in either protocol's
spelling) and a hint that says polling goes on. `event_source()` starts src.events.source'
loop for the app, or returns None when the setting is off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from src.aws.client import aws_errors
from src.config import Settings
from src.errors import SecretsError
from src.events.message import SecretEvent
from src.events.source import MAX_MESSAGES, EventSource

__all__ = ["HINT", "MAX_MESSAGES", "WAIT_SECONDS", "QueueReader", "event_source"]

log = logging.getLogger("short_cut.events")

# SQS's limits: a long poll waits at most 20 s and returns at most 10 messages (MAX_MESSAGES,
# src.events.source, which judges a full receive by it).
WAIT_SECONDS = 20
# The one SQS error code with a dotted query-protocol spelling: report it by its API name.
_QUERY_CODES = {"AWS.SimpleQueueService.NonExistentQueue": "QueueDoesNotExist"}
HINT = (
    "The event source only speeds refreshes up: the timed refresh (SECRETS_REFRESH_INTERVAL) keeps "
    "working. Check that SECRETS_EVENTS_QUEUE_URL names the stack's queue, that the queue exists, and "
    "that the task role may sqs:ReceiveMessage on it (and reach the SQS endpoint)."
)


@contextmanager
def _sqs_errors() -> Iterator[None]:
    """src.aws.errors' mapping, with SQS named instead of Secrets Manager and SQS's dotted code by its name."""
    try:
        with aws_errors():
            yield
    except SecretsError as error:
        code = _QUERY_CODES.get(error.code, error.code)
        message = error.message.replace("Secrets Manager", "the SQS endpoint")
        raise SecretsError.from_aws(code, message).with_hint(HINT) from None


class QueueReader:
    """Long-polls one queue without deleting; its botocore client is built on first use."""

    def __init__(
        self,
        queue_url: str,
        region: str | None,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_attempts: int,
        client: Any = None,
    ) -> None:
        self._queue_url, self._region = queue_url, region
        self._connect_timeout, self._max_attempts = connect_timeout, max_attempts
        # The answer to a long poll takes up to WaitTimeSeconds: the read timeout must be longer
        # (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/best-practices-setting-up-long-polling.html).
        self._read_timeout = WAIT_SECONDS + read_timeout
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            with _sqs_errors():
                from botocore.config import Config

                from src.aws.botocore_session import session_for

                config = Config(
                    region_name=self._region,
                    connect_timeout=self._connect_timeout,
                    read_timeout=self._read_timeout,
                    retries={"mode": "standard", "total_max_attempts": self._max_attempts},
                )
                # The endpoint comes from botocore: AWS_ENDPOINT_URL_SQS, then AWS_ENDPOINT_URL.
                self._client = session_for("sqs").create_client("sqs", config=config)
        return self._client

    def receive(self) -> list[tuple[str, str]]:
        client = self.client
        with _sqs_errors():
            response = client.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=MAX_MESSAGES,
                WaitTimeSeconds=WAIT_SECONDS,
                # Leave each message visible to every other task: see the module docstring.
                VisibilityTimeout=0,
            )
        messages = response.get("Messages") or []
        return [(str(m.get("MessageId", "")), str(m.get("Body", ""))) for m in messages]


class _HasStatus(Protocol):
    @property
    def status(self) -> Any: ...


def event_source(
    settings: Settings,
    secrets: _HasStatus,
    loop: asyncio.AbstractEventLoop,
    wake: Callable[[], None],
    blind: Callable[[bool], None] | None = None,
) -> EventSource | None:
    """Start the event source SECRETS_EVENTS_QUEUE_URL names, waking `wake` on `loop`; None when off.

    `blind(True)` / `blind(False)` runs on `loop` when the path goes blind and when it delivers again
    (the Supervisor's fallback interval; see src.events.source)."""
    queue_url = settings.secrets_events_queue_url
    if not queue_url:
        return None
    if not settings.secret_names:
        log.warning("SECRETS_EVENTS_QUEUE_URL is set but no secret is read from AWS: the event source stays off")
        return None

    def wake_on_loop(_: SecretEvent, __: str) -> None:
        # From the source's thread: the Supervisor's event belongs to the event loop.
        with contextlib.suppress(RuntimeError):  # the loop closed: the process is stopping
            loop.call_soon_threadsafe(wake)

    def blind_on_loop(active: bool) -> None:
        if blind is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(blind, active)

    reader = QueueReader(
        queue_url,
        settings.region,
        connect_timeout=settings.secrets_connect_timeout,
        read_timeout=settings.secrets_read_timeout,
        max_attempts=settings.secrets_max_attempts,
    )
    source = EventSource(
        reader,
        names=settings.secret_names,
        served=lambda: secrets.status.version_ids,
        wake=wake_on_loop,
        backoff_cap=settings.secrets_retry_max_backoff,
        on_blind=blind_on_loop,
    )
    source.start()
    log.info("secret event source started", extra={"event_source": "sqs"})
    return source
