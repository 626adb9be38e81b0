"""Which secret a command works on, and the mask that keeps what it reads out of tracebacks."""

from __future__ import annotations

import argparse
import uuid

import pytest

from src.cli.target import add_target_options, remember, target
from src.telemetry.mask import masker
from tests.support.canary import canary_secret_string


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_target_options(parser)
    return parser.parse_args(list(argv))


def test_the_default_secret_is_the_environments_app_secret() -> None:
    assert target(parse()) == "short-cut/prod/app"
    assert target(parse("--env", "staging")) == "short-cut/staging/app"
    assert target(parse("--env", "staging", "--name", "other/secret")) == "other/secret"


@pytest.mark.parametrize(("given", "short"), [("production", "prod"), ("prod", "prod"), ("Staging", "staging")])
def test_env_takes_app_env_names_and_short_names(given: str, short: str) -> None:
    # APP_ENV says production, the secret names say prod: both mean the same secret.
    assert parse("--env", given).env == short
    assert target(parse("--env", given)) == f"short-cut/{short}/app"


def test_an_unknown_env_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        parse("--env", "qa")


def test_remember_registers_every_value_with_the_mask() -> None:
    # Values no other test has registered: the mask is process-wide.
    fresh = {key: f"CANARY-{uuid.uuid4().hex}" for key in ("OPENAI_API_KEY", "APP_SECRET_KEY", "PINECONE_API_KEY")}
    assert all(value in masker.mask(value) for value in fresh.values())
    remember(canary_secret_string(**fresh))
    for value in fresh.values():
        assert masker.mask(f"quoted {value} here") == "quoted *** here"


def test_remember_ignores_what_is_not_a_secret() -> None:
    # An unreadable payload is refused later with its own error; remembering it must not raise.
    remember("not json")
    remember(None)
