"""Malformed payloads through the whole load: each gives its code, changes nothing, leaks nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src import config
from src.aws import FetchedSecret
from src.config import Settings
from src.environment import EnvironmentApplier
from src.errors import SecretsError
from src.logs import SecretMasker
from src.payload import SERVICE_ACCOUNT_KEY
from src.secrets_manager import SecretsBootstrapper
from tests.reliability import report
from tests.support.canary import leaked
from tests.unit.test_payload import BAD_PAYLOADS

NAME = "short-cut/prod/app"


class OneSecret:
    """A client that serves one fixed SecretString (or SecretBinary)."""

    def __init__(self, raw: str | bytes) -> None:
        self.raw = raw

    @property
    def client(self) -> object:
        return self

    def get_secret(self, name: str, **_: Any) -> FetchedSecret:
        if isinstance(self.raw, bytes):
            return FetchedSecret(name=name, arn="arn", version_id="v1", secret_string=None, has_binary=True)
        return FetchedSecret(name=name, arn="arn", version_id="v1", secret_string=self.raw)


def production() -> Settings:
    return Settings(app_env="production", aws_region="us-east-1", secret_name=NAME)


def boot_for(raw: str | bytes, tmp_path: Path) -> SecretsBootstrapper:
    return SecretsBootstrapper(
        client_factory=lambda _: OneSecret(raw),  # type: ignore[arg-type,return-value]
        applier=EnvironmentApplier(temp_root=str(tmp_path)),
        log_masker=SecretMasker(),
    )


CASES = [
    *BAD_PAYLOADS,
    ("SecretBinary instead of SecretString", b'{"OPENAI_API_KEY": "sk-CANARY"}', "InvalidSecretJSON"),
]


@pytest.mark.parametrize(("raw", "code"), [(raw, code) for _, raw, code in CASES], ids=[n for n, _, _ in CASES])
def test_malformed_payload_changes_nothing(raw: str | bytes, code: str, tmp_path: Path) -> None:
    name = next(n for n, r, _ in CASES if r is raw)
    before_env = dict(os.environ)
    before_config = config._config
    boot = boot_for(raw, tmp_path)
    with pytest.raises(SecretsError) as caught:
        boot.load(production())
    error = caught.value
    unchanged = dict(os.environ) == before_env and config._config is before_config and list(tmp_path.iterdir()) == []
    clean = leaked(str(error), repr(error), error.hint, json.dumps(boot.status.public(), default=str)) == []
    passed = error.code == code and unchanged and clean and not boot.status.loaded
    report.record(f"bad input: {name}", code, error.code + ("" if unchanged else ", CHANGED STATE"), passed)
    assert passed


KEYS = st.one_of(
    st.sampled_from(
        ["OPENAI_API_KEY", "MILVUS_PORT", "APP_SECRET_KEY", "FEATURE_X", "PATH", "LD_PRELOAD", "AWS_REGION"]
    ),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,12}", fullmatch=True),
)
VALUES = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)
EXAMPLES = {"accepted": 0, "rejected": 0}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_payload_is_applied_exactly_or_rejected_whole(payload: dict[str, Any], tmp_path: Path) -> None:
    environ: dict[str, str] = {"KEEP": "1"}
    boot = SecretsBootstrapper(
        client_factory=lambda _: OneSecret(json.dumps(payload)),  # type: ignore[arg-type,return-value]
        applier=EnvironmentApplier(environ, temp_root=str(tmp_path)),
        log_masker=SecretMasker(),
        config_factory=lambda: Settings(app_env="local", aws_region="us-east-1", secret_name=NAME),
    )
    try:
        boot.load()
    except SecretsError:
        EXAMPLES["rejected"] += 1
        assert environ == {"KEEP": "1"}
        assert not boot.status.loaded
        return
    EXAMPLES["accepted"] += 1
    expected = {k: v for k, v in payload.items() if k != SERVICE_ACCOUNT_KEY}
    assert set(environ) == {"KEEP"} | set(expected)
    for key, value in expected.items():
        if isinstance(value, bool):
            assert environ[key] == ("true" if value else "false")
        elif isinstance(value, int | float):
            assert type(value)(environ[key]) == value
        else:
            assert environ[key] == value
    boot.applier.cleanup()


def test_property_examples_are_recorded() -> None:
    total = EXAMPLES["accepted"] + EXAMPLES["rejected"]
    passed = total >= 300 and EXAMPLES["accepted"] > 0 and EXAMPLES["rejected"] > 0
    report.record(
        "property: random payloads (hypothesis)",
        "applied exactly or rejected whole",
        f"{EXAMPLES['accepted']} applied, {EXAMPLES['rejected']} rejected, 0 partial",
        passed,
    )
    assert passed, EXAMPLES
