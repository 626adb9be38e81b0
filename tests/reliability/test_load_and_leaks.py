"""Load with live refresh, schemathesis on the OpenAPI document, and the canary hunt."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
from pathlib import Path
from typing import Any

import httpx

from bench.measure import rss_mb, wrk
from tests.e2e.conftest import ServiceFactory, production_env
from tests.e2e.test_bootstrap import credentials_files
from tests.reliability import report
from tests.reliability.conftest import SEEN
from tests.support.canary import canary_payload, leaked
from tests.support.processes import BIN, wait_for


def test_load_with_one_second_refresh(service: ServiceFactory, sm: Any, secret_name: str, moto_url: str) -> None:
    sm.create_secret(Name=secret_name, SecretString=json.dumps(canary_payload()))
    process, url = service(production_env(secret_name, SECRETS_REFRESH_INTERVAL="1"), endpoint=moto_url)
    wait_for(f"{url}/health", timeout=30)
    wrk(f"{url}/health", connections=64, duration=3)  # warm-up
    before = rss_mb(process.pid)
    stats = wrk(f"{url}/health", connections=64, duration=30)
    after = rss_mb(process.pid)
    growth = after - before
    failures = int(stats["non2xx"] + stats["errors"])
    passed = failures == 0 and growth < 5.0 and stats["rps"] > 0
    SEEN.append(process.output())
    report.record(
        "load: 64 connections, 30 s, 1 s refresh",
        "0 non-2xx, RSS flat (< 5 MB growth)",
        f"{failures} non-2xx, {stats['rps']:.0f} req/s, RSS {before:.1f} -> {after:.1f} MB",
        passed,
    )
    assert passed, (stats, before, after)


def test_schemathesis_finds_no_5xx_and_no_schema_mismatch(service: ServiceFactory, tmp_path: Path) -> None:
    env_file = tmp_path / "local.env"
    env_file.write_text("OPENAI_API_KEY=sk-CANARYopenai-7f3kZr9XwV2mN8bT\nMILVUS_HOST=localhost\n")
    process, url = service({"ENV_FILE": str(env_file)})
    wait_for(f"{url}/health", timeout=30)
    result = subprocess.run(
        [
            str(BIN / "schemathesis"), "run", f"{url}/openapi.json",
            "--checks", "all", "--max-examples", "50", "--no-color",
        ],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    SEEN.extend([result.stdout, result.stderr, process.output()])
    summary = next(
        (line.strip() for line in reversed(result.stdout.splitlines()) if "passed" in line or "failed" in line), ""
    )
    report.record(
        "schemathesis on /openapi.json (local)",
        "no 5xx, responses match schema",
        summary[:70] or "no summary",
        result.returncode == 0,
    )
    assert result.returncode == 0, result.stdout[-3000:]


def test_leak_hunt(service: ServiceFactory, sm: Any, secret_name: str, moto_url: str, tmp_path: Path) -> None:
    """The service's own process: output, bodies, cmdline, environment, the private file, and its removal."""
    sm.create_secret(Name=secret_name, SecretString=json.dumps(canary_payload()))
    process, url = service(production_env(secret_name, LOG_LEVEL="debug"), endpoint=moto_url)
    wait_for(f"{url}/health", timeout=30)
    bodies = [httpx.get(f"{url}{path}").text for path in ("/health", "/health/live", "/docs", "/openapi.json", "/nope")]
    cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
    environ = Path(f"/proc/{process.pid}/environ").read_bytes()
    (sa_file,) = credentials_files(tmp_path)
    modes = (stat.S_IMODE(sa_file.stat().st_mode), stat.S_IMODE(sa_file.parent.stat().st_mode))
    raw_json_in_env = b"GOOGLE_APPLICATION_CREDENTIALS_JSON" in environ
    process.signal(signal.SIGTERM)
    process.wait(timeout=15)
    gone = not sa_file.exists() and not sa_file.parent.exists()
    texts = [*SEEN, *bodies, process.output(), cmdline.decode(errors="replace"), environ.decode(errors="replace")]
    found = leaked(*texts)
    culprits = [t[max(0, t.lower().find("canary") - 80) : t.lower().find("canary") + 80] for t in texts if leaked(t)]
    passed = found == [] and modes == (0o600, 0o700) and gone and not raw_json_in_env
    report.record(
        "canary hunt: every output of every scenario",
        "no value anywhere; file 0600 in 0700, gone after SIGTERM",
        f"{len(found)} canaries in {len(texts)} texts; modes {oct(modes[0])}/{oct(modes[1])}; removed: {gone}",
        passed,
    )
    assert passed, (found, modes, gone, culprits[:3])
