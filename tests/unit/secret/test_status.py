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


def test_local_mode_with_required_keys_missing_is_degraded_and_names_them() -> None:
    """Issue 27: local mode with four of seven keys missing said `ok`. Now: degraded, the code, the names."""
    missing = ("OPENAI_API_KEY", "PINECONE_API_KEY", "GOOGLE_APPLICATION_CREDENTIALS_JSON", "APP_SECRET_KEY")
    local = SecretStatus(loaded=True, source="environment", keys=("GCP_PROJECT_ID",), missing=missing)
    problem = local.problem
    assert problem is not None and problem.code == ErrorCode.MissingRequiredKeys
    full = local.full()
    assert full["missing"] == list(missing) and full["error"]["code"] == "MissingRequiredKeys"
    assert all(key in full["error"]["message"] for key in missing)
    assert ".env" in full["error"]["hint"] and "<" not in full["error"]["hint"]
    # The minimal view (a stranger's) names nothing new: the generic code, as for example credentials.
    assert local.minimal()["error"] == {"code": "Degraded"}
    assert "OPENAI_API_KEY" not in json.dumps(local.minimal())
    # The AWS source in a non-strict environment (test): the hint is about the secret, not .env.
    from_aws = SecretStatus(loaded=True, source="aws-secrets-manager", missing=("MILVUS_HOST",)).problem
    assert from_aws is not None and "secret" in from_aws.hint and ".env" not in from_aws.hint
    # A failure still comes first; nothing missing is no problem.
    failed = SecretStatus(loaded=True, missing=missing, error=SecretsError(ErrorCode.Timeout, "slow")).problem
    assert failed is not None and failed.code == "Timeout"
    assert SecretStatus(loaded=True).problem is None


def test_a_status_not_yet_loaded_names_what_it_tries() -> None:
    trying = SecretStatus().attempting(("short-cut/prod/app",), "eu-west-1")
    full = trying.full()
    assert (full["source"], full["secret_names"], full["region"]) == (
        "aws-secrets-manager",
        ["short-cut/prod/app"],
        "eu-west-1",
    )
    assert SecretStatus().attempting((), None).full()["source"] == "environment"
    loaded = SecretStatus(loaded=True, secret_names=("a",), primary_region="us-east-1")
    assert loaded.attempting(("b",), "eu-west-1") is loaded  # what is served is not rewritten
    assert "region" not in trying.minimal() and "eu-west-1" not in json.dumps(trying.minimal())
