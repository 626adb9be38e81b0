"""Operator commands on the app secret: push, verify, describe, rotate, rollback.

Built on `src.aws` and `src.payload`, the same code the service runs, so a value
the CLI accepts is one the service accepts. No command prints a value.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from pathlib import Path
from typing import Any

from src.app_env import SHORT_NAMES, secret_name
from src.aws import CURRENT, PREVIOUS, SecretsClient, version_with_stage
from src.cli.git import git_status
from src.cli.output import Output
from src.errors import SecretsError
from src.payload import KNOWN_KEYS, build_bundle, example_keys, key_findings, parse_secret, replace_key

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


def read_payload(file_arg: str) -> str:
    if file_arg == "-":
        return sys.stdin.read()
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
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise SecretsError("InvalidSecretJSON", f"{file_arg} is not UTF-8 text") from None


def check_for_push(raw: str, *, allow_extra: bool) -> list[str]:
    """The service's strict rules, plus: no unknown keys unless allowed. Returns the key names."""
    bundle = build_bundle([("file", parse_secret(raw))], strict=True)
    unknown = sorted(set(bundle.values) - KNOWN_KEYS)
    if unknown and not allow_extra:
        raise SecretsError(
            "UnknownKeys",
            f"keys the service does not use: {', '.join(unknown)}",
            hint="Remove them, or pass --allow-extra if they are meant to be there.",
        )
    return list(bundle.keys)


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
    fetched = client.get_secret(name)
    findings = key_findings(fetched.secret_string)
    whole: SecretsError | None = None
    try:
        build_bundle([(name, parse_secret(fetched.secret_string, secret_name=name))], strict=True)
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
    current = client.get_secret(name)
    if current.secret_string is None:
        raise SecretsError("InvalidSecretJSON", "the current version has no SecretString", secret_name=name)
    if key not in KNOWN_KEYS and not args.allow_extra:
        raise SecretsError(
            "UnknownKeys", f"{key} is not a key the service uses", hint="Check the key name, or pass --allow-extra."
        )
    updated = replace_key(current.secret_string, key, value)
    build_bundle([(name, parse_secret(updated, secret_name=name))], strict=True)
    version = client.put_value(name, updated)
    out.line(f"rotated {key} in {name}: AWSCURRENT {current.version_id} -> {version}")
    out.set(secret_name=name, key=key, previous_version_id=current.version_id, version_id=version)
    return 0


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
    client.move_stage(name, CURRENT, to_version=previous, from_version=current)
    out.line(f"rolled back {name}: AWSCURRENT {current} -> {previous} (now AWSPREVIOUS: {current})")
    out.set(secret_name=name, from_version_id=current, to_version_id=previous)
    return 0


def add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="prod", choices=sorted(SHORT_NAMES), help="environment (default: prod)")
    parser.add_argument("--name", help="secret name (default: short-cut/<env>/app)")
