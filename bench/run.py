"""`make bench`: short-cut against reference apps, measured in the same run, interleaved.

Every row is a ratio against a reference measured alongside it (median of the
runs), never an absolute time: this machine is noisy. AWS calls are counted on
the emulator's side, by a counting proxy in front of moto_server. `--smoke`
runs each measurement once, briefly, and judges nothing (the tests use it so
the benchmark cannot rot).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.canary import canary_secret_string  # noqa: E402
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


@dataclass
class Row:
    measurement: str
    short_cut: float | None
    reference: float | None
    ratio: float | None
    target: str
    passed: bool | None
    note: str = ""


class Bench:
    def __init__(self, work: Path, *, runs: int, smoke: bool) -> None:
        self.work = work
        self.runs = runs
        self.smoke = smoke
        self.rows: list[Row] = []
        self.details: dict[str, Any] = {}

    # -- processes ---------------------------------------------------------

    def service_env(self, endpoint: str, secret: str, **extra: str) -> dict[str, str]:
        return {
            "APP_ENV": "production",
            "AWS_REGION": "us-east-1",
            "SECRET_NAME": secret,
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
            "ENV_FILE": str(self.work / "absent.env"),
            "TMPDIR": str(self.work),
            **DUMMY_CREDENTIALS,
            **extra,
        }

    def start_service(self, env: dict[str, str], port: int) -> Process:
        return Process(
            [str(ROOT / "entrypoint.sh")],
            clean_environment(PORT=str(port), HOST="127.0.0.1", **env),
            self.work / f"service-{port}.log",
        ).start()

    def start_reference(self, module: str, port: int) -> Process:
        return Process(
            [str(BIN / "python"), "-m", "uvicorn", module, *UVICORN_FLAGS, "--port", str(port)],
            clean_environment(),
            self.work / f"reference-{port}.log",
        ).start()

    @contextmanager
    def running(self, starter: Callable[[int], Process]) -> Iterator[tuple[Process, str]]:
        port = free_port()
        process = starter(port)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, timeout=60)
            yield process, url
        finally:
            process.stop()

    # -- measurements ------------------------------------------------------

    def time_to_ready(self, moto_url: str, secret: str) -> None:
        ours: list[float] = []
        reference: list[float] = []
        breakdown: list[dict[str, float]] = []
        for i in range(self.runs):
            order = [("ref", reference), ("ours", ours)] if i % 2 == 0 else [("ours", ours), ("ref", reference)]
            for kind, bucket in order:
                port = free_port()
                started = time.perf_counter()
                if kind == "ours":
                    process = self.start_service(self.service_env(moto_url, secret), port)
                else:
                    process = self.start_reference("bench.reference_app:app", port)
                try:
                    wait_ready(f"http://127.0.0.1:{port}", timeout=60)
                    bucket.append(time.perf_counter() - started)
                finally:
                    process.stop()
                if kind == "ours":
                    breakdown.append(startup_breakdown(process.output()))
        self.details["time_to_ready_s"] = {"short_cut": ours, "reference": reference}
        self.details["startup_breakdown_ms"] = {
            key: round(statistics.median(b[key] for b in breakdown if key in b), 1)
            for key in sorted({k for b in breakdown for k in b})
        }
        self.add_ratio(
            "time to ready (s)", statistics.median(ours), statistics.median(reference), "<= 1.30", lambda r: r <= 1.30
        )

    def throughput(self, moto_url: str, secret: str) -> None:
        duration = 2 if self.smoke else 10
        results: dict[str, list[float]] = {"ours": [], "ref": [], "raw": []}
        non2xx = 0
        starters: dict[str, Callable[[int], Process]] = {
            "ours": lambda p: self.start_service(self.service_env(moto_url, secret), p),
            "ref": lambda p: self.start_reference("bench.reference_app:app", p),
            "raw": lambda p: self.start_reference("bench.raw_app:app", p),
        }
        for i in range(self.runs):
            kinds = ["ref", "ours", "raw"] if i % 2 == 0 else ["ours", "ref", "raw"]
            for kind in kinds:
                with self.running(starters[kind]) as (_, url):
                    wrk(f"{url}/health", connections=32, duration=1 if self.smoke else 2)  # warm-up
                    stats = wrk(f"{url}/health", connections=32, duration=duration)
                    results[kind].append(stats["rps"])
                    if kind == "ours":
                        non2xx += int(stats["non2xx"] + stats["errors"])
        self.details["health_rps"] = results
        ours, ref, raw = (statistics.median(results[k]) for k in ("ours", "ref", "raw"))
        self.add_ratio("/health throughput (req/s)", ours, ref, ">= 1.0", lambda r: r >= 1.0, note=f"non-2xx: {non2xx}")
        self.rows.append(Row("raw ASGI ceiling (req/s)", None, round(raw, 1), round(ours / raw, 3), "info", None))

    def memory(self, moto_url: str, secret: str) -> None:
        requests = 2_000 if self.smoke else 100_000
        samples: dict[str, tuple[float, float]] = {}
        for kind, starter in (
            ("ours", lambda p: self.start_service(self.service_env(moto_url, secret), p)),
            ("ref", lambda p: self.start_reference("bench.reference_app:app", p)),
        ):
            with self.running(starter) as (process, url):
                pid = process.pid  # entrypoint.sh execs uvicorn: the pid is the server's
                wrk(f"{url}/health", connections=8, duration=1)  # warm up allocators and caches
                before = rss_mb(pid)
                wrk_requests(f"{url}/health", connections=32, requests=requests)
                after = rss_mb(pid)
                samples[kind] = (before, after)
        (ours_before, ours_after), (ref_before, ref_after) = samples["ours"], samples["ref"]
        self.details["rss_mb"] = samples
        self.rows.append(
            Row(
                "RSS after start (MB)",
                ours_before,
                ref_before,
                round(ours_before / ref_before, 3),
                "< 80 MB",
                ours_before < 80,
            )
        )
        growth = ours_after - ours_before
        self.rows.append(
            Row(
                f"RSS growth over {requests:,} requests (MB)",
                round(growth, 1),
                round(ref_after - ref_before, 1),
                None,
                "<= reference + 2 MB",
                growth <= max(0.0, ref_after - ref_before) + 2.0,
            )
        )

    def aws_calls(self, moto_url: str, secret: str, second: str) -> None:
        proxy = FaultProxy(moto_url).start()
        try:
            env = self.service_env(proxy.url, f"{secret},{second}", SECRETS_REFRESH_INTERVAL="1")
            with self.running(lambda p: self.start_service(env, p)) as (_, url):
                started = dict(proxy.calls)
                probes = 500 if self.smoke else 10_000
                with httpx.Client() as client:
                    for _ in range(probes):
                        client.get(f"{url}/health")
                after_probes = dict(proxy.calls)
                time.sleep(5.5 if not self.smoke else 2.2)
                after_wait = dict(proxy.calls)
        finally:
            proxy.stop()
        gets_at_start = started.get("GetSecretValue", 0)
        gets_probes = after_probes.get("GetSecretValue", 0) - gets_at_start
        window_gets = after_wait.get("GetSecretValue", 0) - after_probes.get("GetSecretValue", 0)
        window_describes = after_wait.get("DescribeSecret", 0) - after_probes.get("DescribeSecret", 0)
        intervals = 5.5 if not self.smoke else 2.2
        self.details["aws_calls"] = {"start": started, "after_probes": after_probes, "after_wait": after_wait}
        self.rows.append(
            Row("GetSecretValue per start, 2 names", gets_at_start, 2, None, "== 1 per name", gets_at_start == 2)
        )
        self.rows.append(Row(f"GetSecretValue per {probes:,} probes", gets_probes, 0, None, "== 0", gets_probes == 0))
        per_interval = window_describes / 2 / intervals
        self.rows.append(
            Row("GetSecretValue per 1 s refresh, unchanged", window_gets, 0, None, "== 0", window_gets == 0)
        )
        self.rows.append(
            Row(
                "DescribeSecret per refresh and name",
                round(per_interval, 2),
                1,
                None,
                "~1 (0.7-1.3)",
                0.7 <= per_interval <= 1.3,
                note=f"{window_describes} DescribeSecret in {intervals} s for 2 names",
            )
        )

    def refresh_under_load(self, moto_url: str, secret: str) -> None:
        duration = 2 if self.smoke else 10
        p99: dict[str, list[float]] = {"refresh": [], "none": []}
        non2xx = 0
        for i in range(self.runs):
            kinds = ["none", "refresh"] if i % 2 == 0 else ["refresh", "none"]
            for kind in kinds:
                interval = "1" if kind == "refresh" else "0"
                env = self.service_env(moto_url, secret, SECRETS_REFRESH_INTERVAL=interval)
                starter: Callable[[int], Process] = partial(self.start_service, env)
                with self.running(starter) as (_, url):
                    # Warm-up first: the one-time client build after start is not the steady state.
                    wrk(f"{url}/health", connections=32, duration=1 if self.smoke else 2)
                    stats = wrk(f"{url}/health", connections=32, duration=duration)
                    p99[kind].append(stats["p99_ms"])
                    non2xx += int(stats["non2xx"] + stats["errors"])
        self.details["refresh_p99_ms"] = p99
        self.add_ratio(
            "/health p99 with 1 s refresh (ms)",
            statistics.median(p99["refresh"]),
            statistics.median(p99["none"]),
            "<= 1.2, 0 non-2xx",
            lambda r: r <= 1.2 and non2xx == 0,
            note=f"non-2xx: {non2xx}",
        )

    def add_ratio(
        self, name: str, ours: float, ref: float, target: str, ok: Callable[[float], bool], note: str = ""
    ) -> None:
        ratio = ours / ref if ref else float("inf")
        self.rows.append(Row(name, round(ours, 3), round(ref, 3), round(ratio, 3), target, ok(ratio), note=note))


def wait_ready(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(f"{url}/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
    raise TimeoutError(f"{url}/health not ready in {timeout}s")


def startup_breakdown(log: str) -> dict[str, float]:
    for line in log.splitlines():
        if line.startswith("{") and "secrets loaded" in line:
            record = json.loads(line)
            timings = dict(record.get("timings_ms", {}))
            if "process_ms" in record:
                timings["process_start_to_loaded"] = record["process_ms"]
            return {k: float(v) for k, v in timings.items()}
    return {}


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
    header = ("measurement", "short-cut", "reference", "ratio", "target", "pass")
    lines = [header] + [
        (
            r.measurement,
            "-" if r.short_cut is None else f"{r.short_cut:g}",
            "-" if r.reference is None else f"{r.reference:g}",
            "-" if r.ratio is None else f"{r.ratio:.3f}",
            r.target,
            "-" if r.passed is None else ("PASS" if r.passed else "FAIL"),
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    text = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines]
    text.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="one short run of each, no targets judged")
    parser.add_argument("--out", default=str(ROOT / "bench/results"))
    args = parser.parse_args()
    runs = 1 if args.smoke else max(5, args.runs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = out / f"work-{uuid.uuid4().hex[:6]}"
    work.mkdir()
    bench = Bench(work, runs=runs, smoke=args.smoke)
    moto, moto_url = start_moto(work)
    try:
        sm = boto3.client(
            "secretsmanager", region_name="us-east-1", endpoint_url=moto_url,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip
        secret, second = "short-cut/prod/app", "short-cut/prod/extra"
        sm.create_secret(Name=secret, SecretString=canary_secret_string())
        sm.create_secret(Name=second, SecretString=json.dumps({"FEATURE_FLAG": "1"}))
        bench.time_to_ready(moto_url, secret)
        bench.throughput(moto_url, secret)
        bench.memory(moto_url, secret)
        bench.aws_calls(moto_url, secret, second)
        bench.refresh_under_load(moto_url, secret)
    finally:
        moto.stop()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    print(render_table(bench.rows))
    print(f"\nstartup breakdown (median ms): {bench.details.get('startup_breakdown_ms')}")
    print(f"machine: {machine}; runs: {runs}{' (smoke: nothing judged)' if args.smoke else ''}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {
        "when": stamp, "machine": machine, "runs": runs, "smoke": args.smoke,
        "rows": [asdict(r) for r in bench.rows], "details": bench.details,
    }  # fmt: skip
    (out / f"bench-{stamp}.json").write_text(json.dumps(result, indent=2))
    for path in work.iterdir():
        path.unlink()
    work.rmdir()
    if args.smoke:
        return 0
    return 0 if all(r.passed is not False for r in bench.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
