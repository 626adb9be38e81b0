"""Convergence after a rotation, event path against polling only, side by side in one run.

Two fleets of five service processes (./entrypoint.sh, production mode) serve the same
secret from the same moto_server (started with SQS's message retention as AWS applies it:
tests.support.moto_sqs):
- events: SECRETS_EVENTS_QUEUE_URL names one queue (MessageRetentionPeriod 60, read by
  all five without deleting) and SECRETS_REFRESH_INTERVAL=3600, so a timed refresh cannot
  land inside the measurement: the figure is the event path's alone;
- polling only: no queue, SECRETS_REFRESH_INTERVAL=`poll_interval` (15 s in `make bench`,
  the shortest interval the README's cost table prices; Settings has no minimum above 0).
Each rotation puts a new version (PutSecretValue moves AWSCURRENT), then delivers the
`Secret Label Updated` event to the queue as EventBridge delivers it to an SQS target: the
message body is the whole event, shaped as the Secrets Manager documentation's example
(`secret_label_updated`). Both fleets are timed from the moment PutSecretValue returned
until each of their processes shows the new version id on its full /health body (read
over loopback every few ms). Each rotation waits a random part of the poll interval
first, so it lands at a random point of the pollers' cycle, as a real rotation does.
EventBridge's own delivery latency (not emulated) is not in the figure.

`rows()` is what `make bench` prints; tests/e2e/test_events.py runs `measure()` with
fewer rotations and a shorter poll interval to stay under a minute.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx

from tests.support.canary import canary_secret_string
from tests.support.processes import (
    BIN,
    DUMMY_CREDENTIALS,
    Process,
    clean_environment,
    free_port,
    start_service,
    wait_for,
)

REGION = "us-east-1"
# moto's default account: the ARN and the envelope carry it as AWS's would carry yours.
ACCOUNT = "123456789012"
PROCESSES = 5
EVENTS = "events"
POLLING = "polling only"
TARGET_P99_S = 5.0


def secret_label_updated(name: str, arn: str, version_id: str, *, label: str = "AWSCURRENT") -> dict[str, Any]:
    """The event Secrets Manager sends when a label moves, as EventBridge delivers it to an SQS target.

    Shape and fields from the documentation's example
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/event-detail-secret-label-updated-secretsmanager.html);
    EventBridge sends the whole event as the message body unless the target has an input transformer
    (the stack's has none).
    """
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Secret Label Updated",
        "source": "aws.secretsmanager",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [arn],
        "detail": {"name": name, "labelUpdated": label, "versionId": version_id},
    }


def start_moto_sqs(log_dir: Path) -> tuple[Process, str]:
    """moto_server with SQS retention as AWS applies it (tests.support.moto_sqs), on a free loopback port."""
    port = free_port()
    process = Process(
        [str(BIN / "python"), "-m", "tests.support.moto_sqs", "-H", "127.0.0.1", "-p", str(port)],
        clean_environment(**DUMMY_CREDENTIALS),
        log_dir / f"moto-sqs-{port}.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/moto-api/", timeout=30)
    return process, url


def client(service: str, endpoint: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def service_env(endpoint: str, secret: str, work: Path, **extra: str) -> dict[str, str]:
    return {
        "APP_ENV": "production",
        "AWS_REGION": REGION,
        "SECRET_NAME": secret,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
        "AWS_ENDPOINT_URL_SQS": endpoint,
        "ENV_FILE": str(work / "absent.env"),
        "SECRETS_FILE_DIR": str(work),
        "METRICS": "off",
        **DUMMY_CREDENTIALS,
        **extra,
    }


@contextmanager
def fleet(work: Path, env: Mapping[str, str], count: int = PROCESSES) -> Iterator[list[str]]:
    """`count` services started together; their URLs once every one answers 200. All stopped after."""
    with ExitStack() as stack:
        urls = []
        for _ in range(count):
            process, url = start_service(work, env)
            stack.callback(process.stop)
            urls.append(url)
        for url in urls:
            wait_for(f"{url}/health", timeout=60)
        yield urls


def served(http: httpx.Client, url: str, secret: str) -> str | None:
    try:
        body = http.get(f"{url}/health", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None
    version = body.get("secrets", {}).get("version_ids", {}).get(secret)
    return version if isinstance(version, str) else None


@dataclass
class Convergence:
    """Seconds until every process of a fleet served the new version, one entry per rotation."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    poll_interval: float = 0.0

    def p(self, arm: str, q: float) -> float:
        return percentile(self.seconds[arm], q)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: with 10 values p99 is the largest, p50 the 5th; no interpolation flatters it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def measure(
    work: Path,
    *,
    rotations: int = 10,
    poll_interval: float = 15.0,
    processes: int = PROCESSES,
    moto_url: str | None = None,
) -> Convergence:
    """Both fleets on one secret and one moto_server; `rotations` rotations, each timed for both."""
    work.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        if moto_url is None:
            moto, moto_url = start_moto_sqs(work)
            stack.callback(moto.stop)
        sm, sqs = client("secretsmanager", moto_url), client("sqs", moto_url)
        secret = f"short-cut/prod/convergence-{uuid.uuid4().hex[:8]}"
        arn = sm.create_secret(Name=secret, SecretString=canary_secret_string())["ARN"]
        queue = sqs.create_queue(
            QueueName=f"short-cut-events-{uuid.uuid4().hex[:8]}", Attributes={"MessageRetentionPeriod": "60"}
        )["QueueUrl"]
        events_env = service_env(
            moto_url, secret, work, SECRETS_EVENTS_QUEUE_URL=queue, SECRETS_REFRESH_INTERVAL="3600"
        )
        polling_env = service_env(moto_url, secret, work, SECRETS_REFRESH_INTERVAL=f"{poll_interval:g}")
        fleets = {
            EVENTS: stack.enter_context(fleet(work, events_env, processes)),
            POLLING: stack.enter_context(fleet(work, polling_env, processes)),
        }
        http = stack.enter_context(httpx.Client())
        result = Convergence({arm: [] for arm in fleets}, poll_interval)
        # Generous: a polling fleet needs up to an interval (+10 % jitter) and a refresh.
        timeout = max(30.0, poll_interval * 2 + 15)
        for n in range(rotations):
            # Back to back, every rotation would land just after the pollers' last refresh (they
            # converged on it), the worst case for polling: land at a random point of the interval.
            time.sleep(random.uniform(0, poll_interval))
            value = canary_secret_string(MILVUS_PORT=str(20000 + n))
            started = time.monotonic()
            version = sm.put_secret_value(SecretId=secret, SecretString=value)["VersionId"]
            sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(secret_label_updated(secret, arn, version)))
            pending = {arm: set(urls) for arm, urls in fleets.items()}
            while any(pending.values()):
                if time.monotonic() - started > timeout:
                    raise TimeoutError(f"rotation {n}: {sum(map(len, pending.values()))} processes still behind")
                for arm, urls in pending.items():
                    for url in list(urls):
                        if served(http, url, secret) == version:
                            urls.discard(url)
                    if not urls and len(result.seconds[arm]) == n:
                        result.seconds[arm].append(round(time.monotonic() - started, 3))
                time.sleep(0.01)
        return result


