"""`make bench`: short-cut against reference apps, measured in the same run, interleaved.

The shape that counts is the one we deploy to: the task's `cpu: 512` is half a
vCPU, so every judged start-up and throughput figure is taken with the measured
process pinned to ONE CPU (`taskset -c`), short-cut and the references alike,
their runs interleaved, the median of at least 7 taken. The benchmark itself
(the /health poller, wrk, moto_server) runs pinned to the other CPU(s), so it
does not eat the measured process's time. Two-core figures are an extra section,
information only except one target. A last section runs the image with
`podman run --cpus 0.5` (a real CFS quota) against the bare app and the peer in
the same image; it is skipped, saying why, when podman is missing.

References, all FastAPI on uvicorn with the same flags:
- bare FastAPI (`bench.reference_app`): one /health route, nothing else;
- the peer (`bench.peer_app`): pydantic-settings' own AWSSecretsManagerSettingsSource
  loading the same secret from the same moto_server;
- a raw ASGI app (`bench.raw_app`): the throughput ceiling, information only.

Every row is a ratio against a reference measured alongside it, never an absolute
time: this machine is shared and noisy, so each row also shows the spread (min-max
of the runs). CPU to ready is the process's utime+stime (children included, reaped
or alive) read from /proc when /health first answers 200. AWS calls are counted on
the emulator's side, by a counting proxy in front of moto_server. `--smoke` runs
each measurement once, briefly, and judges nothing (the tests use it so the
benchmark cannot rot). Exit status 1 when a judged target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.canary import canary_secret_string, leaked  # noqa: E402
from tests.support.fault_proxy import FaultProxy  # noqa: E402
from tests.support.processes import BIN, DUMMY_CREDENTIALS, Process, clean_environment, free_port, start_moto  # noqa: E402

UVICORN_FLAGS = [
    "--host",
    "127.0.0.1",
    "--log-level",
    "info",
    "--no-server-header",
    "--timeout-graceful-shutdown",
    "10",
]
CLK_TCK = os.sysconf("SC_CLK_TCK")
POLL_INTERVAL = 0.002
IMAGE = "short-cut-api:bench"
CONTAINER_LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]

# The applications measured; each starts on a port and is pinned by the caller.
SHORT_CUT = "short-cut"
SHORT_CUT_CHILD = "short-cut, SECRETS_PREFETCH=1"
# Metrics are on by default in production: the reference for "metrics cost nothing measurable".
SHORT_CUT_NO_METRICS = "short-cut, METRICS=off"
SHORT_CUT_PROBE = "short-cut, CPU probe"
# Successful probes are not access-logged by default (HEALTH_ACCESS_LOG=failures); bare FastAPI
# logs each one: this variant logs them too, for the like-for-like figure.
SHORT_CUT_PROBES_LOGGED = "short-cut, HEALTH_ACCESS_LOG=all"
PEER = "pydantic-settings peer"
BARE = "bare FastAPI"
RAW = "raw ASGI"


@dataclass
class Row:
    section: str
    measurement: str
    short_cut: float | None
    reference: float | None
    versus: str
    ratio: float | None
    target: str
    passed: bool | None
    spread: str = ""
    note: str = ""


@dataclass
class Start:
    """One start-up: wall seconds from spawn to the first 200, and CPU ms by then."""

    wall_s: float
    cpu_ms: float
    child_cpu_ms: float
    probe: dict[str, float] = field(default_factory=dict)
    breakdown: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Pinning:
    service: frozenset[int]
    driver: frozenset[int]
    every: frozenset[int]

    @staticmethod
    def detect(service_cpu: int | None) -> Pinning:
        every = frozenset(os.sched_getaffinity(0))
        chosen = service_cpu if service_cpu is not None else max(every)
        if chosen not in every:
            raise SystemExit(f"bench: CPU {chosen} is not available (have {sorted(every)})")
        driver = every - {chosen} or every
        return Pinning(frozenset({chosen}), driver, every)

    @property
    def shared(self) -> bool:
        return bool(self.service & self.driver)


def cpu_list(cpus: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


class Bench:
    def __init__(
        self, work: Path, *, runs: int, smoke: bool, pinning: Pinning, startup_runs: int | None = None
    ) -> None:
        self.work = work
        self.runs = runs
        self.startup_runs = startup_runs or runs
        self.smoke = smoke
        self.pin = pinning
        self.rows: list[Row] = []
        self.details: dict[str, Any] = {}
        self.moto_url = ""
        self.secret = ""

    # -- processes ---------------------------------------------------------

    def service_env(self, endpoint: str | None = None, secret: str | None = None, **extra: str) -> dict[str, str]:
        return {
            "APP_ENV": "production",
            "AWS_REGION": "us-east-1",
            "SECRET_NAME": secret or self.secret,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint or self.moto_url,
            "ENV_FILE": str(self.work / "absent.env"),
            "TMPDIR": str(self.work),
            **DUMMY_CREDENTIALS,
            **extra,
        }

    def command(self, app: str, port: int, env: Mapping[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
        uvicorn = [str(BIN / "python"), "-m", "uvicorn"]
        if app == SHORT_CUT:
            return [str(ROOT / "entrypoint.sh")], {**self.service_env(), **(env or {})}
        if app == SHORT_CUT_CHILD:
            return [str(ROOT / "entrypoint.sh")], self.service_env(SECRETS_PREFETCH="1")
        if app == SHORT_CUT_NO_METRICS:
            return [str(ROOT / "entrypoint.sh")], self.service_env(METRICS="off")
        if app == SHORT_CUT_PROBES_LOGGED:
            return [str(ROOT / "entrypoint.sh")], self.service_env(HEALTH_ACCESS_LOG="all")
        if app == SHORT_CUT_PROBE:
            probe = [str(BIN / "python"), "-m", "bench.startup_probe", *UVICORN_FLAGS, "--port", str(port)]
            return probe, self.service_env(LOG_LEVEL="info")
        if app == PEER:
            peer_env = {k: v for k, v in self.service_env().items() if k not in ("APP_ENV", "ENV_FILE")}
            return [*uvicorn, "bench.peer_app:app", *UVICORN_FLAGS, "--port", str(port)], peer_env
        module = {BARE: "bench.reference_app:app", RAW: "bench.raw_app:app"}[app]
        return [*uvicorn, module, *UVICORN_FLAGS, "--port", str(port)], {}

    def start(self, app: str, port: int, cpus: frozenset[int], env: Mapping[str, str] | None = None) -> Process:
        args, app_env = self.command(app, port, env)
        # taskset execs the command, and entrypoint.sh execs uvicorn: the pid stays the server's.
        return Process(
            ["taskset", "-c", cpu_list(cpus), *args],
            clean_environment(PORT=str(port), HOST="127.0.0.1", **app_env),
            self.work / f"{app.split(',')[0].replace(' ', '-')}-{port}.log",
        ).start()

    @contextmanager
    def running(
        self, app: str, cpus: frozenset[int] | None = None, env: Mapping[str, str] | None = None
    ) -> Iterator[tuple[Process, str]]:
        port = free_port()
        process = self.start(app, port, cpus or self.pin.service, env)
        try:
            wait_ready(port, timeout=60)
            yield process, f"http://127.0.0.1:{port}"
        finally:
            process.stop()

    def measure_start(self, app: str, cpus: frozenset[int]) -> Start:
        port = free_port()
        started = time.perf_counter()
        process = self.start(app, port, cpus)
        try:
            wait_ready(port, timeout=60)
            wall = time.perf_counter() - started
            total, children = tree_cpu_ms(process.pid)
        finally:
            process.stop()
        output = process.output()
        return Start(wall, total, children, probe_record(output), startup_breakdown(output))

    # -- start-up ----------------------------------------------------------

    def startup(self, section: str, cpus: frozenset[int], apps: list[str]) -> dict[str, list[Start]]:
        results: dict[str, list[Start]] = {app: [] for app in apps}
        for i in range(self.startup_runs):
            # Rotate the order: no app always runs first, right after the previous one's exit.
            order = apps[i % len(apps) :] + apps[: i % len(apps)]
            for app in order:
                results[app].append(self.measure_start(app, cpus))
        self.details[f"startup {section}"] = {app: [asdict(s) for s in starts] for app, starts in results.items()}
        return results

    def one_core_startup(self) -> None:
        section = "1 CPU"
        apps = [SHORT_CUT, PEER, BARE, SHORT_CUT_PROBE, SHORT_CUT_NO_METRICS] + (
            [] if self.smoke else [SHORT_CUT_CHILD]
        )
        results = self.startup(section, self.pin.service, apps)
        wall = {app: [s.wall_s for s in results[app]] for app in apps}
        cpu = {app: [s.cpu_ms for s in results[app]] for app in apps}
        off = SHORT_CUT_NO_METRICS
        self.add_ratio(section, "CPU to ready, metrics on (ms)", cpu[SHORT_CUT], cpu[off], off, "<= 1.10", 1.10)
        self.add_ratio(section, "time to ready, metrics on (s)", wall[SHORT_CUT], wall[off], off, "info", None)
        self.add_ratio(section, "time to ready (s)", wall[SHORT_CUT], wall[PEER], PEER, "<= 0.90", 0.90)
        self.add_ratio(section, "time to ready (s)", wall[SHORT_CUT], wall[BARE], BARE, "<= 1.50", 1.50)
        self.add_ratio(section, "CPU to ready (ms)", cpu[SHORT_CUT], cpu[PEER], PEER, "<= 1.0", 1.0)
        self.add_ratio(section, "CPU to ready (ms)", cpu[SHORT_CUT], cpu[BARE], BARE, "info", None)
        child_cpu = [s.child_cpu_ms for s in results[SHORT_CUT]]
        self.rows.append(
            Row(
                section,
                "prefetch child CPU, SECRETS_PREFETCH=auto (ms)",
                max(child_cpu),
                0,
                "-",
                None,
                "== 0 (no child on 1 CPU)",
                max(child_cpu) == 0,
                spread=spread(child_cpu),
            )
        )
        if SHORT_CUT_CHILD in apps:
            forced_wall, forced_cpu = wall[SHORT_CUT_CHILD], cpu[SHORT_CUT_CHILD]
            self.add_ratio(section, "time to ready, child forced (s)", forced_wall, wall[PEER], PEER, "info", None)
            self.add_ratio(section, "CPU to ready, child forced (ms)", forced_cpu, cpu[PEER], PEER, "info", None)
        self.details["startup_breakdown_cpu_ms"] = cpu_breakdown(results[SHORT_CUT_PROBE])
        self.details["startup_breakdown_wall_ms"] = median_fields([s.breakdown for s in results[SHORT_CUT]])

    def two_core_startup(self) -> None:
        section = "2 CPUs (info)"
        apps = [SHORT_CUT, BARE] + ([] if self.smoke else [PEER])
        results = self.startup(section, self.pin.every, apps)
        wall = {app: [s.wall_s for s in results[app]] for app in apps}
        cpu = {app: [s.cpu_ms for s in results[app]] for app in apps}
        self.add_ratio(section, "time to ready (s)", wall[SHORT_CUT], wall[BARE], BARE, "<= 1.30", 1.30)
        if PEER in apps:
            self.add_ratio(section, "time to ready (s)", wall[SHORT_CUT], wall[PEER], PEER, "info", None)
            self.add_ratio(section, "CPU to ready (ms)", cpu[SHORT_CUT], cpu[PEER], PEER, "info", None)
        child_cpu = [s.child_cpu_ms for s in results[SHORT_CUT]]
        self.rows.append(
            Row(
                section,
                "prefetch child CPU, SECRETS_PREFETCH=auto (ms)",
                statistics.median(child_cpu),
                None,
                "-",
                None,
                "info",
                None,
                spread=spread(child_cpu),
                note="> 0: the child ran (2 CPUs usable)",
            )
        )

    # -- serving -----------------------------------------------------------

    def throughput(self) -> None:
        section = "1 CPU"
        duration = 1 if self.smoke else 5
        results: dict[str, list[float]] = {
            app: []
            for app in [SHORT_CUT, BARE, SHORT_CUT_NO_METRICS, SHORT_CUT_PROBES_LOGGED] + ([] if self.smoke else [RAW])
        }
        non2xx = 0
        apps = list(results)
        for i in range(self.runs):
            for app in apps[i % len(apps) :] + apps[: i % len(apps)]:
                with self.running(app) as (_, url):
                    if not self.smoke:
                        wrk(f"{url}/health", connections=32, duration=1)  # warm-up
                    stats = wrk(f"{url}/health", connections=32, duration=duration)
                    results[app].append(stats["rps"])
                    if app == SHORT_CUT:
                        non2xx += int(stats["non2xx"] + stats["errors"])
        self.details["health_rps"] = results
        self.add_ratio(
            section,
            "/health throughput (req/s)",
            results[SHORT_CUT],
            results[BARE],
            BARE,
            ">= 1.0, 0 non-2xx",
            None,
            ok=lambda r: r >= 1.0 and non2xx == 0,
            note=f"non-2xx: {non2xx}",
        )
        logged = results[SHORT_CUT_PROBES_LOGGED]
        self.add_ratio(
            section, "/health throughput, every probe logged (req/s)", logged, results[BARE], BARE, "info", None
        )
        if RAW in results:
            self.add_ratio(section, "/health throughput (req/s)", results[SHORT_CUT], results[RAW], RAW, "info", None)
        off = SHORT_CUT_NO_METRICS
        self.add_ratio(
            section, "/health throughput, metrics on (req/s)", results[SHORT_CUT], results[off], off, ">= 0.90", None,
            ok=lambda r: r >= 0.90,
        )  # fmt: skip

    def memory(self) -> None:
        section = "1 CPU"
        requests = 2_000 if self.smoke else 100_000
        samples: dict[str, tuple[float, float]] = {}
        for app in (SHORT_CUT, BARE):
            with self.running(app) as (process, url):
                pid = process.pid  # taskset and entrypoint.sh exec: the pid is the server's
                if not self.smoke:
                    wrk(f"{url}/health", connections=8, duration=1)  # warm up allocators and caches
                before = rss_mb(pid)
                wrk_requests(f"{url}/health", connections=32, requests=requests)
                after = rss_mb(pid)
                samples[app] = (before, after)
        (ours_before, ours_after), (ref_before, ref_after) = samples[SHORT_CUT], samples[BARE]
        self.details["rss_mb"] = samples
        self.rows.append(
            Row(
                section,
                "RSS after start (MB)",
                ours_before,
                ref_before,
                BARE,
                round(ours_before / ref_before, 3),
                "< 80 MB",
                ours_before < 80,
            )
        )
        growth, ref_growth = ours_after - ours_before, ref_after - ref_before
        self.rows.append(
            Row(
                section,
                f"RSS growth over {requests:,} requests (MB)",
                round(growth, 1),
                round(ref_growth, 1),
                BARE,
                None,
                "<= reference + 2 MB, < 80 MB",
                growth <= max(0.0, ref_growth) + 2.0 and ours_after < 80,
                note=f"after: {ours_after} MB",
            )
        )

    def aws_calls(self, second: str) -> None:
        section = "AWS calls"
        proxy = FaultProxy(self.moto_url).start()
        names = f"{self.secret},{second}"
        try:
            env = self.service_env(proxy.url, names, SECRETS_REFRESH_INTERVAL="1")
            with self.running(SHORT_CUT, env=env) as (process, url):
                started = dict(proxy.calls)
                probes = 200 if self.smoke else 10_000
                with httpx.Client() as client:
                    for _ in range(probes):
                        client.get(f"{url}/health")
                after_probes = dict(proxy.calls)
                intervals = 2.2 if self.smoke else 5.5
                time.sleep(intervals)
                after_wait = dict(proxy.calls)
            # The two-core start, where SECRETS_PREFETCH=auto starts the child: still one call per name.
            before_child = dict(proxy.calls)
            with self.running(SHORT_CUT, cpus=self.pin.every, env=self.service_env(proxy.url, names)):
                child_start = proxy.calls.get("GetSecretValue", 0) - before_child.get("GetSecretValue", 0)
        finally:
            proxy.stop()
        output = process.output()
        gets_at_start = started.get("GetSecretValue", 0)
        gets_probes = after_probes.get("GetSecretValue", 0) - gets_at_start
        window_gets = after_wait.get("GetSecretValue", 0) - after_probes.get("GetSecretValue", 0)
        window_describes = after_wait.get("DescribeSecret", 0) - after_probes.get("DescribeSecret", 0)
        self.details["aws_calls"] = {"start": started, "after_probes": after_probes, "after_wait": after_wait}
        add = self.rows.append
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

    def refresh_under_load(self) -> None:
        section = "1 CPU"
        duration = 1 if self.smoke else 5
        p99: dict[str, list[float]] = {"refresh": [], "none": []}
        non2xx = 0
        for i in range(self.runs):
            for kind in ["none", "refresh"] if i % 2 == 0 else ["refresh", "none"]:
                env = {"SECRETS_REFRESH_INTERVAL": "1" if kind == "refresh" else "0"}
                with self.running(SHORT_CUT, env=env) as (_, url):
                    # Warm-up first: the one-time client build after start is not the steady state.
                    if not self.smoke:
                        wrk(f"{url}/health", connections=32, duration=2)
                    stats = wrk(f"{url}/health", connections=32, duration=duration)
                    p99[kind].append(stats["p99_ms"])
                    non2xx += int(stats["non2xx"] + stats["errors"])
        self.details["refresh_p99_ms"] = p99
        self.add_ratio(
            section,
            "/health p99 with 1 s refresh (ms)",
            p99["refresh"],
            p99["none"],
            "short-cut, no refresh",
            "<= 1.2, 0 non-2xx",
            None,
            ok=lambda r: r <= 1.2 and non2xx == 0,
            note=f"non-2xx: {non2xx}",
        )

    # -- half a vCPU, in the image ----------------------------------------

    def half_vcpu(self, *, build: bool) -> str | None:
        """`podman run --cpus 0.5` (and 2, info): the image against the bare app and the peer in it.

        Returns why the section was skipped, or None.
        """
        if self.smoke:
            return "smoke run"
        if not shutil.which("podman"):
            return "podman is not installed (make container-test installs it)"
        if build:
            try:
                subprocess.run(["sh", str(ROOT / "tests/container/build-standin-base.sh")], check=True, timeout=900)
                subprocess.run(
                    ["podman", "build", "-q", "--pull=never", "--network=host", "--format", "docker",
                     *CONTAINER_LIMITS, "-t", IMAGE, str(ROOT)],
                    check=True, timeout=900, capture_output=True, text=True,
                )  # fmt: skip
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                stderr = getattr(exc, "stderr", "") or ""
                return f"the image did not build: {stderr.strip()[-300:] or exc}"
        elif subprocess.run(["podman", "image", "exists", IMAGE], check=False).returncode != 0:
            return f"{IMAGE} does not exist and --no-build was given"
        apps = [SHORT_CUT, PEER, BARE]
        runs = self.startup_runs
        for cpus, judged in (("0.5", True), ("2", False)):
            section = f"podman --cpus {cpus}" + ("" if judged else " (info)")
            wall: dict[str, list[float]] = {app: [] for app in apps}
            for i in range(runs):
                for app in apps[i % len(apps) :] + apps[: i % len(apps)]:
                    wall[app].append(self.container_start(app, cpus))
            self.details[f"startup {section}"] = wall
            self.add_ratio(section, "run to first 200 (s)", wall[SHORT_CUT], wall[PEER], PEER,
                           "<= 0.90" if judged else "info", 0.90 if judged else None)  # fmt: skip
            self.add_ratio(section, "run to first 200 (s)", wall[SHORT_CUT], wall[BARE], BARE, "info", None)
        return None

    def container_start(self, app: str, cpus: str) -> float:
        """From `podman run` to the first 200, container start included; started as the task
        definition runs it: read-only root, uid 10001, an init process, a writable /tmp."""
        name = f"short-cut-bench-{uuid.uuid4().hex[:8]}"
        port = free_port()
        env = {
            "PORT": str(port),
            "HOST": "127.0.0.1",
            **self.service_env(),
            "TMPDIR": "/tmp",
            "ENV_FILE": "/tmp/absent",
        }
        args = ["podman", "run", "-d", "--name", name, "--network=host", "--cpus", cpus, *CONTAINER_LIMITS,
                "--read-only", "--tmpfs", "/tmp", "--user", "10001:10001", "--init"]  # fmt: skip
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        if app != SHORT_CUT:
            module = "bench.peer_app:app" if app == PEER else "bench.reference_app:app"
            args += ["-v", f"{ROOT / 'bench'}:/app/bench:ro", "--entrypoint", "python", IMAGE,
                     "-m", "uvicorn", module, *UVICORN_FLAGS, "--port", str(port)]  # fmt: skip
        else:
            args.append(IMAGE)
        started = time.perf_counter()
        launcher = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            wait_ready(port, timeout=120)
            return time.perf_counter() - started
        finally:
            launcher.wait(timeout=60)
            subprocess.run(["podman", "rm", "-f", "-t", "0", name], capture_output=True, timeout=60, check=False)

    # -- rows --------------------------------------------------------------

    def add_ratio(
        self,
        section: str,
        name: str,
        ours: list[float],
        ref: list[float],
        versus: str,
        target: str,
        limit: float | None,
        *,
        ok: Callable[[float], bool] | None = None,
        note: str = "",
    ) -> None:
        mine, theirs = statistics.median(ours), statistics.median(ref)
        ratio = mine / theirs if theirs else float("inf")
        judge = ok or ((lambda r: r <= limit) if limit is not None else None)
        self.rows.append(
            Row(
                section,
                name,
                round(mine, 3),
                round(theirs, 3),
                versus,
                round(ratio, 3),
                target,
                None if judge is None else judge(ratio),
                spread=f"{spread(ours)} vs {spread(ref)}",
                note=note,
            )
        )


def spread(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.3g}-{high:.3g}" if low != high else f"{low:.3g}"


def http_status(port: int) -> int | None:
    """GET /health over a raw socket: no client library in the poller, which is timed too."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            head = sock.recv(64)
        return int(head.split(b" ", 2)[1])
    except (OSError, ValueError, IndexError):
        return None


