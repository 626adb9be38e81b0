"""The benchmark itself cannot rot: one short run of every measurement, no targets judged.

It also proves the benchmark measures what it says: the measured process is pinned
to one CPU, away from the benchmark's own, and on that one CPU short-cut starts no
prefetch child (SECRETS_PREFETCH=auto), while on two CPUs it does.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import BIN, ROOT, clean_environment


@pytest.mark.timeout(300)
def test_bench_smoke(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "python"), str(ROOT / "bench/run.py"), "--smoke", "--out", str(tmp_path)],
        cwd=ROOT, env=clean_environment(TMPDIR=str(tmp_path)), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    for measurement in ("time to ready", "CPU to ready", "/health throughput", "RSS after start",
                        "GetSecretValue per start", "p99", "pydantic-settings peer", "bare FastAPI",
                        "mask per JSON line, 64 KiB secret of short lines",
                        "time to ready, primary 503", "time to ready, primary unreachable"):  # fmt: skip
        assert measurement in result.stdout
    assert "podman --cpus 0.5 section skipped: smoke run" in result.stdout
    assert "s until every process serves the new version, events" in result.stdout  # bench/convergence.py
    (report,) = tmp_path.glob("bench-*.json")
    data = json.loads(report.read_text())
    assert data["smoke"] is True and len(data["rows"]) >= 12
    assert all(row["short_cut"] is not None or row["reference"] is not None for row in data["rows"])
    assert "measured process on CPU" in data["machine"]
    rows = {(row["section"], row["measurement"]): row for row in data["rows"]}
    # One CPU: no child; two CPUs: the child ran, and its CPU is counted in the total.
    assert rows[("1 CPU", "prefetch child CPU, SECRETS_PREFETCH=auto (ms)")]["short_cut"] == 0
    if len(os.sched_getaffinity(0)) >= 2:  # the machine's 2 cores; a pinned runner has no second one
        assert rows[("2 CPUs (info)", "prefetch child CPU, SECRETS_PREFETCH=auto (ms)")]["short_cut"] > 0
    assert rows[("AWS calls", "GetSecretValue per start, 2 names, 2 CPUs")]["short_cut"] == 2
    # Metrics on (production's default) against METRICS=off, in the same run.
    for measurement in ("CPU to ready, metrics on (ms)", "/health throughput, metrics on (req/s)"):
        assert rows[("1 CPU", measurement)]["versus"] == "short-cut, METRICS=off"
    breakdown = data["details"]["startup_breakdown_cpu_ms"]
    assert {"imports", "client", "fetch", "validate", "apply", "first 200"} <= set(breakdown)
    assert breakdown["imports"] > 0 and breakdown["client"] > 0 and breakdown["validate"] > 0
