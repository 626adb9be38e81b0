"""Rotation Lambda `shortcut-secret-rotation`: Secrets Manager's four-step protocol.

Each step is its own function and safe to run twice. createSecret copies the
current JSON and gives APP_SECRET_KEY a fresh `secrets.token_urlsafe(64)`; the
provider keys (OpenAI, Pinecone, GCP) are re-issued at their providers and put
in with `python -m src.cli rotate`. testSecret checks the pending version with
the service's own rules. finishSecret moves AWSCURRENT. No value is ever logged, at any
log level: the runtime's application log level (AWS_LAMBDA_LOG_LEVEL, advanced logging
controls) sets the root logger, and at DEBUG botocore writes whole request and response
bodies, the secret among them. `QUIET_LOGGERS` get a level of their own (WARNING), at
import and again at every invocation, so no level set from outside reaches them.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from src.aws.client import CURRENT, PENDING, SecretsClient, version_with_stage
from src.errors import ErrorCode, SecretsError
from src.secret.payload import parse_secret, replace_key, require_string, validate_strict

log = logging.getLogger("short_cut.rotation")
log.setLevel(logging.INFO)

# The SDK's loggers: their DEBUG and INFO lines carry request and response bodies.
QUIET_LOGGERS = ("botocore", "boto3", "urllib3", "s3transfer")


def quiet_sdk_loggers() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


quiet_sdk_loggers()

ROTATED_KEY = "APP_SECRET_KEY"


def new_app_secret_key() -> str:
    return secrets.token_urlsafe(64)


def create_secret(client: SecretsClient, arn: str, token: str) -> None:
    current = client.get_secret(arn, version_stage=CURRENT)
    try:
        client.get_secret(arn, version_id=token, version_stage=PENDING)
        log.info("createSecret: version %s already has a value", token)
        return
    except SecretsError as exc:
        if exc.code != "ResourceNotFoundException":
            raise
    raw = require_string(current.secret_string, arn, binary=current.has_binary)
    pending = replace_key(raw, ROTATED_KEY, new_app_secret_key())
    validate_strict(pending, arn)
    client.put_value(arn, pending, token=token, stages=[PENDING])
    log.info("createSecret: put a new %s in version %s", ROTATED_KEY, token)


def set_secret(client: SecretsClient, arn: str, token: str) -> None:
    # APP_SECRET_KEY is the app's own key: there is no downstream system to update.
    log.info("setSecret: nothing to set for version %s", token)


def _require_same_other_keys(client: SecretsClient, arn: str, token: str, current_id: str | None) -> str:
    """The pending version must equal the version `current_id` (AWSCURRENT, or the one just
    described) in every key but APP_SECRET_KEY. Returns the id it compared against.

    createSecret copied AWSCURRENT; if an operator changed a provider key since (cli rotate,
    push, the console), promoting this copy would silently restore the old key, and the
    runbook would then have the operator revoke the key in use. Fail instead: Secrets
    Manager keeps AWSCURRENT.
    """
    pending = client.get_secret(arn, version_id=token, version_stage=PENDING)
    pending_raw = require_string(pending.secret_string, arn, binary=pending.has_binary)
    validate_strict(pending_raw, arn)
    if current_id is None:
        current = client.get_secret(arn, version_stage=CURRENT)
    else:
        current = client.get_secret(arn, version_id=current_id, version_stage=None)
    current_raw = require_string(current.secret_string, arn, binary=current.has_binary)
    new, old = parse_secret(pending_raw, secret_name=arn).values, parse_secret(current_raw, secret_name=arn).values
    changed = sorted(k for k in set(new) | set(old) if k != ROTATED_KEY and new.get(k) != old.get(k))
    if changed:
        raise SecretsError(
            ErrorCode.StaleRotation,
            f"version {token} differs from {CURRENT} ({current.version_id}) in {', '.join(changed)}",
            secret_name=arn,
        )
    return current.version_id


def test_secret(client: SecretsClient, arn: str, token: str) -> None:
    """Valid, and equal to AWSCURRENT in every key but APP_SECRET_KEY.

    Turning rotation on without rotating (RotateImmediately false) runs this step alone as a
    configuration test on an AWSPENDING version Secrets Manager creates and then removes (RotateSecret
    API). What it holds is undocumented: a copy of AWSCURRENT (moto, getmoto/moto#8547) passes the
    check below; a label with no value (as before createSecret) is judged on AWSCURRENT instead, so a
    healthy secret passes and placeholders fail either way. A real rotation never gets here without a
    pending value (createSecret wrote it), and finishSecret re-checks the pending version anyway.
    """
    try:
        client.get_secret(arn, version_id=token, version_stage=PENDING)
    except SecretsError as exc:
        if exc.code != "ResourceNotFoundException":
            raise
        current = client.get_secret(arn, version_stage=CURRENT)
        validate_strict(require_string(current.secret_string, arn, binary=current.has_binary), arn)
        log.info("testSecret: configuration test; version %s has no value, %s is valid", token, CURRENT)
        return
    _require_same_other_keys(client, arn, token, None)
    log.info("testSecret: version %s is valid and carries %s's other keys", token, CURRENT)


def finish_secret(client: SecretsClient, arn: str, token: str) -> None:
    """Move AWSCURRENT to the pending version, as a compare-and-set on the version checked.

    The check runs again here against the version AWSCURRENT is on now (a push between
    testSecret and finishSecret would otherwise be reverted), and RemoveFromVersionId names
    that same version: if AWSCURRENT moves in between, UpdateSecretVersionStage fails
    ("if the version ID does not match, then the operation fails", API reference), the step
    fails, and Secrets Manager retries the rotation, whose testSecret then refuses it.
    """
    current = version_with_stage(client.describe(arn), CURRENT)
    if current == token:
        log.info("finishSecret: version %s is already %s", token, CURRENT)
        return
    checked = _require_same_other_keys(client, arn, token, current)
    client.move_stage(arn, CURRENT, to_version=token, from_version=checked)
    log.info("finishSecret: moved %s from %s to %s", CURRENT, checked, token)


STEPS: dict[str, Callable[[SecretsClient, str, str], None]] = {
    "createSecret": create_secret,
    "setSecret": set_secret,
    "testSecret": test_secret,
    "finishSecret": finish_secret,
}


def handle(event: dict[str, Any], client: SecretsClient) -> None:
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    if step not in STEPS:
        raise SecretsError(
            ErrorCode.InvalidRotationStep, f"unknown step {step!r}", hint="Step is one of " + ", ".join(STEPS)
        )
    metadata = client.describe(arn)
    if not metadata.get("RotationEnabled"):
        raise SecretsError(ErrorCode.RotationNotEnabled, "rotation is not enabled for the secret", secret_name=arn)
    stages = metadata.get("VersionIdsToStages", {})
    if token not in stages:
        raise SecretsError(ErrorCode.UnknownVersion, f"version {token} is not a version of the secret", secret_name=arn)
    if CURRENT in stages[token]:
        log.info("version %s is already %s; nothing to do", token, CURRENT)
        return
    if PENDING not in stages[token]:
        raise SecretsError(ErrorCode.VersionNotPending, f"version {token} is not {PENDING}", secret_name=arn)
    STEPS[step](client, arn, token)


def lambda_handler(event: dict[str, Any], context: Any, client: SecretsClient | None = None) -> None:
    """Entry point; `client` is for tests, the Lambda runtime passes only event and context."""
    quiet_sdk_loggers()  # again: something may have lowered them since the import
    handle(event, client or SecretsClient())
