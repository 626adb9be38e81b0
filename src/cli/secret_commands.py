"""Operator commands on the app secret: push, verify, describe, rotate, rollback.

Built on `src.aws` and `src.payload`, the same code the service runs, so a value
the CLI accepts is one the service accepts. No command prints a value.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import secrets
import sys
import uuid
from pathlib import Path
from typing import Any

from src.app_env import SHORT_NAMES, secret_name
from src.aws import CURRENT, PENDING, PREVIOUS, SecretsClient, version_with_stage
from src.cli.git import git_status
from src.cli.output import Output
from src.errors import SecretsError
from src.logs import masker
from src.payload import (
    KNOWN_KEYS,
    example_keys,
    key_findings,
    parse_secret,
    replace_key,
    require_string,
    validate_strict,
)

EXAMPLE_FILE = Path(__file__).resolve().parents[2] / "infra/iam/secret-structure-example.json"
GENERATED_KEYS = {"APP_SECRET_KEY": lambda: secrets.token_urlsafe(64)}


def target(args: argparse.Namespace) -> str:
    return str(args.name or secret_name(args.env))


def tags_for(env: str) -> dict[str, str]:
    return {"Project": "short-cut", "Environment": env, "ManagedBy": "devops"}


def description_for(env: str) -> str:
    return f"Short-Cut {SHORT_NAMES[env].value} app secret – API keys, GCP credentials"


def _git_tracked(path: Path) -> bool:
    return git_status(["ls-files", "--error-unmatch", path.name], path.parent) == 0


def remember(raw: str | None) -> None:
    """Register a payload's values with the mask, so that --debug tracebacks cannot show them."""
    with contextlib.suppress(SecretsError):
        masker.register(parse_secret(raw).values.values())


def read_payload(file_arg: str) -> str:
    if file_arg == "-":
        raw = sys.stdin.read()
        remember(raw)
        return raw
    path = Path(file_arg)
    if not path.is_file():
        raise SecretsError(
            "FileNotFound", f"{file_arg} is not a file", hint="Pass the path of the JSON file, or - for stdin."
        )
    if _git_tracked(path.resolve()):
        raise SecretsError(
            "FileTrackedByGit",
            f"{file_arg} is tracked by git",
            hint="A file with real keys must never be committed: git rm --cached it, "
            "add it to .gitignore, and rotate the keys.",
        )
    try:
        raw = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise SecretsError("InvalidSecretJSON", f"{file_arg} is not UTF-8 text") from None
    remember(raw)
    return raw


def check_for_push(raw: str, *, allow_extra: bool) -> list[str]:
    """The service's strict rules, plus: no unknown keys unless allowed. Returns the key names."""
    bundle = validate_strict(raw)
    if bundle.ignored and not allow_extra:
        raise SecretsError(
            "UnknownKeys",
            f"keys the service does not use: {', '.join(bundle.ignored)}",
            hint="Remove them, or pass --allow-extra if they are meant to be there; the service applies "
            "them only when the task definition lists them in SECRETS_EXTRA_KEYS.",
        )
    return sorted([*bundle.keys, *bundle.ignored])


def refuse_example_values(raw: str) -> None:
    if not EXAMPLE_FILE.is_file():
        return
    example = parse_secret(EXAMPLE_FILE.read_text(encoding="utf-8")).values
    found = example_keys(parse_secret(raw).values, example)
    if found:
        raise SecretsError(
            "PlaceholderValue",
            f"{', '.join(found)} hold the example values of {EXAMPLE_FILE.relative_to(EXAMPLE_FILE.parents[2])}",
            hint="Put the real values in; pass --allow-example only to seed an emulator.",
        )


def cmd_push(args: argparse.Namespace, client: SecretsClient, out: Output) -> int:
    name = target(args)
    raw = read_payload(args.file)
    keys = check_for_push(raw, allow_extra=args.allow_extra)
    if not args.allow_example:
        refuse_example_values(raw)
    if client.exists(name):
        version = client.put_value(name, raw)
        action = "put a new version of"
    else:
        version = client.create(name, raw, description=description_for(args.env), tags=tags_for(args.env))
        action = "created"
    out.line(f"{action} {name}: version {version}, {len(keys)} keys ({', '.join(keys)})")
    out.set(secret_name=name, action=action, version_id=version, keys=keys)
    if args.file != "-":
        out.note(f"reminder: delete {args.file} now (for example: shred -u {args.file}); it holds real keys.")
    return 0


