"""SecretStatus: its two views, and what the minimal one never shows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from src.errors import ErrorCode, SecretsError
from src.secret.status import SecretStatus


def status() -> SecretStatus:
    now = datetime.now(UTC)
    return SecretStatus(
        loaded=True,
        source="aws-secrets-manager",
        secret_names=("short-cut/prod/app",),
        version_ids={"short-cut/prod/app": "v-1"},
        keys=("APP_SECRET_KEY",),
        ignored=("SENTRY_DSN",),
        verified_at=now - timedelta(seconds=42),
        error=SecretsError(ErrorCode.AccessDeniedException, "User: arn:aws:sts::123456789012:assumed-role/r/s"),
    )


def test_full_view_names_everything_an_operator_needs() -> None:
    full = status().full()
    assert full["version_ids"] == {"short-cut/prod/app": "v-1"} and full["ignored"] == ["SENTRY_DSN"]
    assert full["error"]["message"].startswith("User: arn:aws:sts::123456789012") and full["error"]["hint"]
    assert 41 <= full["age_seconds"] <= 43


def test_minimal_view_holds_no_name_version_key_or_message() -> None:
    minimal = status().minimal()
    assert minimal == {
        "loaded": True,
        "age_seconds": minimal["age_seconds"],
        "error": {"code": "AccessDeniedException"},
    }
    text = json.dumps(minimal)
    for needle in ("short-cut/prod/app", "v-1", "APP_SECRET_KEY", "SENTRY_DSN", "123456789012", "arn:"):
        assert needle not in text


def test_age_is_none_before_any_load_and_never_negative() -> None:
    assert SecretStatus().age_seconds() is None and SecretStatus().minimal()["age_seconds"] is None
    future = SecretStatus(verified_at=datetime.now(UTC) + timedelta(seconds=5))
    assert future.age_seconds() == 0.0


def test_example_credentials_are_the_problem_when_nothing_failed() -> None:
    """A staging/production load holding the repository's example values (issue 21, item 4)."""
    examples = ("APP_SECRET_KEY", "GOOGLE_APPLICATION_CREDENTIALS_JSON.private_key")
    quiet = SecretStatus(loaded=True, verified_at=datetime.now(UTC), example_keys=examples)
    assert quiet.error is None and quiet.problem is not None
    assert quiet.problem.code == ErrorCode.ExampleCredentials
    full, minimal = quiet.full(), quiet.minimal()
    assert full["error"]["code"] == "ExampleCredentials" and "APP_SECRET_KEY" in full["error"]["message"]
    assert full["error"]["hint"] == ErrorCode.ExampleCredentials.hint
    assert minimal["error"] == {"code": "Degraded"} and "ExampleCredentials" not in json.dumps(minimal)
    # A failed attempt is shown first; example credentials again once it clears.
    failing = SecretStatus(loaded=True, example_keys=examples, error=status().error)
    assert failing.problem is failing.error
    assert SecretStatus(loaded=True).problem is None and SecretStatus(loaded=True).full()["error"] is None
