"""A write to production asks first: on a terminal it waits for yes; without one it needs --yes.
The real terminal (a pty) and no terminal at all are in tests/e2e/test_cli.py."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import pytest

from src.cli import confirm
from src.errors import SecretsError
from tests.unit.cli.helpers import args


def terminal(answer: str | None) -> Any:
    @contextlib.contextmanager
    def fake(_stdin_is_data: bool) -> Iterator[tuple[io.StringIO, io.StringIO] | None]:
        yield None if answer is None else (io.StringIO(answer), io.StringIO())

    return fake


@pytest.mark.parametrize("answer", ["yes\n", "y\n", "YES\n"])
def test_a_terminal_answer_of_yes_goes_ahead(monkeypatch: pytest.MonkeyPatch, answer: str) -> None:
    monkeypatch.setattr(confirm, "_terminal", terminal(answer))
    confirm.confirm_write(args(yes=False, name=None, env="prod"), "short-cut/prod/app", "push")


@pytest.mark.parametrize("answer", ["\n", "no\n", "", "yess\n"])
def test_anything_else_writes_nothing(monkeypatch: pytest.MonkeyPatch, answer: str) -> None:
    monkeypatch.setattr(confirm, "_terminal", terminal(answer))
    with pytest.raises(SecretsError) as caught:
        confirm.confirm_write(args(yes=False, name=None, env="prod"), "short-cut/prod/app", "push")
    assert caught.value.code == "ConfirmationRequired" and "nothing was written" in caught.value.message


def test_without_a_terminal_production_needs_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confirm, "_terminal", terminal(None))
    with pytest.raises(SecretsError) as caught:
        confirm.confirm_write(args(yes=False, name=None, env="prod"), "short-cut/prod/app", "rollback")
    assert caught.value.code == "ConfirmationRequired" and "--yes" in caught.value.message
    confirm.confirm_write(args(yes=True, name=None, env="prod"), "short-cut/prod/app", "rollback")


@pytest.mark.parametrize(
    ("env", "name", "production"),
    [
        ("prod", None, True),
        ("staging", None, False),
        ("prod", "short-cut/test/app-x", False),  # an explicit name decides
        ("staging", "short-cut/prod/app", True),
        ("prod", "team/prod/other", True),
        # Review: only a literal `prod` segment asked; APP_ENV's `production` spelling wrote silently.
        ("staging", "short-cut/production/app", True),
        ("staging", "team/Production/db", True),
        ("staging", "production/app", True),
        ("prod", "short-cut/productions/app", False),  # a segment, not a substring
        ("prod", "short-cut/staging/production-notes", False),
        # Issue 29, item 5: an ARN is judged on the name inside it (prefix and -XXXXXX suffix off).
        ("staging", "arn:aws:secretsmanager:us-east-1:123456789012:secret:team/prod-AbCdEf", True),
        ("staging", "arn:aws:secretsmanager:us-east-1:123456789012:secret:short-cut/prod/app-AbC123", True),
        ("staging", "arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:team/Production-x1Y2z3", True),
        ("staging", "arn:aws:secretsmanager:us-east-1:123456789012:secret:team/prod", True),  # partial ARN
        ("prod", "arn:aws:secretsmanager:us-east-1:123456789012:secret:team/staging-AbCdEf", False),
        ("prod", "arn:aws:secretsmanager:us-east-1:123456789012:secret:team/production-notes-AbCdEf", False),
    ],
)
def test_which_writes_are_production(env: str, name: str | None, production: bool) -> None:
    given = args(env=env, name=name)
    assert confirm.is_production(given, name or f"short-cut/{env}/app") is production


def test_a_production_segment_without_a_terminal_needs_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confirm, "_terminal", terminal(None))
    name = "short-cut/production/app"
    with pytest.raises(SecretsError) as caught:
        confirm.confirm_write(args(yes=False, env="staging", name=[name]), name, "push")
    assert caught.value.code == "ConfirmationRequired" and "--yes" in caught.value.message
