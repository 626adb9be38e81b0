"""AWS call rows: GetSecretValue and DescribeSecret counted on the emulator's side (a counting
proxy in front of moto_server), per start, per probe and per refresh; and no canary in the output.
"""

from __future__ import annotations

import time

import httpx

from bench.apps import SHORT_CUT
from bench.rows import Row
from bench.runner import Runner
from tests.support.canary import leaked
from tests.support.fault_proxy import FaultProxy


def aws_calls(bench: Runner, second: str) -> None:
    section = "AWS calls"
    proxy = FaultProxy(bench.moto_url).start()
    names = f"{bench.secret},{second}"
    try:
        # SECRETS_VERIFY_EVERY=0: the lost-access check reads each version in use every 12th refresh by
        # design (12 s here), which would land in the window; this row measures the refresh path itself.
        env = bench.service_env(proxy.url, names, SECRETS_REFRESH_INTERVAL="1", SECRETS_VERIFY_EVERY="0")
        with bench.running(SHORT_CUT, env=env) as (process, url):
            started = dict(proxy.calls)
            probes = 200 if bench.smoke else 10_000
            with httpx.Client() as client:
                for _ in range(probes):
                    client.get(f"{url}/health")
            after_probes = dict(proxy.calls)
            intervals = 2.2 if bench.smoke else 5.5
            time.sleep(intervals)
            after_wait = dict(proxy.calls)
        # The two-core start, where SECRETS_PREFETCH=auto starts the child: still one call per name.
        before_child = dict(proxy.calls)
        with bench.running(SHORT_CUT, cpus=bench.pin.every, env=bench.service_env(proxy.url, names)):
            child_start = proxy.calls.get("GetSecretValue", 0) - before_child.get("GetSecretValue", 0)
    finally:
        proxy.stop()
    output = process.output()
    gets_at_start = started.get("GetSecretValue", 0)
    gets_probes = after_probes.get("GetSecretValue", 0) - gets_at_start
    window_gets = after_wait.get("GetSecretValue", 0) - after_probes.get("GetSecretValue", 0)
    window_describes = after_wait.get("DescribeSecret", 0) - after_probes.get("DescribeSecret", 0)
    bench.details["aws_calls"] = {"start": started, "after_probes": after_probes, "after_wait": after_wait}
    add = bench.rows.append
    add(Row(section, "GetSecretValue per start, 2 names, 1 CPU", gets_at_start, 2, "-", None, "== 1 per name",
            gets_at_start == 2))  # fmt: skip
    add(Row(section, "GetSecretValue per start, 2 names, 2 CPUs", child_start, 2, "-", None, "== 1 per name",
            child_start == 2, note="prefetch child"))  # fmt: skip
    add(Row(section, f"GetSecretValue per {probes:,} probes", gets_probes, 0, "-", None, "== 0", gets_probes == 0))
    add(Row(section, "GetSecretValue per 1 s refresh, unchanged", window_gets, 0, "-", None, "== 0",
            window_gets == 0))  # fmt: skip
    per_interval = window_describes / 2 / intervals
    note = f"{window_describes} DescribeSecret in {intervals} s for 2 names"
    add(Row(section, "DescribeSecret per refresh and name", round(per_interval, 2), 1, "-", None, "~1 (0.7-1.3)",
            0.7 <= per_interval <= 1.3, note=note))  # fmt: skip
    found = leaked(output)
    add(Row(section, "canary values in the service's output", len(found), 0, "-", None, "== 0", not found))
