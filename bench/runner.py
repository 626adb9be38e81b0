"""The runner: one benchmark run's state (its work directory, the emulator, the pinning, the rows
so far) and starting an app pinned, waiting for its first 200, and stopping it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.apps import Pinning, command, cpu_list
from bench.measure import Start, probe_record, startup_breakdown, tree_cpu_ms, wait_ready
from bench.rows import Row, ratio_row
from tests.support.processes import DUMMY_CREDENTIALS, Process, clean_environment, free_port


class Runner:
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

    def start(self, app: str, port: int, cpus: frozenset[int], env: Mapping[str, str] | None = None) -> Process:
        args, app_env = command(app, port, self.service_env, env)
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
        """Append a ratio row (bench.rows.ratio_row)."""
        self.rows.append(ratio_row(section, name, ours, ref, versus, target, limit, ok=ok, note=note))
