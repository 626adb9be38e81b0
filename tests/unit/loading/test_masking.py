"""The mask fails closed (src/loading/masking.py, src/telemetry/mask.py): every form of the loaded
version's credentials fits, or the version is refused whole (MaskBudgetExceeded) in prepare and the
last good one keeps serving; only the previous version's forms may be dropped. Issue 27's secret
(tests/support/big_mask.py) is the case."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from src.config import Settings, get_config
from src.errors import ErrorCode, SecretsError
from src.loading.environment import EnvironmentApplier
from src.loading.masking import log_mask
from src.secret.payload import parse_secret
from src.secret.values import credentials
from src.secrets_manager import SecretsBootstrapper
from src.telemetry import mask as mask_module
from src.telemetry.mask import MASK, MAX_MASK_CHARS, SecretMasker, forms
from src.web.health import overall
from tests.support.big_mask import BIG_APP_SECRET_KEY, big_secret_string
from tests.support.canary import CANARY_PRIVATE_KEY, CANARY_VALUES, canary_payload, canary_secret_string

NAME = "short-cut/prod/app"


def test_the_issues_secret_is_valid_and_its_credentials_need_more_than_the_budget() -> None:
    parsed = parse_secret(big_secret_string(), secret_name=NAME)
    assert parsed.values["APP_SECRET_KEY"] == BIG_APP_SECRET_KEY
    # The key alone just fits (523,972 characters in its four forms); with the private key and the
    # API keys the version's forms do not: before the fix the private key's forms were what was dropped.
    assert sum(map(len, forms(BIG_APP_SECRET_KEY))) <= MAX_MASK_CHARS
    found = credentials(parsed.values)
    every = {form for value in (*found.values, *found.pem_lines) for form in forms(value)}
    assert sum(map(len, every)) > MAX_MASK_CHARS


def test_the_issues_secret_is_refused_naming_the_key_never_the_value() -> None:
    values = parse_secret(big_secret_string()).values
    with pytest.raises(SecretsError) as caught:
        log_mask([values], secret_name=NAME)
    error = caught.value
    assert error.code == ErrorCode.MaskBudgetExceeded and error.secret_name == NAME
    assert "APP_SECRET_KEY" in error.message and "OPENAI_API_KEY" not in error.message
    assert BIG_APP_SECRET_KEY[:20] not in json.dumps(error.to_dict()) + repr(error)
    assert error.hint == ErrorCode.MaskBudgetExceeded.hint and "refused" in error.hint


def test_every_form_of_the_loaded_version_goes_in_before_the_previous_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Priority: the loaded version's plain forms, its PEM lines, its escaped forms (JSON first); then the
    previous version's. Under a tight budget the previous version's forms are what is dropped."""
    current = {
        "APP_SECRET_KEY": 'now"quoted-0123',
        "GOOGLE_APPLICATION_CREDENTIALS_JSON": json.dumps(
            {"type": "service_account", "project_id": "p", "client_email": "e", "private_key": CANARY_PRIVATE_KEY}
        ),
    }
    previous = {"APP_SECRET_KEY": 'old"quoted-4567', "OPENAI_API_KEY": "sk-old-key-98765"}
    needed = log_mask([current]).count  # every form of the loaded version
    monkeypatch.setattr(mask_module, "MAX_FORMS", needed + 2)
    mask = log_mask([current], [previous])
    masker = SecretMasker()
    masker.install(mask)
    for form in forms('now"quoted-0123'):
        assert masker.mask(f"a {form} b") == f"a {MASK} b"
    pem_line = CANARY_PRIVATE_KEY.splitlines()[1]
    assert masker.mask(f"a {pem_line} b") == f"a {MASK} b"
    assert json.dumps(CANARY_PRIVATE_KEY)[1:-1] not in masker.mask(json.dumps({"m": CANARY_PRIVATE_KEY}))
    assert masker.mask("a sk-old-key-98765 b") == f"a {MASK} b"  # the previous plain forms come next
    assert 'old\\"quoted-4567' in masker.mask(json.dumps({"m": 'old"quoted-4567'}))  # its escaped ones did not fit
    assert mask.dropped > 0 and mask.unfit == ()


