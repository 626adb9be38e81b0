"""Secret key rules: which key names a secret may hold, which reach `os.environ`, which are refused.

Contract:
- `REQUIRED_KEYS` are the operations guide's seven keys; `KNOWN_KEYS` is them as a set.
- A key name matches `KEY_PATTERN` whole (fullmatch: no trailing newline); a key in
  `FORBIDDEN_KEYS` or with a prefix in `FORBIDDEN_PREFIXES` is refused outright
  (`forbidden_reason`, `check_key`).
- `allowed_keys` is the allow-list that reaches `os.environ`: the seven plus the
  operator's SECRETS_EXTRA_KEYS, each passing the same rules.
- A message never echoes a key name that breaks the rules (`safe_key`): it may be
  a value pasted in the wrong place.

Part of `src.secret.payload` (which re-exports these names); standard library only, so the
rotation Lambda can import it.
"""

from __future__ import annotations

import re

from src.errors import ErrorCode, SecretsError

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

# \A...\Z, and callers use fullmatch: `$` also matches before a final newline, and
# "HTTPS_PROXY\n" would pass the rule and miss FORBIDDEN_KEYS (issue 20).
KEY_PATTERN = re.compile(r"\A[A-Z_][A-Z0-9_]*\Z")
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
        "HEALTH_ACCESS_LOG",
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


def safe_key(key: str) -> str:
    """A key name fit for a message: valid names as they are, anything else described, not echoed."""
    return key if KEY_PATTERN.fullmatch(key) and len(key) <= 128 else "(an invalid key name)"


def forbidden_reason(key: str) -> str | None:
    if key in FORBIDDEN_KEYS:
        return f"key {key} is reserved for the process itself"
    for prefix in FORBIDDEN_PREFIXES:
        if key.startswith(prefix):
            return f"key {key} has the reserved prefix {prefix}"
    return None


def check_key(key: str, secret_name: str | None) -> None:
    """Raise for a key a secret may not hold: a malformed name, or one reserved for the process."""
    if not KEY_PATTERN.fullmatch(key):
        raise SecretsError(
            ErrorCode.InvalidSecretJSON,
            f"{safe_key(key)} does not match ^[A-Z_][A-Z0-9_]*$",
            hint="Key names are upper-case letters, digits and underscores, not starting with a digit.",
            secret_name=secret_name,
        )
    reason = forbidden_reason(key)
    if reason:
        raise SecretsError(ErrorCode.ForbiddenKey, reason, secret_name=secret_name)


def allowed_keys(extra: str | None) -> frozenset[str]:
    """The keys that may reach os.environ: the guide's seven, plus SECRETS_EXTRA_KEYS (a comma list
    set by the operator in the task definition, never in the secret). Each extra name must pass the
    same key rules as a secret's keys."""
    names = {name.strip() for name in (extra or "").split(",") if name.strip()}
    for name in sorted(names):
        if not KEY_PATTERN.fullmatch(name):
            raise SecretsError(
                ErrorCode.InvalidConfiguration,
                f"SECRETS_EXTRA_KEYS holds {safe_key(name)}, which does not match ^[A-Z_][A-Z0-9_]*$",
                hint="List upper-case key names separated by commas, for example SECRETS_EXTRA_KEYS=SENTRY_DSN.",
            )
        reason = forbidden_reason(name)
        if reason:
            raise SecretsError(
                ErrorCode.InvalidConfiguration,
                f"SECRETS_EXTRA_KEYS names a forbidden key: {reason}",
                hint="Remove it from SECRETS_EXTRA_KEYS; a secret may not set the process's own variables.",
            )
    return KNOWN_KEYS | names
