"""`python -m bench.startup_probe [uvicorn args]`: short-cut's own start-up, timed in CPU.

Runs uvicorn exactly as entrypoint.sh does, with the service's load steps wrapped to
read `time.process_time()` (this process's CPU, all threads, from process start) on
the way in and out. It writes one JSON line to stderr after the first load:

    {"startup_probe": {"imports": ..., "server_start": ..., "client": ..., "fetch": ...,
                       "validate": ..., "apply": ..., "at_loaded": ...}}

all in CPU milliseconds. The benchmark adds "first 200" itself: the process's CPU
when /health first answers 200, minus `at_loaded`. Only the benchmark uses this;
the wrapped functions behave exactly as before (the wrappers only read a clock).
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_cpu_ms: dict[str, float] = {}


def _now_ms() -> float:
    return time.process_time() * 1000


def _timed(name: str, function: F) -> F:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = _now_ms()
        try:
            return function(*args, **kwargs)
        finally:
            _cpu_ms[name] = _cpu_ms.get(name, 0.0) + _now_ms() - started

    return wrapper  # type: ignore[return-value]


def _wrap(owner: Any, attribute: str, name: str) -> None:
    # A step that moved must break the probe (and the bench smoke test), not read 0 quietly.
    if not hasattr(owner, attribute):
        raise AttributeError(f"startup probe: {owner!r} has no {attribute} to time as {name!r}")
    setattr(owner, attribute, _timed(name, getattr(owner, attribute)))


def _install() -> None:
    """Wrap the steps of the first load; modules are imported here, so count this as imports."""
    from src import secrets_manager
    from src.aws import client as aws
    from src.loading import loader

    _wrap(aws, "build_client", "client")
    _wrap(aws.SecretsClient, "get_secret", "fetch")
    _wrap(loader, "parse_secret", "validate")
    _wrap(loader, "build_bundle", "validate")
    boot = secrets_manager.SecretsBootstrapper
    original_load, original_commit = boot.load, boot.commit

    def load(self: Any, *args: Any, **kwargs: Any) -> Any:
        _cpu_ms.setdefault("load_started_at", _now_ms())
        return original_load(self, *args, **kwargs)

    def commit(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = _now_ms()
        try:
            return original_commit(self, *args, **kwargs)
        finally:
            now = _now_ms()
            if "apply" not in _cpu_ms:
                _cpu_ms["apply"] = now - started
                _report(now)

    boot.load = load  # type: ignore[method-assign]
    boot.commit = commit  # type: ignore[method-assign]


def _report(at_loaded: float) -> None:
    imports = _cpu_ms.get("imports_done_at", 0.0)
    record = {
        "imports": imports,
        "server_start": _cpu_ms.get("load_started_at", imports) - imports,
        **{k: _cpu_ms.get(k, 0.0) for k in ("client", "fetch", "validate", "apply")},
        "at_loaded": at_loaded,
    }
    print(json.dumps({"startup_probe": {k: round(v, 1) for k, v in record.items()}}), file=sys.stderr, flush=True)


def main() -> None:
    import uvicorn.main

    _install()
    import src.main  # noqa: F401 - the app module, imported (and built) as uvicorn would

    _cpu_ms["imports_done_at"] = _now_ms()
    sys.argv = ["uvicorn", "src.main:app", *sys.argv[1:]]
    uvicorn.main.main()


if __name__ == "__main__":
    main()
