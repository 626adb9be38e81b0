"""The event source (src/events/source.py, src/events/sqs.py): the event parser, the seen-ids memory, one turn
of the loop, and the SQS reader against in-process moto and botocore's Stubber.

AWS behaviour relied on, each cited where used:
- the event's shape: https://docs.aws.amazon.com/secretsmanager/latest/userguide/event-detail-secret-label-updated-secretsmanager.html
  (example: version, id, detail-type, source, account, time, region, resources, detail{name, labelUpdated, versionId});
  not sent for AWSPENDING or AWSPREVIOUS, sent for custom labels (secret-event-notifications.html);
- with VisibilityTimeout=0 a received message stays visible to every other consumer
  (aws/aws-sdk-java#705, the maintainers: "No visibility timeout means you aren't reserving the message
  so it can be picked up by multiple consumers");
- SQS standard queues and EventBridge are at-least-once: duplicates happen, and out of order
  (SQSDeveloperGuide/standard-queues.html; eventbridge/latest/userguide/eb-rule-retry-policy.html).
"""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from pydantic import ValidationError

from src.config import Settings, settings_error
from src.errors import ErrorCode, SecretsError
from src.events import message
from src.events import source as events
from src.events.message import SecretEvent, SeenIds, parse_event, stale_name
from src.events.source import EventSource, EventSourceState
from src.events.sqs import WAIT_SECONDS, QueueReader
from src.secret.payload import parse_secret
from src.secret.status import SecretStatus
from src.telemetry import metrics
from src.web.health import HealthRenderer

NAME = "short-cut/prod/app"
ARN = "arn:aws:secretsmanager:us-west-2:012345678901:secret:short-cut/prod/app-a1b2c3"
OLD, NEW = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111", "b2c3d4e5-6789-01bc-def0-EXAMPLE22222"


def envelope(
    *, name: str = NAME, label: str = "AWSCURRENT", version: str = NEW, event_id: str = "e-1"
) -> dict[str, Any]:
    """The documentation's example event, with our own secret and ids."""
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Secret Label Updated",
        "source": "aws.secretsmanager",
        "account": "012345678901",
        "time": "2024-02-06T16:43:48Z",
        "region": "us-west-2",
        "resources": [ARN],
        "detail": {"name": name, "labelUpdated": label, "versionId": version},
    }


# -- the parser ---------------------------------------------------------------


def test_the_documented_envelope_parses() -> None:
    event = parse_event(json.dumps(envelope()))
    assert event == SecretEvent(NAME, "AWSCURRENT", NEW, (ARN,), "e-1")


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "[" * 100_000 + "]" * 100_000,  # deeper than the parser's recursion limit
        json.dumps([envelope()]),
        json.dumps({**envelope(), "detail-type": "AWS API Call via CloudTrail"}),
        json.dumps({**envelope(), "source": "aws.ssm"}),
        json.dumps({**envelope(), "detail": "AWSCURRENT"}),
        json.dumps({**envelope(), "detail": {"name": NAME, "labelUpdated": "AWSCURRENT"}}),
        json.dumps({**envelope(), "detail": {"name": NAME, "labelUpdated": "AWSCURRENT", "versionId": 7}}),
        json.dumps({**envelope(), "detail": {"name": "", "labelUpdated": "AWSCURRENT", "versionId": NEW}}),
        # An SNS envelope around the event (a topic in between): not what the stack delivers.
        json.dumps({"Type": "Notification", "Message": json.dumps(envelope())}),
    ],
)
def test_anything_else_is_ignored(body: str) -> None:
    assert parse_event(body) is None


def test_odd_optional_fields_do_not_matter() -> None:
    event = parse_event(json.dumps({**envelope(), "resources": "x", "id": 5}))
    assert event is not None and event.resources == () and event.event_id == ""


# -- which events ask for a refresh ---------------------------------------------


@pytest.mark.parametrize(
    ("event", "served", "expected"),
    [
        (SecretEvent(NAME, "AWSCURRENT", NEW), {NAME: OLD}, NAME),
        (SecretEvent(NAME, "AWSCURRENT", NEW), {NAME: NEW}, None),  # a duplicate, or we got there first
        (SecretEvent(NAME, "AWSCURRENT", OLD), {NAME: NEW}, NAME),  # older or a rollback: DescribeSecret decides
        (SecretEvent(NAME, "AWSPENDING", NEW), {NAME: OLD}, None),
        (SecretEvent(NAME, "MYLABEL", NEW), {NAME: OLD}, None),  # custom labels are sent too
        (SecretEvent("short-cut/prod/other", "AWSCURRENT", NEW), {NAME: OLD}, None),
        (SecretEvent(NAME, "AWSCURRENT", NEW), {}, NAME),  # not loaded yet
    ],
)
def test_stale_name(event: SecretEvent, served: dict[str, str], expected: str | None) -> None:
    assert stale_name(event, (NAME,), served) == expected


