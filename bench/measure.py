"""Measuring a process from outside: is /health ready, how much CPU did its tree use, how much
memory does it hold, what does wrk say, and what the service logged about its own start-up.

Linux only (/proc). The poller uses a raw socket, not a client library, because it is timed too.
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
POLL_INTERVAL = 0.002


@dataclass
class Start:
    """One start-up: wall seconds from spawn to the first 200, and CPU ms by then."""

    wall_s: float
    cpu_ms: float
    child_cpu_ms: float
    probe: dict[str, float] = field(default_factory=dict)
    breakdown: dict[str, float] = field(default_factory=dict)


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
