"""The log mask's rules, one by one: what wins between a credential and a protected string, which
JSON keys are field names, which forms fit first under the bounds, the previous APP_SECRET_KEY kept
masked while the config still accepts it, and the CLI's mask following the service's rule."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from src.cli import target as cli_target
from src.config import Settings, get_config
from src.loading.environment import EnvironmentApplier
from src.loading.masking import log_mask
from src.secrets_manager import SecretsBootstrapper
from src.telemetry import logs
from src.telemetry import mask as mask_module
from src.telemetry.mask import MASK, Mask, SecretMasker, build_mask, forms
from tests.support.canary import CANARY_PRIVATE_KEY, SERVICE_ACCOUNT, canary_secret_string

NAME = "svc/prod/app"
VERSION = "5e7d9c1b-aaaa-4bbb-8ccc-0123456789ab"


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> SecretMasker:
    mask = SecretMasker()
    monkeypatch.setattr(mask_module, "masker", mask)
    monkeypatch.setattr(cli_target, "masker", mask)
    return mask


def installed(mask: Mask) -> SecretMasker:
    masker = SecretMasker()
    masker.install(mask)
    return masker


def test_a_credential_containing_a_protected_string_is_masked_whole() -> None:
    key = f"tok-{NAME}-Vb71Qz"  # the API key contains the secret's name
    secret = f"Q{VERSION}W"  # APP_SECRET_KEY contains a version id
    m = installed(log_mask([{"OPENAI_API_KEY": key, "APP_SECRET_KEY": secret}], protected=(NAME, VERSION)))
    for line in (f"leak {key} end", f"leak {secret} end"):
        assert m.mask(line) == f"leak {MASK} end"
        assert json.loads(m.mask_json(json.dumps({"message": line}))) == {"message": f"leak {MASK} end"}
    # A credential lying inside a protected occurrence is not masked there (the name stays readable).
    inner = installed(log_mask([{"APP_SECRET_KEY": "prod"}], protected=(NAME,)))
    assert inner.mask(f"secret {NAME} prod") == f"secret {NAME} {MASK}"


def test_nested_json_keys_are_masked_but_field_names_never() -> None:
    key = "pcsk_Nested7Key-0w9q"
    m = installed(log_mask([{"PINECONE_API_KEY": key}]))
    line = json.dumps({"message": "x", "data": {key: 1, "list": [{key: [key]}]}, "level": "INFO"})
    out = m.mask_json(line)
    assert key not in out
    assert json.loads(out) == {"message": "x", "data": {MASK: 1, "list": [{MASK: [MASK]}]}, "level": "INFO"}
    # A top-level key equal to a credential is the record's own field name: left as it is.
    top = json.dumps({key: "v", "message": f"m {key}"})
    assert json.loads(m.mask_json(top)) == {key: "v", "message": f"m {MASK}"}


def test_identity_fields_keep_their_values_and_credentials_are_masked_everywhere() -> None:
    """An event's version id (not a protected string: never loaded) is left alone, since only
    credentials are masked; a credential is masked even in an identity field."""
    event_version = "0f0f0f0f-7777-4aaa-9bbb-cccccccccccc"
    m = installed(log_mask([{"APP_SECRET_KEY": "CANARY-id-0q9w8e", "EXTRA": "0f0f0f0f-7777"}]))  # EXTRA: ignored
    record = {
        "message": f"secret event -> {event_version}",
        "version_id": event_version,
        "version_ids": {NAME: event_version},
        "secret_name": "CANARY-id-0q9w8e",
    }
    out = json.loads(m.mask_json(json.dumps(record)))
    assert out == {**record, "secret_name": MASK}


def test_ignored_keys_are_not_masked_unless_listed() -> None:
    values = {"APP_SECRET_KEY": "CANARY-app-9d8e7f", "REGION_NOTE": "us-east-1", "EXTRA_TOKEN": "tk-9q8w7e6r5t"}
    plain = installed(log_mask([values]))
    assert plain.mask("region us-east-1 tk-9q8w7e6r5t") == "region us-east-1 tk-9q8w7e6r5t"
    listed = installed(log_mask([values], extra=frozenset({"EXTRA_TOKEN"})))
    assert listed.mask("region us-east-1 tk-9q8w7e6r5t") == f"region us-east-1 {MASK}"


def test_over_budget_the_plain_form_of_every_credential_goes_in_first(monkeypatch: pytest.MonkeyPatch) -> None:
    quoted = ['k"' + str(n) * 8 for n in range(6)]  # each has an escaped form besides its plain one
    monkeypatch.setattr(mask_module, "MAX_FORMS", len(quoted) + 2)
    mask = build_mask([(quoted, 4)], lines=[(["PEMLINEpemline0123456789"], 16)])
    m = installed(mask)
    for value in quoted:
        assert m.mask(f"x {value} y") == f"x {MASK} y"  # every plain form fits
    assert mask.count == len(quoted) + 2 and mask.dropped > 0
    assert sum(len(forms(v)) for v in quoted) > mask.count  # some escaped forms, and the PEM line, did not


def test_the_carried_previous_app_secret_key_stays_masked(
    sm: Any, tmp_path: Path, fresh: SecretMasker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A then B (A carried as previous), then B with another key changed: the config still accepts A,
    so the mask still hides it."""
    monkeypatch.delenv("APP_SECRET_KEY", raising=False)
    settings = Settings(app_env="production", aws_region="us-east-1", secret_name=NAME, secrets_previous_key_grace=600)
    first, second = "CANARY-key-A-4m5n6b7v8c", "CANARY-key-B-1q2w3e4r5t"
    sm.create_secret(Name=NAME, SecretString=canary_secret_string(APP_SECRET_KEY=first))
    boot = SecretsBootstrapper(applier=EnvironmentApplier(temp_root=str(tmp_path)), log_masker=fresh)
    try:
        boot.load(settings)
        for changes in ({"APP_SECRET_KEY": second}, {"APP_SECRET_KEY": second, "OPENAI_API_KEY": "sk-other-0p9o8i7u"}):
            sm.put_secret_value(SecretId=NAME, SecretString=canary_secret_string(**changes))
            prepared = boot.refresh(settings)
            assert prepared is not None
            boot.commit(prepared)
            previous = get_config().app_secret_key_previous
            assert previous is not None and previous.get_secret_value() == first
            assert fresh.mask(f"sig {first}") == f"sig {MASK}"
    finally:
        boot.applier.cleanup()


