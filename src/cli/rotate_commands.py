"""`rotate` and `rollback`: the two commands that move AWSCURRENT.

Both move the label with a compare-and-set: UpdateSecretVersionStage with
RemoveFromVersionId set to the version the command read. Secrets Manager refuses
that move if AWSCURRENT is no longer there ("If the label is attached and you either
do not specify this parameter, or the version ID does not match, then the operation
fails", UpdateSecretVersionStage API reference), and the refusal becomes
CurrentVersionMoved. No command prints a value.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import secrets
import sys
import uuid

from src.aws import CURRENT, PENDING, PREVIOUS, SecretsClient, version_with_stage
from src.cli.output import Output
from src.cli.target import add_secret_command, remember, target
from src.errors import ErrorCode, SecretsError
from src.logs import masker
from src.payload import KNOWN_KEYS, replace_key, require_string, validate_strict

GENERATED_KEYS = {"APP_SECRET_KEY": lambda: secrets.token_urlsafe(64)}


def _read_new_value(key: str) -> str:
    if sys.stdin.isatty():
        # getpass does not echo, and the value never touches the shell history.
        return getpass.getpass(f"new value for {key}: ")
    return sys.stdin.read().rstrip("\r\n")


def new_value(key: str, *, from_stdin: bool) -> str:
    """The key's new value: read from stdin, or generated for a key the service issues itself."""
    if from_stdin:
        return _read_new_value(key)
    if key in GENERATED_KEYS:
        return GENERATED_KEYS[key]()
    raise SecretsError(
        ErrorCode.ValueRequired,
        f"{key} is issued by its provider and cannot be generated",
        hint=f"Re-issue it at the provider, then: python -m src.cli rotate --key {key} --value-stdin",
    )


def cmd_rotate(args: argparse.Namespace, client: SecretsClient, out: Output) -> int:
    """Write a new version with one key changed, promoted with a compare-and-set on AWSCURRENT.

    The new version is put with AWSPENDING only, then AWSCURRENT is moved to it from the
    version this command read. Two operators, or an operator and the rotation Lambda, can
    therefore never overwrite each other's change unseen.
    """
    name, key = target(args), args.key
    value = new_value(key, from_stdin=args.value_stdin)
    masker.register([value])
    if key not in KNOWN_KEYS and not args.allow_extra:
        raise SecretsError(
            ErrorCode.UnknownKeys,
            f"{key} is not a key the service uses",
            hint="Check the key name, or pass --allow-extra.",
        )
    meta = client.describe(name)
    current_id, pending_id = version_with_stage(meta, CURRENT), version_with_stage(meta, PENDING)
    if pending_id is not None and pending_id != current_id:
        raise SecretsError(
            ErrorCode.RotationInProgress, f"version {pending_id} of {name} holds {PENDING}", secret_name=name
        )
    current = client.get_secret(name, version_id=current_id, version_stage=CURRENT)
    raw = require_string(current.secret_string, name, binary=current.has_binary)
    remember(raw)
    updated = replace_key(raw, key, value)
    validate_strict(updated, name)
    version = client.put_value(name, updated, token=str(uuid.uuid4()), stages=[PENDING])
    try:
        _promote(client, name, to_version=version, from_version=current.version_id)
    finally:
        # Also on Ctrl-C or an expired session: a dangling AWSPENDING would block every later
        # rotate (RotationInProgress) and Secrets Manager's own scheduled rotation.
        _drop_pending(client, name, version)
    out.line(f"rotated {key} in {name}: AWSCURRENT {current.version_id} -> {version}")
    out.set(secret_name=name, key=key, previous_version_id=current.version_id, version_id=version)
    return 0


def _promote(client: SecretsClient, name: str, *, to_version: str, from_version: str | None) -> None:
    """Move AWSCURRENT from `from_version` to `to_version`, or say truly why it did not.

    botocore retries UpdateSecretVersionStage after a lost answer; if the first attempt was
    applied, the retry fails because AWSCURRENT is no longer on `from_version`. So on any
    failure, look again: AWSCURRENT on our version means it worked.
    """
    try:
        client.move_stage(name, CURRENT, to_version=to_version, from_version=from_version)
    except SecretsError as exc:
        with contextlib.suppress(SecretsError):
            if version_with_stage(client.describe(name), CURRENT) == to_version:
                return
        if exc.code == ErrorCode.InvalidParameterException:
            raise SecretsError(
                ErrorCode.CurrentVersionMoved,
                f"{CURRENT} of {name} is no longer {from_version}; version {to_version} was not promoted",
                secret_name=name,
            ) from None
        raise


def _drop_pending(client: SecretsClient, name: str, version: str) -> None:
    """Take AWSPENDING off our version, if it still holds it (best effort: a label, not a value)."""
    with contextlib.suppress(SecretsError):
        if version_with_stage(client.describe(name), PENDING) == version:
            client.remove_stage(name, PENDING, from_version=version)


def cmd_rollback(args: argparse.Namespace, client: SecretsClient, out: Output) -> int:
    name = target(args)
    meta = client.describe(name)
    current, previous = version_with_stage(meta, CURRENT), version_with_stage(meta, PREVIOUS)
    if previous is None:
        raise SecretsError(
            ErrorCode.NoPreviousVersion,
            f"{name} has no version labelled {PREVIOUS}",
            hint="Nothing to roll back to; use describe to see the versions.",
            secret_name=name,
        )
    _promote(client, name, to_version=previous, from_version=current)
    out.line(f"rolled back {name}: AWSCURRENT {current} -> {previous} (now AWSPREVIOUS: {current})")
    out.set(secret_name=name, from_version_id=current, to_version_id=previous)
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    rotate = add_secret_command(
        commands,
        common,
        "rotate",
        cmd_rotate,
        summary="write a new version with one key changed",
        description="APP_SECRET_KEY is generated (secrets.token_urlsafe(64)); provider keys are read with "
        "--value-stdin (no echo on a terminal). Every other key is kept.",
    )
    rotate.add_argument("--key", required=True, help="the key to change")
    rotate.add_argument("--value-stdin", action="store_true", help="read the new value from stdin")
    rotate.add_argument("--allow-extra", action="store_true", help="accept keys the service does not use")
    add_secret_command(
        commands,
        common,
        "rollback",
        cmd_rollback,
        summary="move AWSCURRENT back to the AWSPREVIOUS version",
        description="The guide's rollback: the version labelled AWSPREVIOUS becomes AWSCURRENT again.",
    )
