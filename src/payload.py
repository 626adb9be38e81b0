"""Secret payload rules: raw SecretString in, validated immutable `SecretBundle` out.

This module is the one home for what a valid secret is: key names, forbidden
keys, value types, placeholders, required keys per environment and the
service-account shape. The service, the CLI and the rotation Lambda all use it.
It knows nothing of boto3, `os.environ` or HTTP, and no message it builds ever
contains a value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from src.errors import SecretsError

SERVICE_ACCOUNT_KEY = "GOOGLE_APPLICATION_CREDENTIALS_JSON"
REQUIRED_KEYS: tuple[str, ...] = (
    "OPENAI_API_KEY",
    "PINECONE_API_KEY",
    "GCP_PROJECT_ID",
    SERVICE_ACCOUNT_KEY,
    "APP_SECRET_KEY",
    "MILVUS_HOST",
    "MILVUS_PORT",
)
KNOWN_KEYS: frozenset[str] = frozenset(REQUIRED_KEYS)
# The keys whose values are credentials: the example file's values for these must never reach
# a real account. Ports, hosts, project ids and Google's standard URIs are not secret-bearing.
SECRET_BEARING_KEYS: frozenset[str] = frozenset({"OPENAI_API_KEY", "PINECONE_API_KEY", "APP_SECRET_KEY"})
SECRET_BEARING_SA_FIELDS = ("private_key", "private_key_id")
# Secrets Manager's own limit for a secret value.
MAX_PAYLOAD_BYTES = 65536

KEY_PATTERN = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# Names that would reconfigure the process, its TLS, its proxies or its SDKs. Only the
# allow-list (REQUIRED_KEYS plus SECRETS_EXTRA_KEYS) ever reaches os.environ; these are
# refused outright, in a secret and in SECRETS_EXTRA_KEYS, because a secret holding one is
# a mistake or an attack, and either should be loud.
FORBIDDEN_KEYS = frozenset(
    {
        "PATH",
        "HOME",
        "SHELL",
        "USER",
        "HOST",
        "PORT",
        "TMPDIR",
        "ENV_FILE",
        "APP_ENV",
        "SECRET_NAME",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "HEALTH_DETAILS",
        "METRICS",
        "GOOGLE_APPLICATION_CREDENTIALS",
        # The service derives the previous signing key itself after a rotation.
        "APP_SECRET_KEY_PREVIOUS",
        "APP_SECRET_KEY_PREVIOUS_EXPIRES_AT",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "SSLKEYLOGFILE",
        "OPENAI_BASE_URL",
        "OPENAI_API_BASE",
        "GCE_METADATA_HOST",
        "GCE_METADATA_IP",
        "GCE_METADATA_ROOT",
        "GLIBC_TUNABLES",
        "MALLOC_CONF",
    }
)
# PYTHON* covers PYTHONPATH and PYTHONHOME; SECRETS_* are the bootstrap's own settings;
# ECS_* the agent's; UVICORN_* the server's; GRPC_* the Google clients' transport.
FORBIDDEN_PREFIXES = ("LD_", "AWS_", "PYTHON", "SECRETS_", "ECS_", "UVICORN_", "GRPC_", "OTEL_")

SERVICE_ACCOUNT_FIELDS = ("type", "project_id", "private_key", "client_email")
# The operations guide's example values, word for word: a real secret never holds them.
GUIDE_PLACEHOLDERS = frozenset(
    {
        "sk-실제키를입력하세요",
        "pcsk_실제키를입력하세요",
        "실제-GCP-프로젝트-ID",
        "랜덤-시크릿-키-생성값",
        "프로덕션-Milvus-호스트",
    }
)
_ANGLE_PLACEHOLDER = re.compile(r"^<[^<>]*>$")
_PREFIX_HINTS = {"OPENAI_API_KEY": "sk-", "PINECONE_API_KEY": "pcsk_"}


def allowed_keys(extra: str | None) -> frozenset[str]:
    """The keys that may reach os.environ: the guide's seven, plus SECRETS_EXTRA_KEYS (a comma list
    set by the operator in the task definition, never in the secret). Each extra name must pass the
    same key rules as a secret's keys."""
    names = {name.strip() for name in (extra or "").split(",") if name.strip()}
    for name in sorted(names):
        if not KEY_PATTERN.match(name):
            raise SecretsError(
                "InvalidConfiguration",
                f"SECRETS_EXTRA_KEYS holds {_safe_key(name)}, which does not match ^[A-Z_][A-Z0-9_]*$",
                hint="List upper-case key names separated by commas, for example SECRETS_EXTRA_KEYS=SENTRY_DSN.",
            )
        reason = forbidden_reason(name)
        if reason:
            raise SecretsError(
                "InvalidConfiguration",
                f"SECRETS_EXTRA_KEYS names a forbidden key: {reason}",
                hint="Remove it from SECRETS_EXTRA_KEYS; a secret may not set the process's own variables.",
            )
    return KNOWN_KEYS | names


