"""entrypoint.sh fails fast, before Python starts, with one line naming the setting."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.support.processes import ROOT, clean_environment


def run_entrypoint(**env: str) -> tuple[int, str, float]:
    started = time.monotonic()
    # PYTHON=false: if the script ever reached Python, the exit code would be 1, not 78.
    result = subprocess.run(
        [str(ROOT / "entrypoint.sh")],
        env=clean_environment(PYTHON="false", **env),
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return result.returncode, result.stderr, time.monotonic() - started


@pytest.mark.parametrize(
    ("value", "suggestion"),
    [("prod", "production"), ("Production", "production"), ("stg", "staging"), ("dev", "development"), ("qa", None)],
)
def test_unknown_app_env_exits_78_naming_the_allowed_values(value: str, suggestion: str | None) -> None:
    code, stderr, elapsed = run_entrypoint(APP_ENV=value)
    assert code == 78
    lines = stderr.strip().splitlines()
    assert len(lines) == 1
    assert "APP_ENV" in lines[0]
    assert "local development test staging production" in lines[0]
    if suggestion:
        assert f"did you mean '{suggestion}'" in lines[0]
    else:
        assert "did you mean" not in lines[0]
    assert elapsed < 1.0


@pytest.mark.parametrize("env", ["production", "staging"])
def test_cloud_env_without_region_exits_78(env: str) -> None:
    code, stderr, elapsed = run_entrypoint(APP_ENV=env)
    assert code == 78
    assert "AWS_REGION" in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert elapsed < 1.0


@pytest.mark.parametrize(
    "region",
    ["us_east_1", "US-EAST-1", "useast1", "us-east-1; rm -rf /", "us-east-1\nevil", "us-east-1 ", "us-east-1\t"],
)
def test_malformed_region_exits_78(region: str) -> None:
    code, stderr, _ = run_entrypoint(APP_ENV="production", AWS_REGION=region)
    assert code == 78
    assert "AWS_REGION" in stderr


@pytest.mark.parametrize("failover", ["us_west_2", "us-west-2\nevil", "us-west-2 x", "https://example.com"])
def test_malformed_failover_region_exits_78(failover: str) -> None:
    code, stderr, _ = run_entrypoint(APP_ENV="production", AWS_REGION="us-east-1", SECRETS_FAILOVER_REGION=failover)
    assert code == 78
    assert stderr.startswith("entrypoint: SECRETS_FAILOVER_REGION=")


def test_a_failover_region_name_passes_the_checks() -> None:
    # Reaches PYTHON (false), which exits 1: the check let it through (Settings judges the rest).
    code, stderr, _ = run_entrypoint(APP_ENV="production", AWS_REGION="us-east-1", SECRETS_FAILOVER_REGION="us-west-2")
    assert code == 1 and "SECRETS_FAILOVER_REGION" not in stderr


def test_default_region_is_accepted_as_fallback() -> None:
    # Passes the checks and reaches PYTHON (false), which exits 1.
    code, stderr, _ = run_entrypoint(APP_ENV="production", AWS_DEFAULT_REGION="eu-west-1")
    assert code == 1
    assert stderr == ""


@pytest.mark.parametrize(("name", "value"), [("PORT", "eighty"), ("PORT", "70000"), ("LOG_LEVEL", "loud")])
def test_bad_server_settings_exit_78(name: str, value: str) -> None:
    code, stderr, _ = run_entrypoint(**{name: value})
    assert code == 78
    assert name in stderr


def test_unset_app_env_means_local_and_needs_no_region() -> None:
    code, stderr, _ = run_entrypoint()
    assert (code, stderr) == (1, "")


def test_entrypoint_has_lf_endings_and_is_executable() -> None:
    data = (ROOT / "entrypoint.sh").read_bytes()
    assert b"\r" not in data
    assert data.startswith(b"#!/bin/sh\n")
    assert "set -eu" in data.decode()
    assert (ROOT / "entrypoint.sh").stat().st_mode & 0o111


def test_invalid_setting_exits_78_naming_it_without_its_value() -> None:
    result = subprocess.run(
        [str(ROOT / "entrypoint.sh")],
        env=clean_environment(PORT="18999", SECRETS_READ_TIMEOUT="CANARYslow", ENV_FILE="/nonexistent.env"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 78
    assert "InvalidConfiguration" in result.stderr and "SECRETS_READ_TIMEOUT" in result.stderr
    assert "CANARY" not in result.stderr + result.stdout
