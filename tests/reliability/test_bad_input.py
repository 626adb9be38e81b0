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
from src.aws.client import FetchedSecret
from src.config import Settings
from src.errors import SecretsError
from src.loading.environment import EnvironmentApplier
from src.secret.payload import SERVICE_ACCOUNT_KEY
from src.secrets_manager import SecretsBootstrapper
from src.telemetry.mask import SecretMasker
from tests.reliability import report
from tests.support.canary import SERVICE_ACCOUNT, canary_payload, leaked
from tests.unit.secret.test_payload import BAD_PAYLOADS

NAME = "short-cut/prod/app"


class OneSecret:
    """A client that serves one SecretString (or SecretBinary), replaceable with a new version."""

    def __init__(self, raw: str | bytes, version: str = "v1") -> None:
        self.raw = raw
        self.version = version

    @property
    def client(self) -> object:
        return self

    def get_secret(self, name: str, **_: Any) -> FetchedSecret:
        if isinstance(self.raw, bytes):
            return FetchedSecret(name=name, arn="arn", version_id=self.version, secret_string=None, has_binary=True)
        return FetchedSecret(name=name, arn="arn", version_id=self.version, secret_string=self.raw)


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
    clean = leaked(str(error), repr(error), error.hint, json.dumps(boot.status.full(), default=str)) == []
    passed = error.code == code and unchanged and clean and not boot.status.loaded
    report.record(f"bad input: {name}", code, error.code + ("" if unchanged else ", CHANGED STATE"), passed)
    assert passed


# Every key the config reads, plus names outside the allow-list and forbidden ones.
CONFIG_KEYS = [
    "OPENAI_API_KEY",
    "PINECONE_API_KEY",
    "GCP_PROJECT_ID",
    "APP_SECRET_KEY",
    "MILVUS_HOST",
    "MILVUS_PORT",
    SERVICE_ACCOUNT_KEY,
]
KEYS = st.one_of(
    st.sampled_from([*CONFIG_KEYS, "FEATURE_X", "PATH", "LD_PRELOAD", "AWS_REGION", "HTTPS_PROXY", "TMPDIR"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,12}", fullmatch=True),
)
# All of Unicode, and digits of every script (Nd), superscripts and fractions (No): int() and
# pydantic disagree on which of these are numbers.
DIGITS = st.text(alphabet=st.characters(categories=("Nd", "No")), min_size=1, max_size=6)
VALUES = st.one_of(
    st.text(max_size=20),
    DIGITS,
    st.integers(min_value=-(10**6), max_value=10**6),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.builds(lambda k: {**SERVICE_ACCOUNT, "private_key_id": k}, st.text(min_size=1, max_size=8)),
)
EXAMPLES = {"accepted": 0, "rejected": 0}


def state(environ: dict[str, str]) -> tuple[dict[str, str], str | None, dict[str, Any]]:
    """Environment, service-account file and config: what must be all old or all new."""
    path = environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    content = Path(path).read_text() if path and Path(path).exists() else None
    return dict(environ), content, config.get_config().model_dump(mode="json")


def as_applied(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    changes=st.one_of(
        # Mostly plausible: config keys with any text or any script's digits (many are accepted).
        st.dictionaries(st.sampled_from(CONFIG_KEYS[:-1]), st.one_of(st.text(min_size=1), DIGITS), max_size=3),
        st.dictionaries(KEYS, VALUES, max_size=4),
    )
)
def test_any_new_version_is_applied_whole_or_changes_nothing(changes: dict[str, Any], tmp_path: Path) -> None:
    """A running service with a good version meets a random next version: environment, file and
    config are afterwards all the old version's or all the new one's, never a mix."""
    environ: dict[str, str] = {"KEEP": "1"}
    secret = OneSecret(json.dumps(canary_payload()))
    boot = SecretsBootstrapper(
        client_factory=lambda _: secret,  # type: ignore[arg-type,return-value]
        applier=EnvironmentApplier(environ, temp_root=str(tmp_path)),
        log_masker=SecretMasker(),
    )
    settings_ = production()
    boot.load(settings_)
    before = state(environ)
    payload = {**canary_payload(), **changes}
    secret.raw, secret.version = json.dumps(payload), "v2"
    try:
        boot.commit(boot.prepare(settings_, current={NAME: "v2"}))
    except SecretsError:
        EXAMPLES["rejected"] += 1
        assert state(environ) == before
        assert boot.status.version_ids == {NAME: "v1"}
        boot.applier.cleanup()
        return
    EXAMPLES["accepted"] += 1
    env, content, current = state(environ)
    assert boot.status.version_ids == {NAME: "v2"}
    applied = {k: as_applied(v) for k, v in payload.items() if k in CONFIG_KEYS and k != SERVICE_ACCOUNT_KEY}
    assert {k: v for k, v in env.items() if k in applied} == applied
    assert set(env) == {"KEEP", "GOOGLE_APPLICATION_CREDENTIALS", *applied}
    sa = payload[SERVICE_ACCOUNT_KEY]
    assert content is not None and json.loads(content) == (json.loads(sa) if isinstance(sa, str) else sa)
    assert current["milvus_port"] == int(env["MILVUS_PORT"]) and current["milvus_host"] == env["MILVUS_HOST"]
    assert current["gcp_project_id"] == env["GCP_PROJECT_ID"]
    app_key = config.get_config().app_secret_key
    assert app_key is not None and app_key.get_secret_value() == env["APP_SECRET_KEY"]
    assert current["google_application_credentials"] == env["GOOGLE_APPLICATION_CREDENTIALS"]
    boot.applier.cleanup()


def test_property_examples_are_recorded() -> None:
    total = EXAMPLES["accepted"] + EXAMPLES["rejected"]
    passed = total >= 300 and EXAMPLES["accepted"] > 0 and EXAMPLES["rejected"] > 0
    report.record(
        "property: random next versions, all of Unicode (hypothesis)",
        "environment, file and config all old or all new",
        f"{EXAMPLES['accepted']} applied, {EXAMPLES['rejected']} rejected, 0 partial",
        passed,
    )
    assert passed, EXAMPLES
