"""`push`, `verify` and `describe`: write the app secret, check it as the service would, and
show its metadata. `rotate` and `rollback` are in rotate_commands.

Built on `src.aws.client` and `src.secret.payload`, the same code the service runs, so a value
the CLI accepts is one the service accepts. No command prints a value.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from src.app_env import PROJECT, SHORT_NAMES
from src.aws.client import SecretsClient
from src.cli.as_role import assume_role_client
from src.cli.confirm import add_yes_option, confirm_write
from src.cli.output import Output
from src.cli.payloads import read_payload
from src.cli.target import add_secret_command, remember, target
from src.errors import ErrorCode, SecretsError
from src.secret.payload import example_keys, key_findings, parse_secret, require_string, validate_strict

EXAMPLE_FILE = Path(__file__).resolve().parents[2] / "infra/iam/secret-structure-example.json"


def tags_for(env: str) -> dict[str, str]:
    return {"Project": PROJECT, "Environment": env, "ManagedBy": "devops"}


def description_for(env: str) -> str:
    return f"Short-Cut {SHORT_NAMES[env].value} app secret – API keys, GCP credentials"


def check_json(raw: str, source: str) -> None:
    """A file that is not JSON is named with the place it breaks (line, column), never its content."""
    try:
        json.loads(raw)
    except json.JSONDecodeError as exc:
        # exc.msg is the parser's own words ("Expecting ',' delimiter"): it never quotes the document.
        raise SecretsError(
            ErrorCode.InvalidSecretJSON,
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            hint=f"Fix {source} at that place (an editor's JSON mode shows it too); nothing was written.",
        ) from None


def example_values_in(raw: str) -> list[str]:
    """The secret-bearing keys of `raw` that still hold the repository's example values."""
    if not EXAMPLE_FILE.is_file():
        return []
    example = parse_secret(EXAMPLE_FILE.read_text(encoding="utf-8")).values
    return example_keys(parse_secret(raw).values, example)


def check_for_push(raw: str, *, allow_extra: bool) -> list[str]:
    """The service's strict rules, plus: no unknown keys unless allowed. Returns the key names."""
    bundle = validate_strict(raw)
    if bundle.ignored and not allow_extra:
        raise SecretsError(
            ErrorCode.UnknownKeys,
            f"keys the service does not use: {', '.join(bundle.ignored)}",
            hint="Remove them, or pass --allow-extra if they are meant to be there; the service applies "
            "them only when the task definition lists them in SECRETS_EXTRA_KEYS.",
        )
    return sorted([*bundle.keys, *bundle.ignored])


def refuse_example_values(raw: str) -> None:
    found = example_values_in(raw)
    if found:
        raise SecretsError(
            ErrorCode.PlaceholderValue,
            f"{', '.join(found)} hold the example values of {EXAMPLE_FILE.relative_to(EXAMPLE_FILE.parents[2])}",
            hint="Put the real values in; pass --allow-example only to seed an emulator.",
        )


def cmd_push(args: argparse.Namespace, client: SecretsClient, out: Output) -> int:
    name = target(args)
    raw = read_payload(args.file)
    check_json(raw, "stdin" if args.file == "-" else "the file given (--file)")
    keys = check_for_push(raw, allow_extra=args.allow_extra)
    if not args.allow_example:
        refuse_example_values(raw)
    confirm_write(args, name, f"push {len(keys)} keys to {name}", stdin_is_data=args.file == "-")
    # A push during a rotation is safe: the Lambda's testSecret and finishSecret then refuse
    # to promote their stale copy (StaleRotation), so the pushed values stay current.
    if client.describe_if_exists(name) is not None:
        version = client.put_value(name, raw)
        action = "put a new version of"
    else:
        version = client.create(name, raw, description=description_for(args.env), tags=tags_for(args.env))
        action = "created"
    out.line(f"{action} {name}: version {version}, {len(keys)} keys ({', '.join(keys)})")
    out.set(secret_name=name, action=action, version_id=version, keys=keys)
    if args.file != "-":
        out.note("reminder: delete the file given (--file) now (for example with shred -u); it holds real keys.")
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
    examples = _example_values_or_none(fetched.secret_string)
    for key, finding in findings.items():
        # A key holding the example file's value (or a service-account field of it) passes every
        # rule, so it would read OK: its own line says WARN instead (FAIL still wins).
        held = [e for e in examples if e == key or e.startswith(f"{key}.")]
        status = (
            f"FAIL ({finding})" if finding != "OK" else f"WARN (example value: {', '.join(held)})" if held else "OK"
        )
        out.line(f"{key:<38} {status}")
    out.line(f"version {fetched.version_id} of {name}")
    if whole is not None and all(f == "OK" for f in findings.values()):
        out.line(f"FAIL secret as a whole: {whole.code}: {whole.message}")
    if examples:
        # push refuses these; the service serves them, but a production service reports them.
        out.line(
            f"WARN {', '.join(examples)} still hold the example values of "
            f"{EXAMPLE_FILE.relative_to(EXAMPLE_FILE.parents[2])}: put the real values in"
        )
    ok = whole is None and all(f == "OK" for f in findings.values())
    out.set(
        secret_name=name,
        version_id=fetched.version_id,
        keys=findings,
        example_values=examples,
        error=whole.to_dict() if whole else None,
        ok=ok,
    )
    return 0 if ok else 1


