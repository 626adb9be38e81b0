"""The applications measured, and how each is started: short-cut (through entrypoint.sh, as the
image runs it, in a few variants) and the references (bench.reference_app, bench.peer_app,
bench.raw_app), all on uvicorn with the same flags; and which CPUs the measured process and
the benchmark itself run on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import BIN

ROOT = Path(__file__).resolve().parents[1]

UVICORN_FLAGS = [
    "--host",
    "127.0.0.1",
    "--log-level",
    "info",
    "--no-server-header",
    "--timeout-graceful-shutdown",
    "10",
]
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


def command(
    app: str, port: int, service_env: Callable[..., dict[str, str]], env: Mapping[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that start `app` on `port` (short-cut's from `service_env`)."""
    uvicorn = [str(BIN / "python"), "-m", "uvicorn"]
    if app == SHORT_CUT:
        return [str(ROOT / "entrypoint.sh")], {**service_env(), **(env or {})}
    if app == SHORT_CUT_CHILD:
        return [str(ROOT / "entrypoint.sh")], service_env(SECRETS_PREFETCH="1")
    if app == SHORT_CUT_NO_METRICS:
        return [str(ROOT / "entrypoint.sh")], service_env(METRICS="off")
    if app == SHORT_CUT_PROBES_LOGGED:
        return [str(ROOT / "entrypoint.sh")], service_env(HEALTH_ACCESS_LOG="all")
    if app == SHORT_CUT_PROBE:
        probe = [str(BIN / "python"), "-m", "bench.startup_probe", *UVICORN_FLAGS, "--port", str(port)]
        return probe, service_env(LOG_LEVEL="info")
    if app == PEER:
        peer_env = {k: v for k, v in service_env().items() if k not in ("APP_ENV", "ENV_FILE")}
        return [*uvicorn, "bench.peer_app:app", *UVICORN_FLAGS, "--port", str(port)], peer_env
    module = {BARE: "bench.reference_app:app", RAW: "bench.raw_app:app"}[app]
    return [*uvicorn, module, *UVICORN_FLAGS, "--port", str(port)], {}