def is_placeholder(value: str) -> bool:
    text = value.strip()
    if text in GUIDE_PLACEHOLDERS or "입력하세요" in text:
        return True
    if text.lower() == "changeme" or (text and set(text) == {"."}):
        return True
    return bool(_ANGLE_PLACEHOLDER.match(text))


def forbidden_reason(key: str) -> str | None:
    if key in FORBIDDEN_KEYS:
        return f"key {key} is reserved for the process itself"
    for prefix in FORBIDDEN_PREFIXES:
        if key.startswith(prefix):
            return f"key {key} has the reserved prefix {prefix}"
    return None


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


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise SecretsError("InvalidSecretJSON", f"the JSON object repeats the key {_safe_key(key)}")
        seen[key] = value
    return seen


def _reject_constant(name: str) -> Any:
    raise SecretsError("InvalidSecretJSON", f"the JSON holds {name}, which is not valid JSON")


def _safe_key(key: str) -> str:
    """A key name fit for a message: valid names as they are, anything else described, not echoed."""
    return key if KEY_PATTERN.match(key) and len(key) <= 128 else "(an invalid key name)"


def _load_object(raw: str, secret_name: str | None) -> dict[str, Any]:
    try:
        data = json.loads(raw, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except SecretsError as exc:
        exc.secret_name = secret_name
        raise
    except (ValueError, RecursionError):
        # The decoder's message quotes the input around the error: never pass it on.
        raise SecretsError("InvalidSecretJSON", "the secret is not valid JSON", secret_name=secret_name) from None
    if not isinstance(data, dict):
        kind = "null" if data is None else type(data).__name__
        raise SecretsError("InvalidSecretJSON", f"the secret is a JSON {kind}, not an object", secret_name=secret_name)
    return data


def _service_account_json(value: Any, secret_name: str | None) -> str:
    def invalid(why: str) -> SecretsError:
        return SecretsError("InvalidSecretValue", f"{SERVICE_ACCOUNT_KEY} {why}", secret_name=secret_name)

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            raise invalid("is not a JSON service-account key") from None
    if not isinstance(value, dict):
        raise invalid("must be a service-account key object")
    for name in SERVICE_ACCOUNT_FIELDS:
        if not isinstance(value.get(name), str) or not value[name].strip():
            raise invalid(f"lacks the field {name}")
    if value["type"] != "service_account":
        raise invalid("has a type other than service_account")
    has_placeholder = any(isinstance(v, str) and is_placeholder(v) for v in value.values())
    if not has_placeholder and "PRIVATE KEY-----" not in value["private_key"]:
        raise invalid("has a private_key that is not a PEM key")
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _normalise(key: str, value: Any, secret_name: str | None) -> str:
    if key == SERVICE_ACCOUNT_KEY and isinstance(value, str) and is_placeholder(value):
        return value
    if key == SERVICE_ACCOUNT_KEY:
        return _service_account_json(value, secret_name)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        if not value.strip():
            raise SecretsError("InvalidSecretValue", f"{key} is empty", secret_name=secret_name)
        if "\x00" in value:
            raise SecretsError("InvalidSecretValue", f"{key} holds a NUL character", secret_name=secret_name)
        return value
    kind = "null" if value is None else type(value).__name__
    raise SecretsError(
        "InvalidSecretValue",
        f"{key} is a JSON {kind}; values are strings, numbers or booleans",
        secret_name=secret_name,
    )


def _unexpected(exc: Exception, secret_name: str | None) -> SecretsError:
    # A parser's message may quote the input: name the exception type only.
    return SecretsError(
        "InvalidSecretValue", f"a value could not be read ({type(exc).__name__})", secret_name=secret_name
    )


def parse_secret(raw: str | bytes | None, *, secret_name: str | None = None) -> ParsedSecret:
    """Check one SecretString: a JSON object with valid, allowed keys and scalar values.

    Raises only `SecretsError`: any other exception from the rules becomes InvalidSecretValue.
    """
    try:
        return _parse_secret(raw, secret_name)
    except SecretsError:
        raise
    except Exception as exc:
        raise _unexpected(exc, secret_name) from None


def _parse_secret(raw: str | bytes | None, secret_name: str | None) -> ParsedSecret:
    if raw is None:
        raise SecretsError("InvalidSecretJSON", "the secret has no SecretString", secret_name=secret_name)
    if isinstance(raw, bytes):
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise SecretsError(
                "InvalidSecretValue", f"the secret is larger than {MAX_PAYLOAD_BYTES} bytes", secret_name=secret_name
            )
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretsError("InvalidSecretJSON", "the secret is not UTF-8 text", secret_name=secret_name) from None
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_PAYLOAD_BYTES:
        raise SecretsError(
            "InvalidSecretValue", f"the secret is larger than {MAX_PAYLOAD_BYTES} bytes", secret_name=secret_name
        )
    if not raw.strip():
        raise SecretsError("InvalidSecretJSON", "the secret is empty", secret_name=secret_name)
    return _parse_object(_load_object(raw, secret_name), secret_name)


def parse_values(values: Mapping[str, str], *, source: str = "environment") -> ParsedSecret:
    """Check values that came as plain strings (the environment, `.env`); empty ones count as absent."""
    return _parse_object({k: v for k, v in values.items() if v.strip()}, source)


def _parse_object(data: Mapping[str, Any], secret_name: str | None) -> ParsedSecret:
    values: dict[str, str] = {}
    for key in sorted(data):
        if not KEY_PATTERN.match(key):
            raise SecretsError(
                "InvalidSecretJSON",
                f"{_safe_key(key)} does not match ^[A-Z_][A-Z0-9_]*$",
                hint="Key names are upper-case letters, digits and underscores, not starting with a digit.",
                secret_name=secret_name,
            )
        reason = forbidden_reason(key)
        if reason:
            raise SecretsError("ForbiddenKey", reason, secret_name=secret_name)
        values[key] = _normalise(key, data[key], secret_name)
    return ParsedSecret(values=MappingProxyType(values))


_ASCII_PORT = re.compile(r"[0-9]{1,5}")


def _check_port(values: Mapping[str, str]) -> None:
    port = values.get("MILVUS_PORT")
    if port is None or is_placeholder(port):
        return
    # ASCII digits only: str.isdigit() accepts "²" and other scripts' digits, which int() or
    # the typed config would then refuse after the payload had been accepted.
    if not _ASCII_PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
        raise SecretsError("InvalidSecretValue", "MILVUS_PORT must be a whole number from 1 to 65535")


def placeholder_keys(values: Mapping[str, str]) -> list[str]:
    found = []
    for key, value in values.items():
        if key == SERVICE_ACCOUNT_KEY and not is_placeholder(value):
            fields = json.loads(value).values()
            if any(isinstance(v, str) and is_placeholder(v) for v in fields):
                found.append(key)
        elif is_placeholder(value):
            found.append(key)
    return sorted(found)


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
        "InvalidSecretJSON",
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
    _check_port(merged)
    warnings: list[str] = []
    missing = tuple(key for key in REQUIRED_KEYS if key not in merged)
    placeholders = placeholder_keys(merged)
    if strict and missing:
        raise SecretsError("MissingRequiredKeys", f"the secret lacks {', '.join(missing)}")
    if strict and placeholders:
        raise SecretsError("PlaceholderValue", f"placeholder values in {', '.join(placeholders)}")
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
        raise SecretsError("InvalidSecretJSON", "the secret has no SecretString")
    text = raw.decode("utf-8", "strict") if isinstance(raw, bytes) else raw
    data = _load_object(text, None)
    findings: dict[str, str] = {}
    for key in REQUIRED_KEYS:
        if key not in data:
            findings[key] = "missing"
            continue
        try:
            value = _normalise(key, data[key], None)
            if placeholder_keys({key: value}):
                findings[key] = "placeholder"
                continue
            _check_port({key: value})
        except SecretsError as exc:
            findings[key] = f"invalid: {exc.message}"
            continue
        findings[key] = "OK"
    return findings


def replace_key(raw: str, key: str, value: str) -> str:
    """The same JSON object with one key set to a new value; every other key is kept as it was."""
    data = _load_object(raw, None)
    data[key] = value
    return json.dumps(data, ensure_ascii=False)


def example_keys(values: Mapping[str, str], example: Mapping[str, str]) -> list[str]:
    """Secret-bearing keys whose value is the repository's example value
    (infra/iam/secret-structure-example.json): the API keys, APP_SECRET_KEY, and the
    service account's private key and its id.

    The example values pass validation on purpose, so the emulator can serve them;
    the operator CLI refuses to push them to a real account. A port, host or Google's
    standard URIs equal to the example's are real values too (19530 is Milvus's port).
    """
    found = [key for key in SECRET_BEARING_KEYS if key in values and example.get(key) == values[key]]
    mine, theirs = _sa_fields(values.get(SERVICE_ACCOUNT_KEY)), _sa_fields(example.get(SERVICE_ACCOUNT_KEY))
    found += [
        f"{SERVICE_ACCOUNT_KEY}.{name}"
        for name in SECRET_BEARING_SA_FIELDS
        if mine.get(name) is not None and mine.get(name) == theirs.get(name)
    ]
    return sorted(found)


def _sa_fields(value: str | None) -> dict[str, Any]:
    if value is None or is_placeholder(value):
        return {}
    data = json.loads(value)
    return data if isinstance(data, dict) else {}
