"""The benchmark itself cannot rot: one short run of every measurement, no targets judged."""

from __future__ import annotations

import json
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
    for measurement in ("time to ready", "/health throughput", "RSS after start", "GetSecretValue per start", "p99"):
        assert measurement in result.stdout
    (report,) = tmp_path.glob("bench-*.json")
    data = json.loads(report.read_text())
    assert data["smoke"] is True and len(data["rows"]) >= 8
    assert all(row["short_cut"] is not None or row["reference"] is not None for row in data["rows"])
    assert data["details"]["startup_breakdown_ms"]
