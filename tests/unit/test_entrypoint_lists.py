"""entrypoint.sh's fast checks use the same lists as the Python side, read from the script's text."""

from __future__ import annotations

import re
from typing import get_args

from src.app_env import REGION_PATTERN, AppEnv
from src.config import LogLevel, Settings
from tests.support.processes import ROOT

SCRIPT = (ROOT / "entrypoint.sh").read_text()


def shell_variable(name: str) -> str:
    """The value of a top-level `NAME="..."` or `NAME='...'` assignment (exactly one)."""
    found = re.findall(rf"""^{name}=(["'])(.*)\1$""", SCRIPT, flags=re.MULTILINE)
    assert len(found) == 1, f"{name} must be assigned once at the top level of entrypoint.sh"
    return str(found[0][1])


def test_app_env_list_equals_app_env() -> None:
    assert shell_variable("ALLOWED").split() == [env.value for env in AppEnv]


def test_log_level_list_equals_the_settings_literal() -> None:
    assert shell_variable("LOG_LEVELS").split() == list(get_args(LogLevel))
    assert get_args(Settings.model_fields["log_level"].annotation) == get_args(LogLevel)


def test_region_regex_equals_region_pattern() -> None:
    assert shell_variable("REGION_PATTERN") == REGION_PATTERN.pattern


def test_the_checks_use_those_variables() -> None:
    # Equal lists prove nothing if the checks test something else.
    assert 'one_of "$APP_ENV" "$ALLOWED"' in SCRIPT
    assert 'one_of "$LOG_LEVEL" "$LOG_LEVELS"' in SCRIPT
    assert 'grep -Eq "$REGION_PATTERN"' in SCRIPT


def test_the_timeout_defaults_equal_the_settings() -> None:
    from src.config import DEFAULT_KEEP_ALIVE_TIMEOUT, DEFAULT_REQUEST_HEAD_TIMEOUT

    assert 'KEEP_ALIVE_TIMEOUT="${KEEP_ALIVE_TIMEOUT:-' + str(DEFAULT_KEEP_ALIVE_TIMEOUT) + '}"' in SCRIPT
    assert 'REQUEST_HEAD_TIMEOUT="${REQUEST_HEAD_TIMEOUT:-' + f"{DEFAULT_REQUEST_HEAD_TIMEOUT:g}" + '}"' in SCRIPT
    assert Settings.model_fields["request_head_timeout"].default == DEFAULT_REQUEST_HEAD_TIMEOUT
    assert '--http src.web.http_protocol:HeadTimeoutH11Protocol --timeout-keep-alive "$KEEP_ALIVE_TIMEOUT"' in SCRIPT
