"""The log mask through a real load (in-process moto): credentials masked, identifiers and the
fields that name a secret, a version or a task left as they are, JSON lines kept whole, the mask
built in prepare and cheap per line whatever the secret holds."""

from __future__ import annotations

import io
import json
import logging
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from src.config import Settings
from src.loading.environment import EnvironmentApplier
from src.secrets_manager import SecretsBootstrapper
from src.telemetry import mask as mask_module
from src.telemetry import metrics
from src.telemetry.logs import configure_logging
from src.telemetry.mask import MASK, SecretMasker
from src.telemetry.served_version import parse_line
from tests.support.canary import CANARY_PRIVATE_KEY, CANARY_VALUES, SERVICE_ACCOUNT, canary_secret_string, leaked

FORMATS = pytest.mark.parametrize("json_lines", [True, False], ids=["json", "text"])
# A secret name whose words an identifier may share.
NAME = "orion-billing/prod/app"


@pytest.fixture
def mask(monkeypatch: pytest.MonkeyPatch) -> SecretMasker:
    fresh = SecretMasker()
    monkeypatch.setattr(mask_module, "masker", fresh)
    return fresh


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    stream = io.StringIO()
    monkeypatch.setattr(metrics, "_emitter", metrics.Emitter(environment="prod", enabled=True, stream=stream))
    return stream


@pytest.fixture
def boot(tmp_path: Path, mask: SecretMasker) -> Iterator[SecretsBootstrapper]:
    bootstrapper = SecretsBootstrapper(applier=EnvironmentApplier(temp_root=str(tmp_path)), log_masker=mask)
    yield bootstrapper
    bootstrapper.applier.cleanup()


def production(**extra: Any) -> Settings:
    return Settings(app_env="production", aws_region="us-east-1", secret_name=NAME, **extra)


def lines(capsys: pytest.CaptureFixture[str], *, json_lines: bool) -> list[str]:
    out = capsys.readouterr().out.splitlines()
    if json_lines:
        for line in out:
            assert isinstance(json.loads(line), dict), line
    return out


def records(out: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out if not line.startswith('{"_aws"')]


