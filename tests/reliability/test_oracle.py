"""The oracle: every operator signal checked against what the tasks really serve, step by step.

Three real services (./entrypoint.sh, JSON logs, METRICS off: the served-version heartbeat does
not depend on it) read one secret and one shared event queue on moto_server (tests.support.moto_sqs,
SQS retention as AWS applies it), each through its own fault proxy. Their stdout is shipped to a
moto CloudWatch Logs group as the awslogs driver ships it (one stream per task,
`ecs/short-cut-api/<task-id>`, each line one event, in order). Then a random, seeded sequence of
STEPS steps: push a valid version; push an invalid one (missing key, placeholder, bad JSON,
nesting); rotate (AWSPENDING, then the AWSCURRENT label moved, as the rotation Lambda's finishSecret
does); roll back; junk, forged and duplicate events; stop or start a task; take one task's read
access away (AccessDenied from its proxy for DescribeSecret, GetSecretValue and ReceiveMessage) or
give it back. Each label move is delivered to the queue as EventBridge would (best effort: an
event is dropped when the queue is at QUEUE_CAP, as AWS may lose one).

After each step the harness lets the tasks settle (bounded), then compares the ground truth (each
task's full /health from loopback, and what the harness did: AWSCURRENT, which versions are valid,
whose access is gone, how many messages are on the queue) with `fleet`'s exit code and rows (the
real command, `src.cli.main`, against the shipped log group) and with each task's status:
- I1: fleet exits 0 only if every live task serves AWSCURRENT and its last refresh succeeded
  (by /health and the harness's knowledge, and by fleet's own rows: no judged row but `current`);
  and when every task ever started is live, current and ok, fleet exits 0 (so a fleet that always
  says 1 fails too). Each live task's row shows the version its /health shows, FAILING exactly
  when its last load or refresh failed.
- I2: a task whose last refresh failed (its /health error, or the harness's knowledge: AWSCURRENT
  invalid, or its access gone) is never `ok`, in /health or in fleet.
- I3: `events.state` is not `ok` while the event path cannot deliver to the task: its
  ReceiveMessage is denied, or the queue holds 10 or more messages (ReceiveMessage returns at most
  10, so an event behind them is never seen).

ORACLE_SEED=<n> replays a sequence; the seed is printed on failure (and at the start).

Each invariant was made false once in a scratch copy of the code, and this harness caught it:
- fleet counting a failing record as current: verdict.state_of without its FAILING branch was
  caught by I1's rows at the first invalid push ("fleet row of … is BEHIND, /health error
  PlaceholderValue"); Verdict.converged ignoring failing rows (rows right, exit code wrong) by
  I1 at step 37 of seed 1 ("fleet exit 0 while its row of … is FAILING", "fleet exit 0 while task
  … has error AccessDeniedException");
- a task whose refresh failed rendered `ok` (web.health.overall returning ok whenever loaded): I2
  at step 3 of seed 1, "task … last refresh failed but /health status is ok";
- the event source never leaving `ok` (EventSource._failed keeping state ok): I3 at step 23 of
  seed 1, "task … events.state ok while its ReceiveMessage is denied".
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.convergence import secret_label_updated, start_moto_sqs
from src.cli import main as cli_main
from tests.e2e.conftest import REGION, moto_client, production_env
from tests.reliability import report
from tests.reliability.conftest import SEEN
from tests.support.canary import canary_payload, canary_secret_string, leaked
from tests.support.fault_proxy import Fault, FaultProxy
from tests.support.processes import DUMMY_CREDENTIALS, Process, running_moto, start_service

STEPS = 42
TASKS = 3
# The most messages the harness lets sit on the queue at once. ReceiveMessage returns at most 10
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ReceiveMessage.html,
# MaxNumberOfMessages 1 to 10), and nobody deletes: with 10 or more, a new event is hidden and the
# path is blind (src.events.source detects it). The cap lets junk bursts fill the queue past 10, so
# I3 demands events.state not ok while it is full, and the fallback poll must still converge.
QUEUE_CAP = 14
JUNK_BURST = 6
RETENTION = 60.0  # the queue's MessageRetentionPeriod (SQS's minimum)
SETTLE = 15.0  # seconds a step may take to show in /health
REFRESH = "2"
LOG_GROUP = "/ecs/short-cut-api-oracle"
ACTIVE_WITHIN = 75
DENIED = ("DescribeSecret", "GetSecretValue", "ReceiveMessage")


def invalid_payloads() -> dict[str, str]:
    missing = canary_payload()
    del missing["OPENAI_API_KEY"]
    nested: object = "x"
    for _ in range(40):
        nested = {"n": nested}
    return {
        "missing-key": json.dumps(missing),
        "placeholder": canary_secret_string(OPENAI_API_KEY="<your-openai-key>"),
        "bad-json": '{"OPENAI_API_KEY": "sk-',
        "nesting": canary_secret_string(MILVUS_HOST=nested),
    }


@dataclass
class Task:
    """One ECS task stand-in: a stable task id (its log stream), a proxy, and a process when running."""

    task_id: str
    proxy: FaultProxy
    process: Process | None = None
    url: str = ""
    shipped: int = 0
    revoked: bool = False

    @property
    def stream(self) -> str:
        return f"ecs/short-cut-api/{self.task_id}"


@dataclass
class World:
    moto: str
    work: Path
    rng: random.Random
    name: str = field(default_factory=lambda: f"short-cut/prod/app-oracle-{uuid.uuid4().hex[:8]}")
    tasks: list[Task] = field(default_factory=list)
    valid: set[str] = field(default_factory=set)
    sent: list[float] = field(default_factory=list)  # when each message went on the queue
    last_event: dict[str, Any] | None = None
    log_ts: dict[str, int] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    seed: int = 0
    last_fleet: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sm, self.sqs, self.logs = (moto_client(s, self.moto) for s in ("secretsmanager", "sqs", "logs"))
        created = self.sm.create_secret(Name=self.name, SecretString=self.valid_value())
        self.arn = created["ARN"]
        self.valid.add(created["VersionId"])
        self.queue = self.sqs.create_queue(
            QueueName=f"short-cut-events-{uuid.uuid4().hex[:8]}",
            Attributes={"MessageRetentionPeriod": str(int(RETENTION))},
        )["QueueUrl"]
        self.logs.create_log_group(logGroupName=LOG_GROUP)

    # -- the secret and the queue ------------------------------------------------
    def valid_value(self) -> str:
        return canary_secret_string(APP_SECRET_KEY=f"CANARYoracle-{uuid.uuid4().hex}")

    def stages(self) -> dict[str, list[str]]:
        return dict(self.sm.describe_secret(SecretId=self.name)["VersionIdsToStages"])

    def current(self) -> str:
        return next(v for v, labels in self.stages().items() if "AWSCURRENT" in labels)

    def depth(self) -> int:
        cutoff = time.monotonic() - RETENTION - 2  # a margin: moto's clock and ours
        self.sent = [t for t in self.sent if t > cutoff]
        return len(self.sent)

    def surely_full(self) -> bool:
        """Ten or more messages that have surely not expired yet (a margin the other way than depth's):
        ReceiveMessage can then return only messages already seen, and the path is blind."""
        recent = time.monotonic() - RETENTION + 3
        return sum(1 for t in self.sent if t > recent) >= 10

    def send(self, body: str) -> bool:
        if self.depth() >= QUEUE_CAP:
            return False
        self.sqs.send_message(QueueUrl=self.queue, MessageBody=body)
        self.sent.append(time.monotonic())
        return True

    def label_moved(self, version: str) -> None:
        event = secret_label_updated(self.name, self.arn, version)
        if self.send(json.dumps(event)):
            self.last_event = event

    def keepalive(self) -> None:
        # One harmless message always visible: each receive returns at once, so a task notices a
        # denied ReceiveMessage within a second instead of after a 20 s empty long poll.
        if not self.sent or time.monotonic() - self.sent[-1] > RETENTION - 15:
            other = secret_label_updated("short-cut/prod/not-served", self.arn, str(uuid.uuid4()))
            self.send(json.dumps(other))

    # -- the tasks ----------------------------------------------------------------
    def start(self, task: Task) -> None:
        env = production_env(
            self.name,
            SECRETS_EVENTS_QUEUE_URL=self.queue,
            AWS_ENDPOINT_URL_SQS=task.proxy.url,
            AWS_ENDPOINT_URL_SECRETS_MANAGER=task.proxy.url,
            SECRETS_REFRESH_INTERVAL=REFRESH,
            SECRETS_RETRY_MAX_BACKOFF="1",
            SECRETS_CONNECT_TIMEOUT="1",
            SECRETS_READ_TIMEOUT="2",
            SECRETS_MAX_ATTEMPTS="2",
            LOG_FORMAT="json",
            METRICS="off",
            PYTHONUNBUFFERED="1",  # as the Dockerfile sets it: each line reaches the log driver at once
            ENV_FILE=str(self.work / "absent.env"),
            SECRETS_FILE_DIR=str(self.work),
            **DUMMY_CREDENTIALS,
        )
        task.process, task.url = start_service(self.work, env)
        task.shipped = 0

    def running(self) -> list[Task]:
        return [t for t in self.tasks if t.process is not None]

    def stop(self, task: Task) -> None:
        assert task.process is not None
        self.ship(task)
        task.process.stop()
        self.ship(task)
        task.process, task.revoked = None, False
        task.proxy.clear()

    def ship(self, task: Task) -> None:
        """New complete lines of the task's output to its stream, as awslogs sends them."""
        if task.process is None:
            return
        data = task.process.log_path.read_bytes()
        end = data.rfind(b"\n") + 1
        lines = [line for line in data[task.shipped : end].decode("utf-8", "replace").splitlines() if line.strip()]
        task.shipped = end
        if not lines:
            return
        with contextlib.suppress(self.logs.exceptions.ResourceAlreadyExistsException):
            self.logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=task.stream)
        events = []
        for line in lines:
            stamp = max(int(time.time() * 1000), self.log_ts.get(task.stream, 0) + 1)
            self.log_ts[task.stream] = stamp
            events.append({"timestamp": stamp, "message": line})
        for i in range(0, len(events), 500):
            self.logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=task.stream, logEvents=events[i : i + 500])

    # -- what the operator sees ---------------------------------------------------
    def health(self, task: Task) -> dict[str, Any] | None:
        try:
            response = httpx.get(f"{task.url}/health", timeout=5)
        except httpx.HTTPError:
            return None
        SEEN.append(response.text)
        return dict(response.json())

    def fleet(self) -> tuple[int, dict[str, Any]]:
        """The real command, in this process, against the shipped log group."""
        stdout, stderr = io.StringIO(), io.StringIO()
        argv = ["fleet", "--log-group", LOG_GROUP, "--name", self.name, "--region", REGION, "--json"]
        # A live task writes a heartbeat every 60 s: 75 s leaves a stopped task out sooner than 180.
        argv += ["--active-within", str(ACTIVE_WITHIN)]
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = cli_main(argv)
        SEEN.extend([stdout.getvalue(), stderr.getvalue()])
        assert code in (0, 1), stderr.getvalue()
        return code, json.loads(stdout.getvalue())