def wait_ready(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if http_status(port) == 200:
            return
        time.sleep(POLL_INTERVAL)
    raise TimeoutError(f"127.0.0.1:{port}/health not ready in {timeout}s")


def _stat_ticks(pid: int) -> tuple[int, int]:
    """(utime+stime, cutime+cstime) of one process, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command: state ppid ... utime(11) stime(12) cutime(13) cstime(14).
    return int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(c) for c in task.read_text().split()]
    return found


def tree_cpu_ms(pid: int) -> tuple[float, float]:
    """CPU ms used by the process and all its children, reaped or alive; and the children's part."""
    own, reaped = _stat_ticks(pid)
    alive = 0
    pending = _children(pid)
    while pending:
        child = pending.pop()
        try:
            used, its_reaped = _stat_ticks(child)
            pending += _children(child)
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile: its time is in the parent's reaped figure
        alive += used + its_reaped
    scale = 1000 / CLK_TCK
    return (own + reaped + alive) * scale, (reaped + alive) * scale


def startup_breakdown(log: str) -> dict[str, float]:
    """The service's own 'secrets loaded' timings (wall ms) and its age then."""
    for line in log.splitlines():
        if line.startswith("{") and "secrets loaded" in line:
            record = json.loads(line)
            timings = dict(record.get("timings_ms", {}))
            if record.get("process_ms") is not None:
                timings["process_start_to_loaded"] = record["process_ms"]
            return {k: float(v) for k, v in timings.items()}
    return {}


def probe_record(log: str) -> dict[str, float]:
    for line in log.splitlines():
        if line.startswith('{"startup_probe"'):
            return {k: float(v) for k, v in json.loads(line)["startup_probe"].items()}
    return {}


def median_fields(records: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for r in records for k in r})
    return {k: round(statistics.median(r[k] for r in records if k in r), 1) for k in keys}


