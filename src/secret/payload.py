"""Secret payload rules: raw SecretString in, validated immutable `SecretBundle` out.

This module and the three beside it are the one home for what a valid secret is; the
service, the CLI and the rotation Lambda all use them:
- `src.secret.keys`: key names, forbidden keys, the allow-list (SECRETS_EXTRA_KEYS).
- `src.secret.values`: value types, placeholders, the service-account shape, the port.
- `src.secret.json_object`: reading a SecretString (size, UTF-8, strict JSON, an object).
- here: `ParsedSecret` and `SecretBundle`, parsing one secret, merging secrets and
  judging the whole (required keys per environment), and the helpers the CLI and the
  Lambda share (`validate_strict`, `require_string`, `key_findings`, `replace_key`).
Every public name of the four is importable from here.

They know nothing of boto3, `os.environ` or HTTP and import only the standard library
(the rotation Lambda's zip carries them). `parse_secret` and `build_bundle` raise only
`SecretsError`, and no message they build ever contains a value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from src.errors import ErrorCode, SecretsError
from src.secret.json_object import MAX_PAYLOAD_BYTES, load_object, read_object
from src.secret.keys import (
    FORBIDDEN_KEYS,
    FORBIDDEN_PREFIXES,
    KEY_PATTERN,
    KNOWN_KEYS,
    REQUIRED_KEYS,
    SECRET_BEARING_KEYS,
    SERVICE_ACCOUNT_KEY,
    allowed_keys,
    check_key,
    forbidden_reason,
)
from src.secret.values import (
    GUIDE_PLACEHOLDERS,
    SECRET_BEARING_SA_FIELDS,
    SERVICE_ACCOUNT_FIELDS,
    check_port,
    example_keys,
    is_placeholder,
    normalise,
    placeholder_keys,
)

__all__ = [
    "FORBIDDEN_KEYS",
    "FORBIDDEN_PREFIXES",
    "GUIDE_PLACEHOLDERS",
    "KEY_PATTERN",
    "KNOWN_KEYS",
    "MAX_PAYLOAD_BYTES",
    "REQUIRED_KEYS",
    "SECRET_BEARING_KEYS",
    "SECRET_BEARING_SA_FIELDS",
    "SERVICE_ACCOUNT_FIELDS",
    "SERVICE_ACCOUNT_KEY",
    "ParsedSecret",
    "SecretBundle",
    "allowed_keys",
    "build_bundle",
    "example_keys",
    "forbidden_reason",
    "is_placeholder",
    "key_findings",
    "parse_secret",
    "parse_values",
    "placeholder_keys",
    "replace_key",
    "require_string",
    "validate_strict",
]

# A warning, not an error: a provider may change its key format.
_PREFIX_HINTS = {"OPENAI_API_KEY": "sk-", "PINECONE_API_KEY": "pcsk_"}


@dataclass(frozen=True)
class ParsedSecret:
    """One secret's keys and normalised string values, not yet judged as a whole."""

    values: Mapping[str, str] = field(repr=False)

    def __repr__(self) -> str:
        return f"ParsedSecret(keys={sorted(self.values)})"


@dataclass(frozen=True)
class SecretBundle:
    """The merged, validated keys of every secret, ready to apply. Repr shows names only."""

    values: Mapping[str, str] = field(repr=False)
    missing: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    collisions: tuple[str, ...] = ()
    # Keys in the secret outside the allow-list: never applied, reported by name.
    ignored: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(sorted(self.values))

    def __repr__(self) -> str:
        return (
            f"SecretBundle(keys={list(self.keys)}, missing={list(self.missing)}, "
            f"ignored={list(self.ignored)}, warnings={len(self.warnings)})"
        )


def _unexpected(exc: Exception, secret_name: str | None) -> SecretsError:
    # A parser's message may quote the input: name the exception type only.
    return SecretsError(
        ErrorCode.InvalidSecretValue, f"a value could not be read ({type(exc).__name__})", secret_name=secret_name
    )


def parse_secret(raw: str | bytes | None, *, secret_name: str | None = None) -> ParsedSecret:
    """Check one SecretString: a JSON object with valid, allowed keys and scalar values.

    Raises only `SecretsError`: any other exception from the rules becomes InvalidSecretValue.
    """
    try:
        return _parse_object(read_object(raw, secret_name), secret_name)
    except SecretsError:
        raise
    except Exception as exc:
        raise _unexpected(exc, secret_name) from None