# -- the steps ------------------------------------------------------------------


def push_valid(world: World) -> str:
    version = world.sm.put_secret_value(SecretId=world.name, SecretString=world.valid_value())["VersionId"]
    world.valid.add(version)
    world.label_moved(version)
    return f"push valid {version[:8]}"


def push_invalid(world: World) -> str:
    kind, value = world.rng.choice(sorted(invalid_payloads().items()))
    version = world.sm.put_secret_value(SecretId=world.name, SecretString=value)["VersionId"]
    world.label_moved(version)
    return f"push invalid ({kind}) {version[:8]}"


def rotate(world: World) -> str:
    # As the rotation Lambda does it: createSecret puts AWSPENDING, finishSecret moves AWSCURRENT.
    token = str(uuid.uuid4())
    world.sm.put_secret_value(
        SecretId=world.name, SecretString=world.valid_value(), ClientRequestToken=token, VersionStages=["AWSPENDING"]
    )
    world.valid.add(token)
    current = world.current()
    world.sm.update_secret_version_stage(
        SecretId=world.name, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=current
    )
    world.sm.update_secret_version_stage(SecretId=world.name, VersionStage="AWSPENDING", RemoveFromVersionId=token)
    world.label_moved(token)
    return f"rotate {token[:8]}"


def roll_back(world: World) -> str:
    stages = world.stages()
    previous = next((v for v, labels in stages.items() if "AWSPREVIOUS" in labels), None)
    if previous is None:
        return push_valid(world)
    current = world.current()
    world.sm.update_secret_version_stage(
        SecretId=world.name, VersionStage="AWSCURRENT", MoveToVersionId=previous, RemoveFromVersionId=current
    )
    world.label_moved(previous)
    return f"roll back to {previous[:8]}"


