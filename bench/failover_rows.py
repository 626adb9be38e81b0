"""Failover rows: time to ready with the primary Region failing, against a healthy start, same run.

A fault proxy in front of moto_server fails only the requests signed for the primary Region
(tests/support/fault_proxy.py); the secret has a replica in the failover Region. Four starts of
short-cut with SECRETS_FAILOVER_REGION set, interleaved, on the measured CPU:
- healthy: nothing failed (the reference);
- 503: the primary answers ServiceUnavailable; target: ready within 1.5 s of the healthy start;
- unreachable: the primary's connection is dropped with no answer; target: within the connect
  timeout (src/aws/client.py DEFAULT_CONNECT_TIMEOUT, 2 s) plus 1.5 s;
- black-holed: the primary never answers, so the one attempt there waits out a timeout
  (SECRETS_READ_TIMEOUT set to the connect timeout, as a dropped SYN would wait out the connect
  timeout; one endpoint serves both Regions here, so a connect cannot be black-holed for one
  Region only); target: within that timeout plus 1.5 s.
The judged figure is the difference of medians (seconds); the ratio is shown too.
"""

from __future__ import annotations

import json
import statistics
import time

import boto3

from bench.apps import SHORT_CUT
from bench.measure import wait_ready
from bench.rows import Row, spread
from bench.runner import Runner
from src.aws.client import DEFAULT_CONNECT_TIMEOUT
from tests.support.canary import canary_payload
from tests.support.fault_proxy import Fault, FaultProxy
from tests.support.processes import free_port, moto_client_kwargs

PRIMARY, REPLICA = "us-east-1", "us-west-2"
SECRET = "short-cut/prod/failover-bench"
MARGIN = 1.5
CASES: dict[str, Fault | None] = {
    "healthy": None,
    "503": Fault("error", "ServiceUnavailable", region=PRIMARY),
    "unreachable": Fault("drop", region=PRIMARY),
    "black-holed": Fault("slow", delay=DEFAULT_CONNECT_TIMEOUT + 2, region=PRIMARY),
}
TIMED_OUT = DEFAULT_CONNECT_TIMEOUT + MARGIN
LIMITS = {"503": MARGIN, "unreachable": TIMED_OUT, "black-holed": TIMED_OUT}


def _start(bench: Runner, proxy: FaultProxy, fault: Fault | None) -> float:
    proxy.set_fault(fault)
    env = bench.service_env(
        proxy.url,
        SECRET,
        SECRETS_FAILOVER_REGION=REPLICA,
        SECRETS_CONNECT_TIMEOUT=str(DEFAULT_CONNECT_TIMEOUT),
        SECRETS_READ_TIMEOUT=str(DEFAULT_CONNECT_TIMEOUT),
    )
    port = free_port()
    started = time.perf_counter()
    process = bench.start(SHORT_CUT, port, bench.pin.service, env)
    try:
        wait_ready(port, timeout=60)
        return time.perf_counter() - started
    finally:
        process.stop()
        proxy.clear()


def failover(bench: Runner) -> None:
    section = "failover"
    sm = boto3.client("secretsmanager", **moto_client_kwargs(bench.moto_url, PRIMARY))  # type: ignore[call-overload]
    sm.create_secret(Name=SECRET, SecretString=json.dumps(canary_payload()), AddReplicaRegions=[{"Region": REPLICA}])
    proxy = FaultProxy(bench.moto_url).start()
    walls: dict[str, list[float]] = {case: [] for case in CASES}
    try:
        for i in range(bench.startup_runs):
            cases = list(CASES)
            for case in cases[i % len(cases) :] + cases[: i % len(cases)]:  # no case always first
                walls[case].append(_start(bench, proxy, CASES[case]))
    finally:
        proxy.stop()
    bench.details["failover_wall_s"] = walls
    healthy = statistics.median(walls["healthy"])
    for case, limit in LIMITS.items():
        mine = statistics.median(walls[case])
        late = mine - healthy
        bench.rows.append(
            Row(
                section,
                f"time to ready, primary {case} (s)",
                round(mine, 3),
                round(healthy, 3),
                "healthy start, same failover setting",
                round(mine / healthy, 3) if healthy else None,
                f"<= healthy + {limit:g} s",
                late <= limit,
                spread=f"{spread(walls[case])} vs {spread(walls['healthy'])}",
                note=f"{late:+.2f} s",
            )
        )