def test_a_previous_version_that_no_longer_fits_is_dropped_not_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mask_module, "MAX_MASK_CHARS", 4000)
    mask = log_mask([{"APP_SECRET_KEY": "small-key-0123"}], [{"APP_SECRET_KEY": "x" * 3990}])
    assert mask.unfit == () and mask.dropped == 1


def test_a_pem_line_that_does_not_fit_refuses_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """Five credentials (two API keys, APP_SECRET_KEY, the private key and its id) and two PEM lines:
    with room for six forms, the plain credentials fit and the second PEM line does not."""
    values = parse_secret(canary_secret_string()).values
    monkeypatch.setattr(mask_module, "MAX_FORMS", 6)
    with pytest.raises(SecretsError) as caught:
        log_mask([values])
    assert caught.value.code == ErrorCode.MaskBudgetExceeded
    assert caught.value.message.startswith("the log mask cannot hold every form of GOOGLE_APPLICATION_CREDENTIALS_JSON")
    assert "PEM lines" in caught.value.message
    monkeypatch.setattr(mask_module, "MAX_FORMS", 8)  # the lines fit; the private key's escaped forms do not
    with pytest.raises(SecretsError) as caught:
        log_mask([values])
    assert "every form of GOOGLE_APPLICATION_CREDENTIALS_JSON.private_key: it holds at most 8 forms" in (
        caught.value.message
    )
    monkeypatch.setattr(mask_module, "MAX_FORMS", 9)  # every form: served
    assert log_mask([values]).unfit == ()


# -- the service: refused in prepare, the last good version kept ------------------------------------


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


@pytest.fixture
def boot(tmp_path: Path) -> Iterator[SecretsBootstrapper]:
    bootstrapper = SecretsBootstrapper(applier=EnvironmentApplier(temp_root=str(tmp_path)), log_masker=SecretMasker())
    yield bootstrapper
    bootstrapper.applier.cleanup()


def production() -> Settings:
    return Settings(app_env="production", aws_region="us-east-1", secret_name=NAME)


def test_a_refresh_to_the_issues_secret_keeps_the_last_good_version(aws: Any, boot: SecretsBootstrapper) -> None:
    first = aws.create_secret(Name=NAME, SecretString=canary_secret_string())["VersionId"]
    boot.load(production())
    mask_before = boot._masker.current
    aws.put_secret_value(SecretId=NAME, SecretString=big_secret_string())
    with pytest.raises(SecretsError) as caught:
        boot.refresh(production())
    assert caught.value.code == ErrorCode.MaskBudgetExceeded
    status = boot.status
    assert status.version_ids == {NAME: first} and overall(status) == "degraded"
    assert status.full()["error"]["code"] == "MaskBudgetExceeded"
    assert status.minimal()["error"] == {"code": "MaskBudgetExceeded"}
    assert os.environ["APP_SECRET_KEY"] == CANARY_VALUES["APP_SECRET_KEY"]
    key = get_config().app_secret_key
    assert key is not None and key.get_secret_value() == CANARY_VALUES["APP_SECRET_KEY"]
    assert boot._masker.current is mask_before  # nothing of the refused version installed


def test_a_first_load_of_the_issues_secret_is_refused(aws: Any, boot: SecretsBootstrapper, tmp_path: Path) -> None:
    aws.create_secret(Name=NAME, SecretString=big_secret_string())
    before = dict(os.environ)
    with pytest.raises(SecretsError) as caught:
        boot.load(production())
    assert caught.value.code == ErrorCode.MaskBudgetExceeded
    assert not boot.status.loaded and overall(boot.status) == "unavailable"
    assert dict(os.environ) == before and list(tmp_path.iterdir()) == []
    assert canary_payload()  # the fixture's values are untouched