def junk(world: World) -> str:
    bodies = ["not json", "{}", json.dumps({"detail-type": "Secret Label Updated", "detail": "x" * 300})]
    sent = sum(world.send(world.rng.choice(bodies)) for _ in range(JUNK_BURST))
    return f"junk x{sent}"


def forged(world: World) -> str:
    # A well-formed event for the served secret naming a version that is not AWSCURRENT:
    # DescribeSecret decides, and nothing may change.
    world.send(json.dumps(secret_label_updated(world.name, world.arn, str(uuid.uuid4()))))
    return "forged event"


def duplicate(world: World) -> str:
    if world.last_event is None:
        return forged(world)
    world.send(json.dumps(world.last_event))
    return "duplicate event"


def stop_or_start(world: World) -> str:
    stopped = [t for t in world.tasks if t.process is None]
    running = world.running()
    if stopped and (len(running) <= 1 or world.rng.random() < 0.8):
        task = world.rng.choice(stopped)
        world.start(task)
        return f"start {task.task_id[:6]}"
    task = world.rng.choice(running)
    world.stop(task)
    return f"stop {task.task_id[:6]}"


def access(world: World) -> str:
    revoked = [t for t in world.running() if t.revoked]
    if revoked and world.rng.random() < 0.6:
        task = world.rng.choice(revoked)
        task.proxy.clear()
        task.revoked = False
        return f"give back {task.task_id[:6]}'s read access"
    task = world.rng.choice(world.running())
    task.proxy.set_fault(Fault("error", "AccessDeniedException", actions=DENIED))
    task.revoked = True
    return f"take away {task.task_id[:6]}'s read access"