def rows(work: Path, *, smoke: bool = False) -> list[dict[str, Any]]:
    """The `make bench` rows (bench.rows.Row fields): p50 and p99, events against polling only."""
    rotations, interval = (1, 2.0) if smoke else (10, 15.0)
    result = measure(work / "convergence", rotations=rotations, poll_interval=interval)
    section = f"convergence, {PROCESSES} processes"
    versus = f"polling only, SECRETS_REFRESH_INTERVAL={interval:g}"
    out = []
    for label, q in (("p50", 0.5), ("p99", 0.99)):
        events, polling = result.p(EVENTS, q), result.p(POLLING, q)
        judged = label == "p99" and not smoke
        out.append(
            {
                "section": section,
                "measurement": f"{label} s until every process serves the new version, events",
                "short_cut": round(events, 2),
                "reference": round(polling, 2),
                "versus": versus,
                "ratio": events / polling if polling else None,
                "target": f"<= {TARGET_P99_S:g} s" if label == "p99" else "-",
                "passed": (events <= TARGET_P99_S) if judged else None,
                "spread": " / ".join(
                    f"{arm} {min(v):.2f}-{max(v):.2f}, median {statistics.median(v):.2f}"
                    for arm, v in result.seconds.items()
                ),
                "note": f"{rotations} rotations",
            }
        )
    return out