def test_the_cli_masks_with_the_services_rule_and_protects_its_target(fresh: SecretMasker) -> None:
    name = "orion-billing/prod/app"
    raw = canary_secret_string(GCP_PROJECT_ID="billing", STRIPE_NOTE="stripe-0a9s8d7f")
    assert cli_target.target(argparse.Namespace(name=name, env="prod")) == name
    cli_target.remember(raw)
    assert fresh.mask(CANARY_PRIVATE_KEY).count(MASK) >= 1 and "CANARYpkLINE" not in fresh.mask(CANARY_PRIVATE_KEY)
    for line in CANARY_PRIVATE_KEY.splitlines()[1:3]:
        assert fresh.mask(f"> {line}") == f"> {MASK}"
    assert fresh.mask(SERVICE_ACCOUNT["private_key_id"]) == MASK
    assert fresh.mask(f"secret {name} version 1") == f"secret {name} version 1"
    assert fresh.mask("project billing") == "project billing"  # an identifier
    assert fresh.mask("note stripe-0a9s8d7f") == f"note {MASK}"  # the CLI cannot know SECRETS_EXTRA_KEYS
    fresh.register(["typed-in-value-123"])  # the other commands' own registrations add to it
    assert fresh.mask("typed-in-value-123 stripe-0a9s8d7f") == f"{MASK} {MASK}"


def test_the_service_and_the_lambda_quiet_the_same_loggers() -> None:
    """Two lists, because the Lambda's zip must not import src.telemetry (logs, mask): kept equal here."""
    from src.rotation import lambda_function

    assert set(lambda_function.QUIET_LOGGERS) == set(logs.QUIET_LOGGERS)
    source = Path(lambda_function.__file__).read_text()
    assert "src.telemetry" not in source and "from src import logs" not in source


def logged(fresh: SecretMasker, mask: Mask, capsys: pytest.CaptureFixture[str], json_lines: bool, *args: Any) -> str:
    """What one log record prints through the service's formatter, in the given format."""
    fresh.install(mask)
    logs.configure_logging(json_lines=json_lines, level="INFO")
    capsys.readouterr()
    logging.getLogger("short_cut.test").warning(*args)
    out = capsys.readouterr().out
    if json_lines:
        json.loads(out)
    return out


@pytest.mark.parametrize("json_lines", [True, False], ids=["json", "text"])
def test_a_credential_equal_to_a_protected_string_is_masked(
    fresh: SecretMasker, capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    # Issue 29, item 9: a hit lying "entirely inside" a protected occurrence was dropped, and a
    # credential exactly equal to one lies inside it. Credentials win; only strictly inside is spared.
    secret = "team/prod/app-Quux"
    mask = log_mask([{"APP_SECRET_KEY": secret}], protected=(secret, NAME))
    assert installed(mask).mask(f"key {secret}.") == f"key {MASK}."
    out = logged(fresh, mask, capsys, json_lines, "key %s", secret)
    assert secret not in out and MASK in out
    assert NAME in logged(fresh, mask, capsys, json_lines, "name %s", NAME)


@pytest.mark.parametrize("json_lines", [True, False], ids=["json", "text"])
def test_repr_quote_escapes_do_not_escape_the_mask(
    fresh: SecretMasker, capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    # repr() of a text holding both quote kinds writes ' as \' : "it's" inside became "it\'s".
    secret = "pcsk_it's-Quoted7Key-0w9q"
    assert "it\\'s" in repr('say "x" ' + secret)
    assert "pcsk_it\\'s-Quoted7Key-0w9q" in forms(secret)
    mask = log_mask([{"PINECONE_API_KEY": secret}], protected=(NAME,))
    for args in (("%r", 'say "x" ' + secret), ("%r", ['say "x"', secret + '"']), ("%s", repr({'"': secret}))):
        out = logged(fresh, mask, capsys, json_lines, *args)
        assert "Quoted7Key" not in out, out
        assert MASK in out