def test_a_secret_named_by_arn_matches_the_events_resources() -> None:
    event = SecretEvent(NAME, "AWSCURRENT", NEW, (ARN,))
    assert stale_name(event, (ARN,), {ARN: OLD}) == ARN
    assert stale_name(event, ("other", NAME), {"other": OLD, NAME: OLD}) == NAME


# -- the seen ids -----------------------------------------------------------------


def test_seen_ids_are_bounded_and_expire() -> None:
    clock = [0.0]
    seen = SeenIds(capacity=3, ttl=10, clock=lambda: clock[0])
    assert seen.add("m1") and not seen.add("m1")
    assert seen.add("m2", "e2") and not seen.add("m3", "e2")  # same event, another message: a duplicate
    assert seen.add("m4") and len(seen) <= 3
    assert seen.add("m1")  # pushed out by capacity
    clock[0] = 11
    assert seen.add("m4")  # expired
    assert seen.add("", "") and seen.add("")  # no id: never counted as seen


# -- one turn of the loop -----------------------------------------------------------


class FakeReader:
    def __init__(self) -> None:
        self.batches: list[list[tuple[str, str]] | Exception] = []

    def receive(self) -> list[tuple[str, str]]:
        item = self.batches.pop(0) if self.batches else []
        if isinstance(item, Exception):
            raise item
        return item


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    stream = io.StringIO()
    monkeypatch.setattr(metrics, "_emitter", metrics.configure("production", None, stream=stream))
    return stream


def source(reader: FakeReader, served: dict[str, str]) -> tuple[EventSource, list[str]]:
    woken: list[str] = []
    return EventSource(reader, names=(NAME,), served=lambda: served, wake=lambda _, n: woken.append(n)), woken


def test_a_new_event_wakes_once_and_a_seen_one_pauses() -> None:
    reader, served = FakeReader(), {NAME: OLD}
    src, woken = source(reader, served)
    message = ("m-1", json.dumps(envelope()))
    reader.batches = [[message], [message], [("m-2", json.dumps(envelope()))], []]
    assert src.run_once() == 0.0 and woken == [NAME]
    assert src.state.state == "ok" and src.state.wakes == 1 and src.state.last_event_at is not None
    # Still visible (nobody deletes it): seen, so no second wake, and a pause before the next receive.
    assert 0.75 <= src.run_once() <= 1.25 and woken == [NAME]
    # EventBridge delivered the same event twice (another message id, the same event id).
    assert src.run_once() > 0 and woken == [NAME]
    assert src.run_once() == 0.0  # an empty long poll: receive again at once


def test_an_event_for_the_version_served_does_not_wake() -> None:
    reader, served = FakeReader(), {NAME: NEW}
    src, woken = source(reader, served)
    reader.batches = [[("m-1", json.dumps(envelope(version=NEW))), ("m-2", "garbage")]]
    assert src.run_once() == 0.0 and woken == []


def test_a_failing_source_is_shown_counted_retried_and_recovers(emitted: io.StringIO) -> None:
    reader, served = FakeReader(), {NAME: OLD}
    src, woken = source(reader, served)
    denied = SecretsError.from_aws("AccessDenied", "not authorized to perform: sqs:receivemessage")
    reader.batches = [denied, RuntimeError("boom"), [("m-1", json.dumps(envelope()))]]
    pause = src.run_once()
    assert 0.2 <= pause <= events.FAILURE_BACKOFF_CAP
    assert src.state.state == "failing" and src.state.error == "AccessDenied"
    assert src.run_once() > 0 and src.state.error == ErrorCode.InternalError  # the loop survives anything
    lines = [json.loads(line) for line in emitted.getvalue().splitlines()]
    assert [(line["EventSourceFailure"], line["error_code"]) for line in lines] == [
        (1, "AccessDenied"),
        (1, "InternalError"),
    ]
    assert src.run_once() == 0.0
    recovered: EventSourceState = src.state  # a new snapshot (mypy narrowed the old one)
    assert recovered.state == "ok" and recovered.error is None and woken == [NAME]


def test_backoff_grows_and_is_capped() -> None:
    reader = FakeReader()
    src, _ = source(reader, {})
    reader.batches = [SecretsError(ErrorCode.EndpointUnreachable, "down")] * 40
    pauses = [src.run_once() for _ in range(40)]
    assert all(0.2 <= p <= events.FAILURE_BACKOFF_CAP for p in pauses)
    assert max(pauses[20:]) > 10  # full jitter up to the cap, not a hot loop


