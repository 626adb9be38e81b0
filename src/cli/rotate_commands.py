"""`rotate` and `rollback`: the two commands that move AWSCURRENT.

Both move the label with a compare-and-set: UpdateSecretVersionStage with
RemoveFromVersionId set to the version the command read. Secrets Manager refuses
that move if AWSCURRENT is no longer there ("If the label is attached and you either
do not specify this parameter, or the version ID does not match, then the operation
fails", UpdateSecretVersionStage API reference), and the refusal becomes
CurrentVersionMoved. No command prints a value.

Both refuse while a version holds AWSPENDING (a rotation is under way), and on
production both ask first (src.cli.confirm). `rollback` marks the version it moved
away from with the label ROLLED_BACK, so a second `rollback` does not silently undo the
first: it refuses (RollbackWouldUndo) and says which --to-version does what.

(Just over 250 lines: both commands share the compare-and-set, the AWSPENDING refusal, the
strict check of the version they promote and the confirmation; one module keeps them together.)
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import secrets
import sys
import uuid

from src.aws.client import CURRENT, PENDING, PREVIOUS, SecretsClient, version_with_stage
from src.cli.confirm import add_yes_option, confirm_write
from src.cli.output import Output
from src.cli.payloads import check_promotable
from src.cli.target import add_secret_command, remember, target
from src.errors import ErrorCode, SecretsError
from src.secret.payload import KNOWN_KEYS, replace_key, require_string, validate_strict
from src.telemetry.mask import masker

GENERATED_KEYS = {"APP_SECRET_KEY": lambda: secrets.token_urlsafe(64)}
# A staging label of our own (Secrets Manager allows custom labels besides AWSCURRENT,
# AWSPREVIOUS and AWSPENDING; UpdateSecretVersionStage API reference) on the version the last
# rollback moved away from. Rotation ignores it.
ROLLED_BACK = "ShortCutRolledBackFrom"
CLI = "short-cut"


def _env_flag(args: argparse.Namespace) -> str:
    return f"--name {args.name}" if getattr(args, "name", None) else f"--env {args.env}"


def _pending_error(name: str, pending_id: str) -> SecretsError:
    return SecretsError(
        ErrorCode.RotationInProgress,
        f"version {pending_id} of {name} holds {PENDING}",
        hint=(
            f"A rotation is under way (the rotation Lambda or another operator): wait for it, and see it with "
            f"{CLI} describe --name {name}. If that rotation failed, take the label off: aws secretsmanager "
            f"update-secret-version-stage --secret-id {name} --version-stage {PENDING} "
            f"--remove-from-version-id {pending_id}"
        ),
        secret_name=name,
    )


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
        hint=f"Re-issue it at the provider, then: {CLI} rotate --key {key} --value-stdin",
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
        raise _pending_error(name, pending_id)
    current = client.get_secret(name, version_id=current_id, version_stage=CURRENT)
    raw = require_string(current.secret_string, name, binary=current.has_binary)
    remember(raw)
    updated = replace_key(raw, key, value)
    validate_strict(updated, name)
    confirm_write(
        args, name, f"rotate {key} of {name}: a new version becomes AWSCURRENT", stdin_is_data=args.value_stdin
    )
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
    """Move AWSCURRENT to AWSPREVIOUS, or to --to-version; never a silent undo of a rollback."""
    name = target(args)
    # Every version, unlabelled ones too: DescribeSecret omits those, so --to-version could not reach them.
    versions = client.list_versions(name)
    meta = {"VersionIdsToStages": versions}
    current, previous = version_with_stage(meta, CURRENT), version_with_stage(meta, PREVIOUS)
    pending = version_with_stage(meta, PENDING)
    if pending is not None and pending != current:
        raise _pending_error(name, pending)
    if args.to_version:
        to_version = args.to_version
        if to_version not in versions:
            raise SecretsError(
                ErrorCode.UnknownVersion,
                f"{name} has no version {to_version}",
                hint=f"See its versions and their labels with: {CLI} describe {_env_flag(args)}",
                secret_name=name,
            )
    elif previous is None:
        raise SecretsError(
            ErrorCode.NoPreviousVersion,
            f"{name} has no version labelled {PREVIOUS}",
            hint=f"Nothing to roll back to; see the versions with: {CLI} describe {_env_flag(args)}",
            secret_name=name,
        )
    elif ROLLED_BACK in versions.get(previous, []):
        raise SecretsError(
            ErrorCode.RollbackWouldUndo,
            f"{PREVIOUS} of {name} is {previous}, the version an earlier rollback moved away from; "
            f"rolling back again would make it {CURRENT} again",
            hint=(
                f"To undo that rollback: {CLI} rollback {_env_flag(args)} --to-version {previous}. To go further "
                f"back, pick an older version from {CLI} describe {_env_flag(args)} and pass it to --to-version."
            ),
            secret_name=name,
        )
    else:
        to_version = previous
    if to_version == current:
        out.line(f"{CURRENT} of {name} is already {current}: nothing to do")
        out.set(secret_name=name, from_version_id=current, to_version_id=current, changed=False)
        return 0
    check_promotable(client, name, to_version, current)
    if not versions.get(to_version):
        # Secrets Manager may delete a version with no label at any time (UpdateSecretVersionStage API reference).
        out.line(f"{to_version} has no staging label (deprecated): Secrets Manager may delete it; moving now")
    confirm_write(args, name, f"rollback {name}: {CURRENT} {current} -> {to_version}")
    _promote(client, name, to_version=to_version, from_version=current)
    undo = ROLLED_BACK in versions.get(to_version, [])
    _mark_rolled_back(client, name, versions, moved_from=current, undo=undo, to_version=to_version)
    action = "undid the rollback of" if undo else "rolled back"
    out.line(f"{action} {name}: {CURRENT} {current} -> {to_version} (now {PREVIOUS}: {current})")
    if current is not None and not undo:
        out.line(
            f"rollback again refuses (it would undo this); to undo it: "
            f"{CLI} rollback {_env_flag(args)} --to-version {current}"
        )
    out.set(secret_name=name, from_version_id=current, to_version_id=to_version, changed=True, undo=undo)
    return 0


def _mark_rolled_back(
    client: SecretsClient,
    name: str,
    versions: dict[str, list[str]],
    *,
    moved_from: str | None,
    undo: bool,
    to_version: str,
) -> None:
    """Put ROLLED_BACK on the version we moved away from (taken off again by an undo)."""
    holder = next((v for v, stages in versions.items() if ROLLED_BACK in stages), None)
    if undo:
        client.remove_stage(name, ROLLED_BACK, from_version=to_version)
    elif moved_from is not None:
        client.move_stage(name, ROLLED_BACK, to_version=moved_from, from_version=holder)


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
    add_yes_option(rotate)
    rollback = add_secret_command(
        commands,
        common,
        "rollback",
        cmd_rollback,
        summary="move AWSCURRENT back to the AWSPREVIOUS version (or to --to-version)",
        description="The guide's rollback: the version labelled AWSPREVIOUS becomes AWSCURRENT again. Refuses while "
        "a version holds AWSPENDING, and refuses to undo an earlier rollback unless --to-version names it.",
    )
    rollback.add_argument("--to-version", metavar="ID", help="the version to make AWSCURRENT (see describe)")
    add_yes_option(rollback)