def _example_values_or_none(raw: str | None) -> list[str]:
    try:
        return example_values_in(raw or "")
    except SecretsError:
        return []  # a secret that does not parse is reported above


# A version with no staging label: DescribeSecret omits it, and Secrets Manager may delete it.
DEPRECATED = "- (deprecated: no label; Secrets Manager may delete it)"


def cmd_describe(args: argparse.Namespace, client: SecretsClient, out: Output) -> int:
    name = target(args)
    meta = client.describe(name)
    # ListSecretVersionIds, not DescribeSecret's VersionIdsToStages: that one omits unlabelled versions.
    versions = client.list_versions(name)
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
        "versions": {v: sorted(s) for v, s in versions.items()},
        "deprecated_versions": sorted(v for v, s in versions.items() if not s),
        # A replica names its primary; the primary lists its replicas and their status (issue 31).
        "primary_region": meta.get("PrimaryRegion"),
        "replicas": [
            {k: r.get(f) for k, f in (("region", "Region"), ("status", "Status"), ("message", "StatusMessage"))}
            for r in meta.get("ReplicationStatus", [])
        ],
    }
    for key, value in info.items():
        if key == "replicas":
            out.line("replicas:" + ("" if value else "       -"))
            for replica in value:
                out.line(f"  {replica['region']}  {replica['status']}  {replica['message'] or ''}".rstrip())
        elif key == "versions":
            out.line("versions:")
            for version, stages in value.items():
                out.line(f"  {version}  {' '.join(stages) or DEPRECATED}")
        elif key == "deprecated_versions":
            continue  # marked in the list above
        elif key == "tags":
            out.line(f"{'tags:':<16} " + (", ".join(f"{k}={v}" for k, v in sorted(value.items())) or "-"))
        else:
            out.line(f"{key + ':':<16} {value if value is not None else '-'}")
    out.set(**info)
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    push = add_secret_command(
        commands,
        common,
        "push",
        cmd_push,
        summary="create the secret or put a new version from a JSON file",
        description="Validate a JSON file with the service's own rules, then create short-cut/<env>/app "
        "(tags Project, Environment, ManagedBy; default aws/secretsmanager key) or put a new version.",
    )
    push.add_argument("--file", required=True, help="the JSON file, or - for stdin")
    push.add_argument("--allow-extra", action="store_true", help="accept keys the service does not use")
    push.add_argument("--allow-example", action="store_true", help="accept the example values (to seed an emulator)")
    add_yes_option(push)
    verify = add_secret_command(
        commands,
        common,
        "verify",
        cmd_verify,
        summary="load the secret as the service does and check every required key",
        description="One line per required key, OK or FAIL with the reason. Exit 0 only if all pass. "
        "--as-role reads as the task would: sts:AssumeRole first, then the same checks with those credentials.",
    )
    verify.add_argument("--as-role", metavar="ROLE_ARN", help="assume this role (the task role) and read as it would")
    add_secret_command(
        commands,
        common,
        "describe",
        cmd_describe,
        summary="show the secret's metadata (never its value)",
        description="Name, ARN, tags, KMS key, rotation state, dates, and each version with its stages.",
    )