def test_the_backoff_cap_is_the_services_retry_cap() -> None:
    """The service passes SECRETS_RETRY_MAX_BACKOFF: a source that failed many times retries within it."""
    reader = FakeReader()
    src = events.EventSource(reader, names=(NAME,), served=dict, wake=lambda *_: None, backoff_cap=2.0)
    reader.batches = [SecretsError(ErrorCode.EndpointUnreachable, "down")] * 40
    pauses = [src.run_once() for _ in range(40)]
    assert all(0.2 <= p <= 2.0 for p in pauses)


def test_the_thread_stops_promptly() -> None:
    reader = FakeReader()
    src, _ = source(reader, {})
    reader.batches = [SecretsError(ErrorCode.EndpointUnreachable, "down")] * 1000
    src.start()
    src.stop(timeout=2)
    assert src._thread is not None and not src._thread.is_alive()


# -- the SQS reader ---------------------------------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def reader(url: str) -> QueueReader:
    return QueueReader(url, "us-east-1", connect_timeout=1, read_timeout=2, max_attempts=1)


def operations(client: Any) -> list[str]:
    """Every operation the client calls, recorded before it is sent: what the task role must allow."""
    called: list[str] = []
    client.meta.events.register("before-call.sqs", lambda model, **_: called.append(model.name))
    return called