def cmd_verify(args: argparse.Namespace, client: SecretsClient, out: Output) -> int:
    name = target(args)
    if args.as_role:
        client = assume_role_client(args.as_role, client)
        out.line(f"reading as {args.as_role} (temporary credentials from sts:AssumeRole, not shown)")
        out.set(as_role=args.as_role)
    fetched = client.get_secret(name)
    remember(fetched.secret_string)
    findings = key_findings(fetched.secret_string)
    whole: SecretsError | None = None
    try:
        validate_strict(require_string(fetched.secret_string, name, binary=fetched.has_binary), name)
    except SecretsError as exc:
        whole = exc
    for key, finding in findings.items():
        status = "OK" if finding == "OK" else f"FAIL ({finding})"
        out.line(f"{key:<38} {status}")
    out.line(f"version {fetched.version_id} of {name}")
    if whole is not None and all(f == "OK" for f in findings.values()):
        out.line(f"FAIL secret as a whole: {whole.code}: {whole.message}")
    ok = whole is None and all(f == "OK" for f in findings.values())
    out.set(
        secret_name=name,
        version_id=fetched.version_id,
        keys=findings,
        error=whole.to_dict() if whole else None,
        ok=ok,
    )
    return 0 if ok else 1


def cmd_describe(args: argparse.Namespace, client: SecretsClient, out: Output) -> int:
    meta = client.describe(target(args))
    info: dict[str, Any] = {
        "name": meta.get("Name"),
        "arn": meta.get("ARN"),
        "description": meta.get("Description"),
        "kms_key": meta.get("KmsKeyId") or "aws/secretsmanager (default)",
        "tags": {t["Key"]: t["Value"] for t in meta.get("Tags", [])},
        "rotation_enabled": bool(meta.get("RotationEnabled")),
        "rotation_lambda": meta.get("RotationLambdaARN"),
        "rotation_rules": meta.get("RotationRules"),
        "last_rotated": meta.get("LastRotatedDate"),
        "next_rotation": meta.get("NextRotationDate"),
        "last_changed": meta.get("LastChangedDate"),
        "deleted": meta.get("DeletedDate"),
        "versions": {v: sorted(s) for v, s in meta.get("VersionIdsToStages", {}).items()},
    }
    for key, value in info.items():
        if key == "versions":
            out.line("versions:")
            for version, stages in value.items():
                out.line(f"  {version}  {' '.join(stages) or '-'}")
        elif key == "tags":
            out.line(f"{'tags:':<16} " + (", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "-"))
        else:
            out.line(f"{key + ':':<16} {value if value is not None else '-'}")
    out.set(**info)
    return 0


def _read_new_value(key: str) -> str:
    if sys.stdin.isatty():
        # getpass does not echo, and the value never touches the shell history.
        return getpass.getpass(f"new value for {key}: ")
    return sys.stdin.read().rstrip("\r\n")


def cmd_rotate(args: argparse.Namespace, client: SecretsClient, out: Output) -> int:
    """Write a new version with one key changed, promoted with a compare-and-set on AWSCURRENT.

    The new version is put with AWSPENDING only, then AWSCURRENT is moved to it with
    RemoveFromVersionId set to the version this command read: Secrets Manager refuses that
    move if AWSCURRENT is no longer there ("If the label is attached and you either do not
    specify this parameter, or the version ID does not match, then the operation fails",
    UpdateSecretVersionStage API reference). Two operators, or an operator and the rotation
    Lambda, can therefore never overwrite each other's change unseen.
    """
    name, key = target(args), args.key
    if args.value_stdin:
        value = _read_new_value(key)
    elif key in GENERATED_KEYS:
        value = GENERATED_KEYS[key]()
    else:
        raise SecretsError(
            "ValueRequired",
            f"{key} is issued by its provider and cannot be generated",
            hint=f"Re-issue it at the provider, then: python -m src.cli rotate --key {key} --value-stdin",
        )
    masker.register([value])
    if key not in KNOWN_KEYS and not args.allow_extra:
        raise SecretsError(
            "UnknownKeys", f"{key} is not a key the service uses", hint="Check the key name, or pass --allow-extra."
        )
    meta = client.describe(name)
    current_id, pending_id = version_with_stage(meta, CURRENT), version_with_stage(meta, PENDING)
    if pending_id is not None and pending_id != current_id:
        raise SecretsError("RotationInProgress", f"version {pending_id} of {name} holds {PENDING}", secret_name=name)
    current = client.get_secret(name, version_id=current_id, version_stage=CURRENT)
    raw = require_string(current.secret_string, name, binary=current.has_binary)
    remember(raw)
    updated = replace_key(raw, key, value)
    validate_strict(updated, name)
    version = client.put_value(name, updated, token=str(uuid.uuid4()), stages=[PENDING])
    try:
        client.move_stage(name, CURRENT, to_version=version, from_version=current.version_id)
    except SecretsError as exc:
        _drop_pending(client, name, version)
        if exc.code == "InvalidParameterException":
            raise SecretsError(
                "CurrentVersionMoved",
                f"{CURRENT} of {name} is no longer {current.version_id}; version {version} was not promoted",
                secret_name=name,
            ) from None
        raise
    _drop_pending(client, name, version)
    out.line(f"rotated {key} in {name}: AWSCURRENT {current.version_id} -> {version}")
    out.set(secret_name=name, key=key, previous_version_id=current.version_id, version_id=version)
    return 0


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
            "NoPreviousVersion",
            f"{name} has no version labelled {PREVIOUS}",
            hint="Nothing to roll back to; use describe to see the versions.",
            secret_name=name,
        )
    try:
        # RemoveFromVersionId makes this a compare-and-set too (see cmd_rotate).
        client.move_stage(name, CURRENT, to_version=previous, from_version=current)
    except SecretsError as exc:
        if exc.code == "InvalidParameterException":
            raise SecretsError(
                "CurrentVersionMoved", f"{CURRENT} of {name} moved while rolling back", secret_name=name
            ) from None
        raise
    out.line(f"rolled back {name}: AWSCURRENT {current} -> {previous} (now AWSPREVIOUS: {current})")
    out.set(secret_name=name, from_version_id=current, to_version_id=previous)
    return 0


def assume_role_credentials(role_arn: str, sts: Any) -> dict[str, str]:
    """sts:AssumeRole for the guide's step 5-3. The credentials go only into a client:
    never printed, logged or written (and the mask knows them, for --debug)."""
    from src.aws import aws_errors

    try:
        with aws_errors():
            answer = sts.assume_role(RoleArn=role_arn, RoleSessionName="short-cut-verify", DurationSeconds=900)
    except SecretsError as exc:
        if exc.code in ("AccessDenied", "AccessDeniedException"):
            raise SecretsError(
                "AssumeRoleDenied",
                f"sts:AssumeRole on {role_arn} was refused",
                hint="Your identity may not assume the task role: its trust policy allows only "
                "ecs-tasks.amazonaws.com. Add a temporary trust statement for your principal (and remove it "
                "after), or run verify inside a task with ECS Exec.",
            ) from None
        raise
    credentials = {k: str(v) for k, v in answer["Credentials"].items() if k != "Expiration"}
    masker.register([credentials["SecretAccessKey"], credentials["SessionToken"]])
    return credentials


def assume_role_client(role_arn: str, client: SecretsClient) -> SecretsClient:
    """A Secrets Manager client holding the role's temporary credentials."""
    from src.aws import build_client

    credentials = assume_role_credentials(role_arn, build_client(client.region, service="sts"))
    return SecretsClient(client.region, client=build_client(client.region, credentials=credentials))


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="prod", choices=sorted(SHORT_NAMES), help="environment (default: prod)")
    parser.add_argument("--name", help="secret name (default: short-cut/<env>/app)")
