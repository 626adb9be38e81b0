"""LOG_LEVEL (and the connection timeouts) in .env do what they do in the environment (issue 29, item 9).

entrypoint.sh read only the process environment, so `LOG_LEVEL=warning` in .env (which
.env.example lists, and `make run` copies) never reached uvicorn's --log-level. It now reads
.env for the settings it hands to uvicorn, after the environment, as src/config.py does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ServiceFactory
from tests.e2e.test_bind_address import uvicorn_argv
from tests.support.processes import ROOT, clean_environment, wait_for


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_log_level_in_the_env_file_is_honoured(service: ServiceFactory, tmp_path: Path, log_format: str) -> None:
    env_file = tmp_path / "service.env"
    env_file.write_text("# the operator's .env\nLOG_LEVEL=warning  # quiet\n")
    process, url = service({"APP_ENV": "local", "ENV_FILE": str(env_file), "LOG_FORMAT": log_format})
    wait_for(f"{url}/health/live")
    assert httpx.get(f"{url}/health/nothing-here", timeout=5).status_code == 404
    output = process.output()
    # uvicorn logs its start at INFO ("Uvicorn running on ..."): a warning level hides it.
    assert "Uvicorn running on" not in output and "Application startup complete" not in output, output[-2000:]


def test_the_environment_wins_over_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "service.env"
    env_file.write_text("LOG_LEVEL=\"Debug\"\nexport KEEP_ALIVE_TIMEOUT=70\nREQUEST_HEAD_TIMEOUT='5'\n")
    argv = uvicorn_argv(ENV_FILE=str(env_file))
    assert argv[argv.index("--log-level") + 1] == "debug"
    assert argv[argv.index("--timeout-keep-alive") + 1] == "70"
    argv = uvicorn_argv(ENV_FILE=str(env_file), LOG_LEVEL="error", KEEP_ALIVE_TIMEOUT="90")
    assert argv[argv.index("--log-level") + 1] == "error"
    assert argv[argv.index("--timeout-keep-alive") + 1] == "90"


def test_a_bad_value_in_the_env_file_exits_78_naming_it(tmp_path: Path) -> None:
    env_file = tmp_path / "service.env"
    env_file.write_text("LOG_LEVEL=loud; touch /tmp/x\n")
    done = subprocess.run(
        [str(ROOT / "entrypoint.sh")],
        env=clean_environment(PYTHON="echo", ENV_FILE=str(env_file)),
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 78 and "LOG_LEVEL=" in done.stderr


TIMEOUTS = [
    "10",
    "0.5",
    "30",
    "30.0",
    "007",
    "1.25",
    "0",
    "000",
    "0.0",
    "30.01",
    "31",
    ".5",
    "5.",
    "1e1",
    "1.2.3",
    "٣",
    "inf",
]


@pytest.mark.parametrize("value", TIMEOUTS)
def test_entrypoint_and_the_protocol_agree_on_request_head_timeout(value: str) -> None:
    """entrypoint.sh checks REQUEST_HEAD_TIMEOUT in shell alone (no awk in a minimal image);
    src/web/http_protocol.py reads it with src.config's parser: the two accept the same values."""
    from src.config import request_head_timeout_from

    try:
        python_ok = 0 < request_head_timeout_from(value) <= 30
    except ValueError:
        python_ok = False
    done = subprocess.run(
        [str(ROOT / "entrypoint.sh")],
        env=clean_environment(PYTHON="true", ENV_FILE="/nonexistent.env", REQUEST_HEAD_TIMEOUT=value),
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert (done.returncode == 0) is python_ok, (value, done.stderr)
    assert done.returncode in (0, 78)


@pytest.mark.parametrize("value", ["0", "4001", "65.5", "x", "0065", "99999999999999999999"])
def test_a_bad_keep_alive_timeout_exits_78(value: str) -> None:
    done = subprocess.run(
        [str(ROOT / "entrypoint.sh")],
        env=clean_environment(PYTHON="true", ENV_FILE="/nonexistent.env", KEEP_ALIVE_TIMEOUT=value),
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 78 and "KEEP_ALIVE_TIMEOUT=" in done.stderr