def cpu_breakdown(starts: list[Start]) -> dict[str, float]:
    """Median CPU ms per start-up step (probe runs); `first 200` is the CPU after the load."""
    records = []
    for start in starts:
        if not start.probe:
            continue
        record = {k: v for k, v in start.probe.items() if k != "at_loaded"}
        record["first 200"] = max(0.0, start.cpu_ms - start.probe["at_loaded"])
        record["total"] = start.cpu_ms
        records.append(record)
    return median_fields(records) if records else {}


def wrk(url: str, *, connections: int, duration: float) -> dict[str, float]:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, int(duration))}s", "--latency", url]
    output = subprocess.run(args, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    total = re.search(r"(\d+) requests in", output)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return {
        "rps": rps,
        "requests": int(total.group(1)) if total else 0,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": sum(int(g) for g in errors.groups()) if errors else 0,
        "p99_ms": float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan"),
    }


def wrk_requests(url: str, *, connections: int, requests: int) -> int:
    """wrk has no request count: run it in short bursts until at least `requests` were served."""
    served = 0
    while served < requests:
        served += int(wrk(url, connections=connections, duration=2)["requests"])
    return served


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS")


def render_table(rows: list[Row]) -> str:
    header = ("section", "measurement", "short-cut", "reference", "vs", "ratio", "target", "pass", "spread (min-max)")
    lines = [header] + [
        (
            r.section,
            r.measurement,
            "-" if r.short_cut is None else f"{r.short_cut:g}",
            "-" if r.reference is None else f"{r.reference:g}",
            r.versus,
            "-" if r.ratio is None else f"{r.ratio:.3f}",
            r.target,
            "-" if r.passed is None else ("PASS" if r.passed else "FAIL"),
            r.spread + (f"; {r.note}" if r.note else ""),
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines]
    text.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="interleaved runs per measurement (at least 7)")
    # A start takes about a second: more of them cost little, and this machine's speed swings
    # by up to 1.5x for seconds at a time, which 7 samples per app do not average out.
    parser.add_argument("--startup-runs", type=int, default=15, help="interleaved runs per start-up measurement")
    parser.add_argument("--smoke", action="store_true", help="one short run of each, no targets judged")
    parser.add_argument("--out", default=str(ROOT / "bench/results"))
    parser.add_argument("--cpu", type=int, default=None, help="the CPU the measured process runs on (default: last)")
    parser.add_argument("--no-podman", action="store_true", help="skip the podman --cpus 0.5 section")
    parser.add_argument("--no-build", action="store_true", help=f"use the existing {IMAGE} image")
    parser.add_argument(
        "--only", choices=("startup", "serving", "aws", "podman", "convergence", "mask"), action="append"
    )
    args = parser.parse_args()
    runs = 1 if args.smoke else max(7, args.runs)
    only = set(args.only or ("startup", "serving", "aws", "podman", "convergence", "mask"))
    pinning = Pinning.detect(args.cpu)
    # The poller, wrk and moto_server (started below, inheriting this) stay off the measured CPU.
    os.sched_setaffinity(0, pinning.driver)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = out / f"work-{uuid.uuid4().hex[:6]}"
    work.mkdir()
    startup_runs = 1 if args.smoke else max(runs, args.startup_runs)
    bench = Bench(work, runs=runs, smoke=args.smoke, pinning=pinning, startup_runs=startup_runs)
    moto, moto_url = start_moto(work)
    skipped: str | None = "not selected (--only)" if "podman" not in only else None
    try:
        sm = boto3.client(
            "secretsmanager", region_name="us-east-1", endpoint_url=moto_url,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        bench.moto_url, bench.secret = moto_url, "short-cut/prod/app"
        second = "short-cut/prod/extra"
        sm.create_secret(Name=bench.secret, SecretString=canary_secret_string())
        sm.create_secret(Name=second, SecretString=json.dumps({"FEATURE_FLAG": "1"}))
        if "mask" in only:
            from bench import mask_cost

            mask_cost.add_rows(bench.add_ratio, runs=runs, smoke=args.smoke, details=bench.details)
        if "startup" in only:
            bench.one_core_startup()
            bench.two_core_startup()
        if "serving" in only:
            bench.throughput()
            bench.memory()
            bench.refresh_under_load()
        if "aws" in only:
            bench.aws_calls(second)
        if "convergence" in only:
            from bench import convergence

            bench.rows.extend(Row(**row) for row in convergence.rows(work, smoke=args.smoke))
        if "podman" in only:
            skipped = "--no-podman" if args.no_podman else bench.half_vcpu(build=not args.no_build)
    finally:
        moto.stop()
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs, measured process on CPU {cpu_list(pinning.service)}, "
        f"benchmark on CPU {cpu_list(pinning.driver)}{' (shared!)' if pinning.shared else ''}, "
        f"Python {platform.python_version()}, {platform.system()}"
    )
    print(render_table(bench.rows))
    if skipped:
        print(f"\npodman --cpus 0.5 section skipped: {skipped}")
    print(f"\nstart-up breakdown, 1 CPU, median CPU ms: {bench.details.get('startup_breakdown_cpu_ms')}")
    logged = bench.details.get("startup_breakdown_wall_ms")
    print(f"start-up timings logged by the service, 1 CPU, median wall ms: {logged}")
    smoke = " (smoke: nothing judged)" if args.smoke else ""
    print(f"machine: {machine}; runs: {runs}, start-up runs: {startup_runs}{smoke}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {
        "when": stamp, "machine": machine, "runs": runs, "startup_runs": startup_runs, "smoke": args.smoke,
        "podman_skipped": skipped,
        "rows": [asdict(r) for r in bench.rows], "details": bench.details,
    }  # fmt: skip
    (out / f"bench-{stamp}.json").write_text(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    if args.smoke:
        return 0
    return 0 if all(r.passed is not False for r in bench.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