def parse_values(values: Mapping[str, str], *, source: str = "environment") -> ParsedSecret:
    """Check values that came as plain strings (the environment, `.env`); empty ones count as absent."""
    return _parse_object({k: v for k, v in values.items() if v.strip()}, source)


def _parse_object(data: Mapping[str, Any], secret_name: str | None) -> ParsedSecret:
    values: dict[str, str] = {}
    for key in sorted(data):
        check_key(key, secret_name)
        values[key] = normalise(key, data[key], secret_name)
    return ParsedSecret(values=MappingProxyType(values))


def build_bundle(
    parts: list[tuple[str, ParsedSecret]], *, strict: bool, allowed: frozenset[str] | None = None
) -> SecretBundle:
    """Merge secrets in order (later wins) and judge the whole.

    strict (staging/production): missing required keys and placeholders are errors.
    Otherwise they are reported as `missing` and `warnings`. Keys outside `allowed`
    (default: the guide's seven) are dropped and named in `ignored`.
    Raises only `SecretsError`.
    """
    try:
        return _build_bundle(parts, strict=strict, allowed=KNOWN_KEYS if allowed is None else allowed)
    except SecretsError:
        raise
    except Exception as exc:
        raise _unexpected(exc, None) from None


def require_string(secret_string: str | None, secret_name: str | None = None, *, binary: bool = False) -> str:
    """The SecretString of a fetched version, or the one error for a version without one."""
    if secret_string is not None:
        return secret_string
    stored = "is stored as SecretBinary" if binary else "has no SecretString"
    raise SecretsError(
        ErrorCode.InvalidSecretJSON,
        f"the secret {stored}; store it as a SecretString JSON object",
        secret_name=secret_name,
    )


def validate_strict(raw: str | bytes | None, secret_name: str | None = None) -> SecretBundle:
    """One secret, judged as staging and production judge it (the CLI's and the Lambda's check)."""
    return build_bundle([(secret_name or "secret", parse_secret(raw, secret_name=secret_name))], strict=True)


def _build_bundle(parts: list[tuple[str, ParsedSecret]], *, strict: bool, allowed: frozenset[str]) -> SecretBundle:
    merged: dict[str, str] = {}
    collisions: list[str] = []
    ignored: set[str] = set()
    for name, parsed in parts:
        for key, value in parsed.values.items():
            if key not in allowed:
                ignored.add(key)
                continue
            if key in merged:
                collisions.append(f"{key} from {name}")
            merged[key] = value
    check_port(merged)
    warnings: list[str] = []
    missing = tuple(key for key in REQUIRED_KEYS if key not in merged)
    placeholders = placeholder_keys(merged)
    if strict and missing:
        raise SecretsError(ErrorCode.MissingRequiredKeys, f"the secret lacks {', '.join(missing)}")
    if strict and placeholders:
        raise SecretsError(ErrorCode.PlaceholderValue, f"placeholder values in {', '.join(placeholders)}")
    warnings.extend(f"{key} holds a placeholder value" for key in placeholders)
    for key, prefix in _PREFIX_HINTS.items():
        found = merged.get(key)
        if found is not None and key not in placeholders and not found.startswith(prefix):
            warnings.append(f"{key} does not start with {prefix}")
    return SecretBundle(
        values=MappingProxyType(merged),
        missing=missing,
        warnings=tuple(warnings),
        collisions=tuple(collisions),
        ignored=tuple(sorted(ignored)),
    )


def key_findings(raw: str | bytes | None) -> dict[str, str]:
    """Per required key: "OK", or why not (missing, placeholder, invalid: ...). For operators' checks.

    Raises `SecretsError` when the secret as a whole is unreadable (not a JSON object).
    """
    if raw is None:
        raise SecretsError(ErrorCode.InvalidSecretJSON, "the secret has no SecretString")
    text = raw.decode("utf-8", "strict") if isinstance(raw, bytes) else raw
    data = load_object(text, None)
    findings: dict[str, str] = {}
    for key in REQUIRED_KEYS:
        if key not in data:
            findings[key] = "missing"
            continue
        try:
            value = normalise(key, data[key], None)
            if placeholder_keys({key: value}):
                findings[key] = "placeholder"
                continue
            check_port({key: value})
        except SecretsError as exc:
            findings[key] = f"invalid: {exc.message}"
            continue
        findings[key] = "OK"
    return findings


def replace_key(raw: str, key: str, value: str) -> str:
    """The same JSON object with one key set to a new value; every other key is kept as it was."""
    data = load_object(raw, None)
    data[key] = value
    return json.dumps(data, ensure_ascii=False)