@FORMATS
def test_identifiers_are_not_masked_and_names_survive_an_identifier_equal_to_a_word_of_the_name(
    json_lines: bool, sm: Any, boot: SecretsBootstrapper, emf: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    # GCP_PROJECT_ID is the first word of the secret name; the host and the port are in the name too.
    identifiers = {"GCP_PROJECT_ID": "orion-billing", "MILVUS_HOST": "prod", "MILVUS_PORT": "2718"}
    version = sm.create_secret(Name=NAME, SecretString=canary_secret_string(**identifiers))["VersionId"]
    configure_logging(json_lines=json_lines, level="INFO")
    boot.load(production())
    metrics.report_age(boot.status)
    log = logging.getLogger("short_cut.test")
    host, port = identifiers["MILVUS_HOST"], identifiers["MILVUS_PORT"]
    log.info("milvus at %s:%s for %s", host, port, SERVICE_ACCOUNT["client_email"])
    log.info("key %s", CANARY_VALUES["OPENAI_API_KEY"])
    out = lines(capsys, json_lines=json_lines)
    text = "\n".join(out)
    assert leaked(text) == [], text
    assert f"milvus at prod:2718 for {SERVICE_ACCOUNT['client_email']}" in text
    assert "key ***" in text
    (age,) = [doc for line in emf.getvalue().splitlines() if "SecretAgeSeconds" in (doc := json.loads(line))]
    assert age["secret_name"] == NAME and age["version_id"] == version
    if json_lines:
        found = records(out)
        loaded = next(r for r in found if r["message"].startswith("secrets loaded"))
        assert loaded["secret_names"] == [NAME] and loaded["version_ids"] == {NAME: version}
        in_use = next(r for r in found if r.get("event") == "served_version")
        assert in_use["secret_name"] == NAME and in_use["version_id"] == version
    else:
        assert f"secret_names={NAME} version_ids={NAME}={version}" in text
    # The served-version record survives the mask whole, in both formats (fleet reads it).
    (record,) = [r for r in (parse_line(line) for line in out) if r is not None]
    assert (record.secret_name, record.version_id, record.reason) == (NAME, version, "start")


@FORMATS
def test_ignored_values_equal_to_field_names_never_touch_a_field_name_or_an_identity(
    json_lines: bool, sm: Any, boot: SecretsBootstrapper, emf: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    ignored = {
        "NOTE_A": "message",
        "NOTE_B": "level",
        "NOTE_C": "secret_names",
        "NOTE_D": "version_ids",
        "NOTE_E": "orion-billing/prod/app",
        "NOTE_F": "unrelated-but-long-value-77",
        "NOTE_G": "eu-west-3-zone-b",  # ignored and not listed: not a credential, never masked
    }
    version = sm.create_secret(Name=NAME, SecretString=canary_secret_string(**ignored))["VersionId"]
    configure_logging(json_lines=json_lines, level="INFO")
    # NOTE_F is a credential (listed in SECRETS_EXTRA_KEYS); NOTE_E, equal to the secret's name, is
    # ignored. Listed, it would be a credential, and a credential equal to the name is masked even
    # there (issue 29: credentials win; test_mask_rules.py).
    boot.load(production(secrets_extra_keys="NOTE_F"))
    metrics.report_age(boot.status)
    logging.getLogger("short_cut.test").warning("context %s", ignored["NOTE_F"])
    logging.getLogger("short_cut.test").warning("zone %s", ignored["NOTE_G"])
    out = lines(capsys, json_lines=json_lines)
    text = "\n".join(out)
    assert "unrelated-but-long-value-77" not in text and f"context {MASK}" in text
    assert "zone eu-west-3-zone-b" in text
    (age,) = [doc for line in emf.getvalue().splitlines() if "SecretAgeSeconds" in (doc := json.loads(line))]
    assert age["secret_name"] == NAME and age["version_id"] == version
    if json_lines:
        for record in records(out):
            assert {"time", "level", "logger", "message"} <= set(record), record
        loaded = next(r for r in records(out) if r["message"].startswith("secrets loaded"))
        assert loaded["secret_names"] == [NAME] and loaded["version_ids"] == {NAME: version}
    else:
        assert f"{NAME} version_ids={NAME}={version}" in text


def pem_like_secret(line_length: int) -> str:
    """A valid version just under 64 KiB whose private key is thousands of short PEM-like lines."""

    def payload(count: int) -> str:
        body = "\n".join((f"Q{n:07d}x" * 8)[:line_length] for n in range(count))
        key = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
        return canary_secret_string(GOOGLE_APPLICATION_CREDENTIALS_JSON={**SERVICE_ACCOUNT, "private_key": key})

    # Each line adds its length and an escaped newline (two characters) to the JSON.
    count = (65536 - len(payload(0).encode())) // (line_length + 2)
    found = payload(count)
    assert len(found.encode()) <= 65536
    return found


TYPICAL_LINE = json.dumps(
    {
        "time": "2026-03-01 10:00:00,123",
        "level": "INFO",
        "logger": "uvicorn.access",
        "message": '10.0.3.17:51234 - "GET /v1/search?q=vector+index HTTP/1.1" 200',
        "secret_names": [NAME],
    }
)


def per_line_us(mask: SecretMasker) -> float:
    runs = []
    for _ in range(7):
        started = time.perf_counter()
        for _ in range(300):
            mask.mask_json(TYPICAL_LINE)
        runs.append((time.perf_counter() - started) / 300 * 1e6)
    return statistics.median(runs)


@pytest.mark.parametrize("line_length", [10, 20, 40])
def test_a_64k_secret_of_short_pem_lines_costs_little_at_commit_and_per_line(
    line_length: int, sm: Any, boot: SecretsBootstrapper
) -> None:
    sm.create_secret(Name=NAME, SecretString=canary_secret_string())
    boot.load(production())
    typical = per_line_us(boot._masker)
    big = pem_like_secret(line_length)
    assert len(big.encode()) > 60000 and big.count("\\n") > 1000
    sm.put_secret_value(SecretId=NAME, SecretString=big)
    prepared = boot.refresh(production())
    assert prepared is not None
    started = time.perf_counter()
    boot.commit(prepared)
    commit_s = time.perf_counter() - started
    # The commit runs on the event loop: building the mask there took ~0.8 s (issue 19).
    assert commit_s < 0.2, commit_s
    heavy = per_line_us(boot._masker)
    # The bench judges 2x against the old typical line; here a loose bound that the old
    # alternation (hundreds of times slower) cannot meet on a busy machine.
    assert heavy < 4 * typical + 2, (heavy, typical)
    # Still a mask: the whole key and its long lines are hidden.
    key = json.loads(big)["GOOGLE_APPLICATION_CREDENTIALS_JSON"]["private_key"]
    assert boot._masker.mask(f"x {key} y") == f"x {MASK} y"
    # The previous version's key stays masked.
    assert leaked(boot._masker.mask(CANARY_PRIVATE_KEY)) == []
