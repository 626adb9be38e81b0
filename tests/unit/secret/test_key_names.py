"""Key names are matched whole (issue 20, item 5): `$` also matches before a final newline, so
"HTTPS_PROXY\\n" passed the key-name rule and escaped the forbidden-key refusal in the service,
the rotation Lambda and the CLI's push. In-process moto."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from src.aws.client import SecretsClient
from src.cli import main as cli
from src.config import Settings
from src.errors import SecretsError
from src.loading.environment import EnvironmentApplier
from src.rotation import lambda_function as rotation
from src.secret.payload import KEY_PATTERN, allowed_keys, parse_secret, validate_strict
from src.secrets_manager import SecretsBootstrapper
from src.telemetry.mask import SecretMasker
from tests.support.canary import canary_secret_string
from tests.unit.rotation.test_lambda_function import start_rotation

# Each with a trailing line end: "\n" is what `$` forgave; the others must fail as well.
SNEAKY = ["HTTPS_PROXY\n", "LD_PRELOAD\n", "OPENAI_API_KEY\n", "FEATURE_FLAG\n", "FLAG\r\n", "FLAG\r"]


@pytest.mark.parametrize("key", SNEAKY)
def test_the_rule_matches_key_names_whole(key: str) -> None:
    assert KEY_PATTERN.match(key) is None and KEY_PATTERN.search(key) is None
    with pytest.raises(SecretsError) as caught:
        parse_secret(json.dumps({key: "http://attacker.example:3128"}), secret_name="s")
    assert caught.value.code == "InvalidSecretJSON" and key not in caught.value.message


def test_the_service_refuses_a_key_with_a_trailing_newline(sm: Any, tmp_path: Path) -> None:
    name = "short-cut/prod/app"
    sm.create_secret(Name=name, SecretString=canary_secret_string(**{"HTTPS_PROXY\n": "http://evil:3128"}))
    boot = SecretsBootstrapper(applier=EnvironmentApplier(temp_root=str(tmp_path)), log_masker=SecretMasker())
    with pytest.raises(SecretsError) as caught:
        boot.load(Settings(app_env="production", aws_region="us-east-1", secret_name=name))
    assert caught.value.code == "InvalidSecretJSON"
    assert not boot.status.loaded and boot.status.error is caught.value


def test_secrets_extra_keys_cannot_name_a_key_with_a_line_end() -> None:
    with pytest.raises(SecretsError):
        allowed_keys("FEATURE_FLAG,HTTPS_PROXY\r")


def test_the_rotation_lambda_refuses_a_current_version_with_such_a_key(sm: Any) -> None:
    arn, token, _ = start_rotation(sm, canary_secret_string(**{"HTTPS_PROXY\n": "http://evil:3128"}))
    event = {"Step": "createSecret", "SecretId": arn, "ClientRequestToken": token}
    with pytest.raises(SecretsError) as caught:
        rotation.lambda_handler(event, None, client=SecretsClient("us-east-1"))
    assert caught.value.code == "InvalidSecretJSON"
    with pytest.raises(SecretsError):
        validate_strict(canary_secret_string(**{"LD_PRELOAD\n": "/x.so"}))


def test_push_refuses_a_key_with_a_trailing_newline(
    sm: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"short-cut/staging/app-{uuid.uuid4().hex[:6]}"
    values = tmp_path / "values.json"
    values.write_text(canary_secret_string(**{"HTTPS_PROXY\n": "http://evil:3128"}))
    # --allow-extra: the key is not one the service uses, which is refused on its own otherwise.
    code = cli(["push", "--env", "staging", "--name", name, "--file", str(values), "--allow-extra"])
    assert code != 0
    assert "InvalidSecretJSON" in capsys.readouterr().err
    assert sm.list_secrets()["SecretList"] == []


def test_render_refuses_a_region_with_a_trailing_newline() -> None:
    from src.cli.render import values_for

    good = {"account_id": "123456789012", "env": "staging", "image": "123456789012.dkr.ecr.eu-west-3.amazonaws.com/a:1"}
    assert values_for(region="eu-west-3", **good)["<REGION>"] == "eu-west-3"
    with pytest.raises(SecretsError):
        values_for(region="eu-west-3\n", **good)