STEP_KINDS: list[tuple[Callable[[World], str], int]] = [
    (push_valid, 4),
    (push_invalid, 3),
    (rotate, 3),
    (roll_back, 2),
    (junk, 2),
    (forged, 1),
    (duplicate, 1),
    (stop_or_start, 2),
    (access, 3),
]


# -- settling and judging -------------------------------------------------------


def expected_failure(world: World, task: Task, current: str) -> bool:
    return task.revoked or current not in world.valid


def settled(world: World, task: Task, body: dict[str, Any] | None, current: str) -> bool:
    if body is None:
        return False
    error = body["secrets"]["error"]
    if world.surely_full() and body["events"]["state"] == "ok":
        return False  # the source has yet to see a full receive of messages it knows
    if task.revoked:
        return error is not None and body["events"]["state"] != "ok"
    if current not in world.valid:
        return error is not None
    return error is None and body["secrets"]["version_ids"].get(world.name) == current


def settle(world: World) -> None:
    deadline = time.monotonic() + SETTLE
    current = world.current()
    while time.monotonic() < deadline:
        if all(settled(world, t, world.health(t), current) for t in world.running()):
            return
        time.sleep(0.3)


def outline(body: dict[str, Any] | None) -> tuple[object, ...]:
    """What must not change between the two looks at /health around fleet's query."""
    if body is None:
        return (None,)
    secrets = body["secrets"]
    return (secrets["version_ids"], secrets["error"] is None, body["status"], body["events"]["state"])


