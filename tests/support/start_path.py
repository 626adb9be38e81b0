"""What the service does before its first 200 and per /health request, recorded in a fresh interpreter.

`python -c "from tests.support.start_path import main; main()" OUT.json` (run by
tests/e2e/test_start_path.py with the service's environment) imports `src.main` as uvicorn does,
runs the app's lifespan start-up over ASGI, serves /health until it answers, then serves /health
REQUESTS more times under a profile hook, and writes one JSON document to OUT.json (stdout is the
service's log):

- `modules`: every module imported from `import src.main` to the first 200 (what was there
  before, the interpreter's start-up, `site`, `.pth` files and this script's asyncio and json, is
  not counted: uvicorn has imported as much before it imports the app); `third_party`: their top-level packages that are
  neither the standard library (`sys.stdlib_module_names`) nor `src`; `own`: the `src` modules.
- `probe`: per /health request, the Python function calls by top-level package (`sys.setprofile`
  "call" events, in the one thread that serves: the route is async and touches no thread pool),
  for the cheapest request (the body cached: the renderer re-renders once a second) and for the
  dearest one; and the C calls of the cheapest one.
- `startup_ms`: import and lifespan wall time (information only, never compared: timings are noise).

Function calls, not time: a count does not move with the machine's load, so a budget on it
holds on a busy CI box. Nothing here uses the network but what the service itself would.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from types import FrameType
from typing import Any

REQUESTS = 12


def top_level(module: str) -> str:
    return module.split(".", 1)[0]


def is_stdlib(name: str) -> bool:
    # _sysconfigdata_<abi>_<platform> is the standard library's too, named per build.
    return name in sys.stdlib_module_names or name.startswith("_sysconfigdata_")


def third_party(modules: set[str]) -> list[str]:
    return sorted({t for t in map(top_level, modules) if not is_stdlib(t)} - {"src", "tests", "__main__"})


class CallCounter:
    """sys.setprofile hook: Python calls by the top-level package of the called code's module."""

    def __init__(self) -> None:
        self.python: Counter[str] = Counter()
        self.c_calls = 0

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            package = top_level(str(frame.f_globals.get("__name__", "?")))
            if package != "tests":  # this script's own receive() and send()
                self.python[package] += 1
        elif event == "c_call":
            self.c_calls += 1


async def lifespan_startup(app: Any) -> tuple[asyncio.Queue[dict[str, Any]], asyncio.Task[None]]:
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put))
    message = await outbox.get()
    if message["type"] != "lifespan.startup.complete":
        raise SystemExit(f"lifespan start-up failed: {message}")
    return inbox, task


def health_scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/health",
        "raw_path": b"/health",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def get_health(app: Any, counter: CallCounter | None = None) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    if counter is not None:
        sys.setprofile(counter)
    try:
        await app(health_scope(), receive, send)
    finally:
        sys.setprofile(None)
    return int(next(m["status"] for m in sent if m["type"] == "http.response.start"))


async def serve(app: Any, started: float, baseline: frozenset[str]) -> dict[str, Any]:
    inbox, lifespan = await lifespan_startup(app)
    lifespan_done = time.perf_counter()
    deadline = time.monotonic() + 30
    while await get_health(app) != 200:  # the first load may still be on its way (a worker thread)
        if time.monotonic() > deadline:
            raise SystemExit("/health did not answer 200 within 30 s")
        await asyncio.sleep(0.01)
    ready = time.perf_counter()
    modules = set(sys.modules) - baseline
    counters = []
    for _ in range(REQUESTS):
        counter = CallCounter()
        await get_health(app, counter)
        counters.append(counter)
    await inbox.put({"type": "lifespan.shutdown"})
    await lifespan
    cheapest = min(counters, key=lambda c: sum(c.python.values()))
    dearest = max(counters, key=lambda c: sum(c.python.values()))
    return {
        "modules": sorted(modules),
        "third_party": third_party(modules),
        "own": sorted(m for m in modules if top_level(m) == "src"),
        "probe": {
            "python_calls": sum(cheapest.python.values()),
            "python_calls_by_package": dict(sorted(cheapest.python.items())),
            "c_calls": cheapest.c_calls,
            "dearest_python_calls": sum(dearest.python.values()),
            "dearest_python_calls_by_package": dict(sorted(dearest.python.items())),
        },
        "startup_ms": {
            "lifespan": round((lifespan_done - started) * 1000, 1),
            "first_200": round((ready - started) * 1000, 1),
        },
    }


def main() -> None:
    baseline = frozenset(sys.modules)
    started = time.perf_counter()
    import src.main

    imported = time.perf_counter()
    result = asyncio.run(serve(src.main.app, imported, baseline))
    result["startup_ms"]["import_src_main"] = round((imported - started) * 1000, 1)
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        json.dump(result, out)