def test_every_task_sees_every_message_and_only_receives(aws: Any) -> None:
    url = aws.create_queue(QueueName="events", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    aws.send_message(QueueUrl=url, MessageBody=json.dumps(envelope()))
    tasks = [reader(url) for _ in range(3)]
    called = [operations(task.client) for task in tasks]
    seen = [task.receive() for task in tasks] + [tasks[0].receive()]
    assert all(len(batch) == 1 and parse_event(batch[0][1]) is not None for batch in seen)
    assert len({batch[0][0] for batch in seen}) == 1  # one message, seen by all, still there
    aws.delete_queue(QueueUrl=url)
    with pytest.raises(SecretsError) as caught:
        tasks[1].receive()
    assert caught.value.code == "QueueDoesNotExist" and "sqs:ReceiveMessage" in caught.value.hint
    # Least privilege: the whole life of a reader, failures included, is ReceiveMessage.
    assert {op for ops in called for op in ops} == {"ReceiveMessage"}


def test_the_request_is_a_long_poll_that_leaves_messages_visible() -> None:
    client = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t")
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/events"
    with Stubber(client) as stub:
        expected = {"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 20, "VisibilityTimeout": 0}
        stub.add_response("receive_message", {"Messages": [{"MessageId": "m", "Body": "b"}]}, expected)
        stub.add_response("receive_message", {}, expected)
        # The query-protocol spelling of a deleted queue (botocore's awsQueryCompatible trait).
        stub.add_client_error("receive_message", "AWS.SimpleQueueService.NonExistentQueue", "gone")
        stub.add_client_error("receive_message", "AccessDenied", "denied")
        queue = QueueReader(url, "us-east-1", connect_timeout=1, read_timeout=2, max_attempts=1, client=client)
        assert queue.receive() == [("m", "b")] and queue.receive() == []
        codes = []
        for _ in range(2):
            with pytest.raises(SecretsError) as caught:
                queue.receive()
            codes.append(caught.value.code)
        assert codes == ["QueueDoesNotExist", "AccessDenied"]


def test_the_read_timeout_outlasts_the_long_poll(aws: Any) -> None:
    queue = reader("https://sqs.us-east-1.amazonaws.com/123456789012/events")
    assert queue.client.meta.config.read_timeout > WAIT_SECONDS


def test_an_unreachable_endpoint_names_sqs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")  # discard: nothing listens
    for key, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(key, value)
    queue = QueueReader(
        "http://127.0.0.1:9/123456789012/events", "us-east-1", connect_timeout=0.5, read_timeout=0.5, max_attempts=1
    )
    with pytest.raises(SecretsError) as caught:
        queue.receive()
    assert caught.value.code == ErrorCode.EndpointUnreachable
    assert "SQS" in caught.value.message and "Secrets Manager" not in caught.value.message


# -- the setting, the rules around it, and /health ------------------------------------


def test_the_queue_url_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/short-cut-prod-secret-events"
    assert Settings(_env_file=None, SECRETS_EVENTS_QUEUE_URL=f"  {url} ").secrets_events_queue_url == url
    assert Settings(_env_file=None, SECRETS_EVENTS_QUEUE_URL="").secrets_events_queue_url is None
    assert Settings(_env_file=None).secrets_events_queue_url is None
    for bad in ("short-cut-prod-secret-events", "arn:aws:sqs:eu-west-1:123456789012:q", "https://", "https://sqs/"):
        with pytest.raises(ValidationError) as caught:
            Settings(_env_file=None, SECRETS_EVENTS_QUEUE_URL=bad)
        error = settings_error(caught.value)
        assert error.code == ErrorCode.InvalidConfiguration and "SECRETS_EVENTS_QUEUE_URL" in error.message
        assert bad not in error.message or bad == "https://"


def test_a_secret_cannot_point_the_service_at_another_queue() -> None:
    with pytest.raises(SecretsError) as caught:
        parse_secret(json.dumps({"SECRETS_EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/evil"}))
    assert caught.value.code == ErrorCode.ForbiddenKey


def test_health_shows_the_source_in_the_full_view_only_and_stays_ok() -> None:
    from src.web.health_models import HealthBody

    state = EventSourceState("failing", "AccessDenied")
    renderer = HealthRenderer(
        lambda: SecretStatus(loaded=True), app_env="production", version="1", events=lambda: state
    )
    code, full = renderer.render(full=True)
    data = json.loads(full)
    assert code == 200 and data["status"] == "ok"
    assert data["events"] == {
        "state": "failing",
        "error": "AccessDenied",
        "hint": None,
        "last_event_at": None,
        "wakes": 0,
    }
    HealthBody.model_validate_json(full, strict=True)
    code, minimal = renderer.render(full=False)
    assert code == 200 and "events" not in json.loads(minimal) and b"AccessDenied" not in minimal
    state = EventSourceState("ok")  # a new snapshot is rendered at once, not after the second ticks
    assert json.loads(renderer.render(full=True)[1])["events"]["state"] == "ok"


# -- what a message body may not do (sizes, log forging) -----------------------------------------


@pytest.mark.parametrize(
    "version",
    [
        "v1",  # too short for a Secrets Manager version id
        "a" * 65,
        "b2c3d4e5-6789-01bc-def0-EXAMPLE22222\nINFO forged line",
        "b2c3d4e5-6789-01bc-def0-EXAMPLE2222 ",
        "x" * 200_000,
    ],
)
def test_a_malformed_version_id_is_dropped_with_a_warning_that_quotes_nothing(
    version: str, caplog: pytest.LogCaptureFixture
) -> None:
    woken: list[str] = []
    body = json.dumps(envelope(version=version))

    class Once:
        def receive(self) -> list[tuple[str, str]]:
            return [("m-bad", body)]

    with pytest.raises(message.MalformedEvent):
        parse_event(body)
    src = EventSource(Once(), names=(NAME,), served=lambda: {NAME: OLD}, wake=lambda e, n: woken.append(n))
    with caplog.at_level("DEBUG", logger="short_cut.events"):
        src.run_once()
        src.run_once()  # the same message again: remembered, not warned twice
    assert woken == [] and src.state.wakes == 0
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "dropped" in warnings[0].getMessage()
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert version.strip() not in logged and "forged" not in logged


def test_long_ids_are_remembered_by_digest_so_memory_stays_bounded() -> None:
    seen = SeenIds(capacity=50)
    huge = [f"{n:06d}" + "z" * 100_000 for n in range(200)]
    for identifier in huge:
        assert seen.add(identifier)
    assert len(seen) == 50
    assert not seen.add(huge[-1])  # still recognised (by its digest)
    stored = sum(len(k) for k in seen._ids)
    assert stored <= 50 * message.MAX_ID_LENGTH


# -- a blind path: a full receive of messages already seen ------------------------------------
# ReceiveMessage returns at most 10 messages (MaxNumberOfMessages, "Valid values: 1 to 10",
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html), and
# nobody deletes: ten seen messages can hide an eleventh for their whole retention.


def state_of(src: EventSource) -> str:
    """The state now (a function, so mypy does not narrow the property across turns)."""
    return src.state.state


def junk(count: int, start: int = 0) -> list[tuple[str, str]]:
    return [(f"junk-{i}", json.dumps({"not": "an event", "n": i})) for i in range(start, start + count)]


def blind_source(reader: FakeReader) -> tuple[EventSource, list[bool]]:
    told: list[bool] = []
    src = EventSource(reader, names=(NAME,), served=lambda: {NAME: OLD}, wake=lambda *_: None, on_blind=told.append)
    return src, told


def test_a_full_receive_of_seen_messages_is_blind_once_and_recovers(
    emitted: io.StringIO, caplog: pytest.LogCaptureFixture
) -> None:
    reader = FakeReader()
    src, told = blind_source(reader)
    reader.batches = [junk(10), junk(10), junk(10), junk(10), junk(9), junk(10)]
    with caplog.at_level("INFO", logger="short_cut.events"):
        src.run_once()  # ten new messages: delivered, not blind
        assert state_of(src) == "ok" and told == []
        for _ in range(3):  # the same ten again and again: blind, said once
            src.run_once()
            assert state_of(src) == "blind"
        blind = src.state
        assert blind.error == ErrorCode.EventPathBlind and blind.hint == ErrorCode.EventPathBlind.hint
        assert blind.view()["state"] == "blind" and blind.view()["error"] == "EventPathBlind"
        assert told == [True]
        warnings = [r for r in caplog.records if r.levelname == "WARNING"]
        assert len(warnings) == 1 and getattr(warnings[0], "error_code", None) == "EventPathBlind"
        lines = [json.loads(line) for line in emitted.getvalue().splitlines()]
        assert [(line["EventSourceBlind"], line["error_code"]) for line in lines] == [(1, "EventPathBlind")]
        src.run_once()  # fewer than ten: everything visible was delivered
        assert state_of(src) == "ok" and src.state.error is None and src.state.hint is None
        assert told == [True, False]
        src.run_once()  # full and seen again: a new episode, a new warning
        assert state_of(src) == "blind" and told == [True, False, True]
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 2


def test_a_full_receive_with_something_new_does_not_end_an_episode() -> None:
    reader = FakeReader()
    src, told = blind_source(reader)
    reader.batches = [junk(10), junk(5), junk(9) + junk(1, start=50), junk(10), junk(9) + junk(1, start=60), []]
    src.run_once()
    src.run_once()
    src.run_once()
    assert state_of(src) == "ok" and told == []  # one full receive with something new: delivered
    src.run_once()
    assert state_of(src) == "blind"
    src.run_once()  # a new message among ten: delivered, but more may hide behind it
    assert state_of(src) == "blind" and told == [True]
    src.run_once()  # an empty long poll: the queue holds nothing unseen
    assert state_of(src) == "ok" and told == [True, False]


def test_a_queue_kept_full_of_new_messages_is_blind_too(emitted: io.StringIO) -> None:
    """A flood: every receive returns ten messages never seen, so an event can hide behind them
    just as well. The second full receive in a row starts the episode."""
    reader = FakeReader()
    src, told = blind_source(reader)
    reader.batches = [junk(10), junk(10, start=10), junk(10, start=20)]
    src.run_once()
    assert state_of(src) == "ok"
    src.run_once()
    assert state_of(src) == "blind" and told == [True]
    src.run_once()
    assert told == [True] and len([line for line in emitted.getvalue().splitlines() if "EventSourceBlind" in line]) == 1


def test_a_blind_path_that_starts_failing_leaves_the_fallback() -> None:
    reader = FakeReader()
    src, told = blind_source(reader)
    reader.batches = [junk(10), junk(10), SecretsError(ErrorCode.EndpointUnreachable, "down"), []]
    for _ in range(3):
        src.run_once()
    assert state_of(src) == "failing" and told == [True, False]
    assert src.state.hint == ErrorCode.EndpointUnreachable.hint
    src.run_once()
    assert state_of(src) == "ok" and told == [True, False]


def test_a_seen_event_among_fewer_than_ten_is_not_blind() -> None:
    """Today's normal case: the one event of a rotation stays visible for a minute, seen."""
    reader = FakeReader()
    src, told = blind_source(reader)
    message = ("m-1", json.dumps(envelope()))
    reader.batches = [[message], [message], [message]]
    for _ in range(3):
        src.run_once()
    assert state_of(src) == "ok" and told == []


def test_the_health_body_shows_a_blind_path_in_full_only() -> None:
    reader = FakeReader()
    src, _ = blind_source(reader)
    reader.batches = [junk(10), junk(10)]
    src.run_once()
    src.run_once()
    status = SecretStatus(loaded=True, source="aws-secrets-manager", secret_names=(NAME,))
    renderer = HealthRenderer(lambda: status, app_env="production", version="t", events=lambda: src.state)
    full = json.loads(renderer.render(full=True)[1])
    assert full["status"] == "ok"  # the timed refresh (on its fallback interval) covers it
    assert full["events"]["state"] == "blind" and full["events"]["error"] == "EventPathBlind"
    assert "SECRETS_EVENTS_FALLBACK_INTERVAL" in full["events"]["hint"]
    minimal = renderer.render(full=False)[1].decode()
    assert "events" not in json.loads(minimal) and "EventPathBlind" not in minimal