def judge(world: World) -> list[str]:
    """The three invariants against one consistent snapshot; the violations found."""
    for _ in range(3):
        current = world.current()
        truth = {t.task_id: world.health(t) for t in world.running()}
        for task in world.running():
            world.ship(task)
        code, document = world.fleet()
        world.last_fleet = {"exit": code, **document}
        again = {t.task_id: world.health(t) for t in world.running()}
        same = [outline(b) for b in truth.values()] == [outline(b) for b in again.values()]
        if same and world.current() == current:
            break
        time.sleep(0.5)
    rows = {t["task"]: t for t in document["tasks"] if t.get("secret_name") == world.name}
    problems: list[str] = []
    # I1, on fleet's own rows: an exit 0 with any judged row not current (a stopped task's too).
    if code == 0:
        problems += [
            f"I1: fleet exit 0 while its row of {t['task'][:6]} is {t['state']}"
            for t in document["tasks"]
            if t["active"] and t["state"] != "current"
        ]
    everyone_good = True
    for task in world.running():
        body = truth[task.task_id]
        if body is None:
            problems.append(f"task {task.task_id[:6]} did not answer /health")
            everyone_good = False
            continue
        served = body["secrets"]["version_ids"].get(world.name)
        error = body["secrets"]["error"]
        failed = error is not None or expected_failure(world, task, current)
        good = not failed and served == current
        everyone_good = everyone_good and good
        # I1
        if code == 0 and not good:
            why = f"has error {error['code']}" if error else f"serves {served} (AWSCURRENT {current})"
            problems.append(f"I1: fleet exit 0 while task {task.task_id[:6]} {why}")
        row = rows.get(task.task_id)
        if row is None:
            problems.append(f"I1: fleet has no row for live task {task.task_id[:6]}")
        else:
            if row["version_id"] != served:
                problems.append(f"I1: fleet row of {task.task_id[:6]} says {row['version_id']}, /health {served}")
            if (row["state"] == "FAILING") != (error is not None):
                problems.append(f"I1: fleet row of {task.task_id[:6]} is {row['state']}, /health error {error}")
        # I2
        if failed and body["status"] == "ok":
            problems.append(f"I2: task {task.task_id[:6]} last refresh failed but /health status is ok")
        if failed and row is not None and row["state"] == "current":
            problems.append(f"I2: task {task.task_id[:6]} last refresh failed but fleet says current")
        # I3
        state = body["events"]["state"]
        if state == "ok" and task.revoked:
            problems.append(f"I3: task {task.task_id[:6]} events.state ok while its ReceiveMessage is denied")
        if state == "ok" and world.surely_full():
            problems.append(f"I3: task {task.task_id[:6]} events.state ok with {world.depth()} messages queued")
    if everyone_good and len(world.running()) == len(world.tasks) and code != 0:
        problems.append(f"I1: every task serves AWSCURRENT {current[:8]} and is ok, yet fleet exits {code}")
    return problems


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    seed = int(os.environ.get("ORACLE_SEED") or random.SystemRandom().randrange(1, 2**31))
    print(f"oracle seed {seed} (ORACLE_SEED={seed} replays it)")
    with running_moto(tmp_path, start_moto_sqs) as url:
        world = World(url, tmp_path, random.Random(seed), seed=seed)
        try:
            for i in range(TASKS):
                proxy = FaultProxy(url).start()
                world.tasks.append(Task(f"{i:02d}{uuid.uuid4().hex[2:]}", proxy))
            yield world
        finally:
            for task in world.tasks:
                if task.process is not None:
                    task.process.stop()
                task.proxy.stop()


@pytest.mark.timeout(600)
def test_every_signal_agrees_with_what_the_tasks_serve(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", world.moto)
    monkeypatch.setenv("AWS_REGION", REGION)
    for key, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    for var in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    started = time.monotonic()
    world.keepalive()
    for task in world.tasks:
        world.start(task)
    settle(world)
    kinds, weights = zip(*STEP_KINDS, strict=True)
    for number in range(STEPS + 1):
        what = "start" if number == 0 else world.rng.choices(kinds, weights)[0](world)
        world.history.append(what)
        world.keepalive()
        settle(world)
        problems = judge(world)
        if problems:
            seed = world.seed
            report.record("oracle", "signals agree with /health", problems[0], False)
            pytest.fail(
                f"oracle seed {seed} (ORACLE_SEED={seed} replays it), step {number} ({what}):\n  "
                + "\n  ".join(problems)
                + "\nsteps so far: "
                + "; ".join(world.history)
                + f"\nfleet: {json.dumps(world.last_fleet)[:3000]}",
                pytrace=False,
            )
    elapsed = time.monotonic() - started
    print(f"oracle seed {world.seed}: {STEPS} steps in {elapsed:.0f}s: " + "; ".join(world.history))
    outputs = [t.process.output() for t in world.running() if t.process is not None]
    assert leaked(*outputs) == []
    report.record("oracle", f"{STEPS} steps, 3 invariants", f"held ({elapsed:.0f}s)", True, elapsed)
