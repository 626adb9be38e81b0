"""The event path end to end: ./entrypoint.sh services, a real SQS queue and Secrets Manager on moto_server.

moto_server here is tests.support.moto_sqs (moto with SQS's retention as AWS applies it). Events are
delivered as Secrets Manager -> EventBridge delivers them to an SQS target: the whole event as the
message body (bench.convergence.secret_label_updated, the documentation's example shape). A fault
proxy in front of moto counts every AWS call on the wire and stands in for a removed permission.

AWS behaviour relied on (cited in src/events/source.py and tests/unit/events/test_source.py): a message received with
VisibilityTimeout=0 stays visible to every reader; SQS and EventBridge deliver at least once, out of order
at times; a deleted queue answers QueueDoesNotExist (AWS.SimpleQueueService.NonExistentQueue).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.convergence import ACCOUNT, EVENTS, POLLING, TARGET_P99_S, measure, secret_label_updated, start_moto_sqs
from tests.e2e.conftest import ServiceFactory, moto_client, production_env
from tests.support import cfn
from tests.support.canary import canary_secret_string, leaked
from tests.support.fault_proxy import Fault, FaultProxy
from tests.support.processes import ROOT, running_moto


@pytest.fixture(scope="module")
def moto_sqs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_moto(tmp_path_factory.mktemp("moto-sqs"), start_moto_sqs) as url:
        yield url


@pytest.fixture
def wire(moto_sqs: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_sqs).start()
    try:
        yield proxy
    finally:
        proxy.stop()


def full_health(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/health", timeout=5).json())


def wait_for_body(url: str, check: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            body = full_health(url)
            if check(body):
                return body
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what} not seen within {timeout}s; last body {body}")


class World:
    """A secret and its event queue on moto_server, and a way to rotate and deliver events."""

    def __init__(self, moto: str, name: str | None = None) -> None:
        self.sm, self.sqs = moto_client("secretsmanager", moto), moto_client("sqs", moto)
        self.name = name or f"short-cut/prod/app-events-{uuid.uuid4().hex[:8]}"
        created = self.sm.create_secret(Name=self.name, SecretString=canary_secret_string())
        self.arn, self.first = created["ARN"], created["VersionId"]
        self.queue = self.sqs.create_queue(
            QueueName=f"short-cut-events-{uuid.uuid4().hex[:8]}", Attributes={"MessageRetentionPeriod": "60"}
        )["QueueUrl"]

    def queue_arn(self) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def rotate(self, port: int) -> str:
        value = canary_secret_string(MILVUS_PORT=str(port))
        return str(self.sm.put_secret_value(SecretId=self.name, SecretString=value)["VersionId"])

    def deliver(self, event: dict[str, Any]) -> None:
        self.sqs.send_message(QueueUrl=self.queue, MessageBody=json.dumps(event))

    def event(self, version_id: str, **kw: Any) -> dict[str, Any]:
        return secret_label_updated(self.name, self.arn, version_id, **kw)


def versions(body: dict[str, Any], name: str) -> str | None:
    version = body["secrets"]["version_ids"].get(name)
    return version if isinstance(version, str) else None


@pytest.mark.timeout(120)
def test_five_processes_follow_a_rotation_within_five_seconds_with_events(tmp_path: Path, moto_sqs: str) -> None:
    """The measurement the issue asks for, side by side: fewer rotations than `make bench` (5, not 10)
    and a 3 s poll for the polling-only fleet, so the test stays under a minute. The assertion is the
    target: p99 <= 5 s with events."""
    result = measure(tmp_path, rotations=5, poll_interval=3.0, moto_url=moto_sqs)
    report = {arm: (result.p(arm, 0.5), result.p(arm, 0.99)) for arm in (EVENTS, POLLING)}
    print(f"convergence p50/p99 s: {report}; every rotation: {result.seconds}")
    assert len(result.seconds[EVENTS]) == len(result.seconds[POLLING]) == 5
    assert result.p(EVENTS, 0.99) <= TARGET_P99_S, result.seconds


@pytest.mark.timeout(120)
def test_duplicate_late_and_foreign_events_fetch_nothing(
    tmp_path: Path, moto_sqs: str, wire: FaultProxy, service: ServiceFactory
) -> None:
    world = World(moto_sqs)
    env = production_env(
        world.name,
        SECRETS_EVENTS_QUEUE_URL=world.queue,
        SECRETS_REFRESH_INTERVAL="3600",  # nothing but an event can refresh inside this test
        AWS_ENDPOINT_URL_SQS=wire.url,
    )
    _, url = service(env, endpoint=wire.url)
    body = wait_for_body(url, lambda b: b["events"]["state"] == "ok", 30, "the event source running")
    assert versions(body, world.name) == world.first

    second = world.rotate(20001)
    event = world.event(second)
    world.deliver(event)
    wait_for_body(url, lambda b: versions(b, world.name) == second, 5, "the rotated version")
    fetches = wire.calls["GetSecretValue"]
    describes = wire.calls["DescribeSecret"]
    assert describes == 1  # the event's refresh: DescribeSecret first, then one fetch

    # The same event again (SQS and EventBridge are at-least-once), the same event under a new id,
    # an AWSPENDING label and another secret's event: none of them changes anything or calls anything.
    world.deliver(event)
    world.deliver({**event, "id": str(uuid.uuid4())})
    world.deliver(world.event(str(uuid.uuid4()), label="AWSPENDING"))
    world.deliver({**world.event(str(uuid.uuid4())), "detail": {**event["detail"], "name": "short-cut/prod/other"}})
    time.sleep(3)
    assert (wire.calls["DescribeSecret"], wire.calls["GetSecretValue"]) == (describes, fetches)

    # A late event for the first version (out of order): the service asks DescribeSecret, which says the
    # second is current, and fetches nothing.
    world.deliver(world.event(world.first))
    deadline = time.monotonic() + 5
    while wire.calls["DescribeSecret"] == describes and time.monotonic() < deadline:
        time.sleep(0.05)
    assert wire.calls["DescribeSecret"] == describes + 1
    time.sleep(0.5)
    assert wire.calls["GetSecretValue"] == fetches
    body = full_health(url)
    assert versions(body, world.name) == second and body["status"] == "ok"
    assert body["events"]["wakes"] == 2  # the rotation and the late event; the rest were ignored
    # Least privilege on the wire: the event source only ever called ReceiveMessage.
    sqs_actions = {a for a in wire.calls if a not in ("DescribeSecret", "GetSecretValue")}
    assert sqs_actions == {"ReceiveMessage"}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("log_format", ["json", "text"])
def test_a_lost_permission_or_queue_leaves_polling_and_health_ok(
    tmp_path: Path, moto_sqs: str, wire: FaultProxy, service: ServiceFactory, log_format: str
) -> None:
    world = World(moto_sqs)
    env = production_env(
        world.name,
        SECRETS_EVENTS_QUEUE_URL=world.queue,
        SECRETS_REFRESH_INTERVAL="2",
        SECRETS_RETRY_MAX_BACKOFF="3",  # the source retries within seconds once the fault clears
        AWS_ENDPOINT_URL_SQS=wire.url,
        LOG_FORMAT=log_format,
        METRICS="emf",
    )
    process, url = service(env, endpoint=wire.url)
    # A late event for the version already served: it wakes nothing, and while it stays visible (60 s,
    # nobody deletes) each receive returns at once, so the source turns within about a second instead of
    # a 20 s empty long poll per step. The failures below are still met by real receives.
    world.deliver(world.event(world.first))
    wait_for_body(url, lambda b: b["events"]["state"] == "ok", 30, "the event source running")

    # The task role loses sqs:ReceiveMessage.
    wire.set_fault(Fault("error", "AccessDenied", actions=("ReceiveMessage",)))
    body = wait_for_body(url, lambda b: b["events"]["state"] == "failing", 30, "the source failing")
    assert body["events"]["error"] == "AccessDenied" and body["status"] == "ok"
    wire.clear()
    wait_for_body(url, lambda b: b["events"]["state"] == "ok", 30, "the source recovered")

    # The queue is deleted mid-run: the source fails, the poll still brings the next version.
    world.sqs.delete_queue(QueueUrl=world.queue)
    body = wait_for_body(url, lambda b: b["events"]["state"] == "failing", 30, "the source failing")
    assert body["events"]["error"] == "QueueDoesNotExist"
    version = world.rotate(20002)
    body = wait_for_body(url, lambda b: versions(b, world.name) == version, 10, "the version, by polling")
    assert body["status"] == "ok" and body["events"]["state"] == "failing"

    process.stop()
    output = process.output()
    assert "secret event source failing, polling continues" in output
    assert "secret event source recovered" in output
    failures = [
        json.loads(line) for line in output.splitlines() if line.startswith("{") and "EventSourceFailure" in line
    ]
    codes = {line["error_code"] for line in failures if "_aws" in line}
    assert {"AccessDenied", "QueueDoesNotExist"} <= codes
    assert leaked(output) == []


@pytest.mark.timeout(120)
def test_the_stacks_rule_delivers_what_the_service_reads(moto_sqs: str, service: ServiceFactory) -> None:
    """The stack's own EventBridge rule (its pattern, read from the template) on moto's EventBridge,
    targeting the queue: a matching event reaches the service; AWSPENDING and another secret's
    events are filtered out before the queue. moto's PutEvents stands in for Secrets Manager
    (on AWS only the service itself may send source aws.secretsmanager)."""
    template = cfn.load(ROOT / "infra/cloudformation/short-cut.yaml")
    rule = template["Resources"]["SecretEventsRule"]["Properties"]
    pattern = cfn.resolve(rule["EventPattern"], {"Environment": "prod", "AWS::AccountId": ACCOUNT})
    world = World(moto_sqs, name="short-cut/prod/app")  # the name the stack's rule matches
    bus, arn = moto_client("events", moto_sqs), world.queue_arn()
    bus.put_rule(Name="short-cut-prod-secret-events", EventPattern=json.dumps(pattern))
    bus.put_targets(Rule="short-cut-prod-secret-events", Targets=[{"Id": "secret-events-queue", "Arn": arn}])
    env = production_env(world.name, SECRETS_EVENTS_QUEUE_URL=world.queue, SECRETS_REFRESH_INTERVAL="3600")
    _, url = service({**env, "AWS_ENDPOINT_URL_SQS": moto_sqs}, endpoint=moto_sqs)
    wait_for_body(url, lambda b: b["events"]["state"] == "ok", 30, "the event source running")

    version = world.rotate(20003)
    for name, label in ((world.name, "AWSPENDING"), ("short-cut/prod/other", "AWSCURRENT"), (world.name, "AWSCURRENT")):
        detail = {"name": name, "labelUpdated": label, "versionId": version}
        entry = {"Source": "aws.secretsmanager", "DetailType": "Secret Label Updated", "Detail": json.dumps(detail)}
        assert bus.put_events(Entries=[{**entry, "Resources": [world.arn]}])["FailedEntryCount"] == 0
    body = wait_for_body(url, lambda b: versions(b, world.name) == version, 5, "the rotated version")
    assert body["events"]["wakes"] == 1
    queued = world.sqs.receive_message(QueueUrl=world.queue, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert [json.loads(m["Body"])["detail"]["labelUpdated"] for m in queued["Messages"]] == ["AWSCURRENT"]


@pytest.mark.timeout(120)
def test_a_rotation_reaches_the_task_within_20_s_behind_12_junk_messages(
    moto_sqs: str, wire: FaultProxy, service: ServiceFactory
) -> None:
    """ReceiveMessage returns at most 10 messages (MaxNumberOfMessages, "Valid values: 1 to 10":
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html) and
    nobody deletes: 12 junk messages ahead of the rotation's event hide it for their 60 s retention
    (moto returns the oldest visible messages first, so here the event is never received). The service
    says so (events.state blind, one WARNING, one EventSourceBlind metric) and refreshes on its default
    fallback interval (10 s), so the rotation still arrives within 20 s, with no event woken."""
    world = World(moto_sqs)
    for i in range(12):
        world.sqs.send_message(QueueUrl=world.queue, MessageBody=json.dumps({"junk": i}))
    env = production_env(
        world.name,
        SECRETS_EVENTS_QUEUE_URL=world.queue,
        SECRETS_REFRESH_INTERVAL="3600",  # only the fallback poll can bring the rotation in time
        AWS_ENDPOINT_URL_SQS=wire.url,
        LOG_FORMAT="json",
        METRICS="emf",
    )
    process, url = service(env, endpoint=wire.url)
    body = wait_for_body(url, lambda b: b["events"]["state"] == "blind", 30, "the blind event path")
    assert body["events"]["error"] == "EventPathBlind" and "FALLBACK_INTERVAL" in body["events"]["hint"]
    assert body["status"] == "ok" and versions(body, world.name) == world.first
    # Going blind refreshes at once (the hidden event may be a rotation): let that one pass, so the
    # rotation below can only arrive by the fallback interval.
    wait_for_body(url, lambda b: b["secrets"]["last_refresh_at"] is not None, 5, "the refresh on going blind")

    rotated_at = time.monotonic()
    version = world.rotate(20004)
    world.deliver(world.event(version))  # the 13th message: behind the ten a receive returns
    body = wait_for_body(url, lambda b: versions(b, world.name) == version, 20, "the rotation behind junk")
    took = time.monotonic() - rotated_at
    print(f"rotation reached the task in {took:.1f} s behind 12 junk messages")
    assert body["events"]["wakes"] == 0  # the event itself never got through: the fallback poll did it
    assert body["events"]["state"] == "blind"

    process.stop()
    output = process.output()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    warnings = [line for line in lines if line.get("level") == "WARNING" and line.get("error_code") == "EventPathBlind"]
    assert len(warnings) == 1, warnings  # one for the episode, not one per receive
    assert len([line for line in lines if "EventSourceBlind" in line]) == 1
    assert leaked(output) == []
