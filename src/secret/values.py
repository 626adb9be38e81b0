"""Secret value rules: one JSON value in, one environment string out, and what counts as a placeholder.

Contract:
- `normalise` turns a JSON scalar into the string that reaches `os.environ`
  (booleans `true`/`false`, numbers as written by Python); it refuses empty
  strings, NUL characters, null, arrays and objects with `InvalidSecretValue`.
- GOOGLE_APPLICATION_CREDENTIALS_JSON is the exception: an object, or a string
  holding one, with the service-account shape (`SERVICE_ACCOUNT_FIELDS`, type
  `service_account`, a PEM private key), stored as compact JSON.
- `is_placeholder` knows the operations guide's example values and the usual
  stand-ins (`changeme`, `<...>`, `...`); `placeholder_keys` names the keys holding one.
- `check_port`: MILVUS_PORT is ASCII digits from 1 to 65535.
- `example_keys` names secret-bearing values equal to the repository's example file;
  `known_example_keys` does the same without the file (the image has no `infra/`), from
  `EXAMPLE_FINGERPRINTS`, sha256 fingerprints of the file's secret-bearing values (a test
  keeps them equal to the file). A staging/production service reports such values.
- `credentials` sorts one secret's values for the log mask: credentials (the API keys,
  APP_SECRET_KEY, the service account's private_key and private_key_id, and every key
  the operator listed in SECRETS_EXTRA_KEYS) and the private key's PEM body lines; not the
  values of keys the service ignores (never applied, never logged). Identifiers (`IDENTIFIER_KEYS`, the other
  service-account fields) are none of these: they are not masked.
- No message names a value, only its key and what is wrong with it.

Part of `src.secret.payload` (which re-exports these names); standard library only, so the
rotation Lambda can import it.

(A little over 250 lines: one rule per value kind, each short, plus the fingerprint table
`EXAMPLE_FINGERPRINTS`; they share the placeholder and service-account helpers.)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from src.errors import ErrorCode, SecretsError
from src.secret.json_object import check_nesting
from src.secret.keys import KNOWN_KEYS, SECRET_BEARING_KEYS, SERVICE_ACCOUNT_KEY

SERVICE_ACCOUNT_FIELDS = ("type", "project_id", "private_key", "client_email")
SECRET_BEARING_SA_FIELDS = ("private_key", "private_key_id")
# Known keys whose values identify things, not grant access: never masked in logs.
IDENTIFIER_KEYS: frozenset[str] = KNOWN_KEYS - SECRET_BEARING_KEYS - {SERVICE_ACCOUNT_KEY}
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
_ANGLE_PLACEHOLDER = re.compile(r"<[^<>]*>")
_ASCII_PORT = re.compile(r"[0-9]{1,5}")


def is_placeholder(value: str) -> bool:
    text = value.strip()
    if text in GUIDE_PLACEHOLDERS or "입력하세요" in text:
        return True
    if text.lower() == "changeme" or (text and set(text) == {"."}):
        return True
    return bool(_ANGLE_PLACEHOLDER.fullmatch(text))


def _service_account_json(value: Any, secret_name: str | None) -> str:
    def invalid(why: str) -> SecretsError:
        return SecretsError(ErrorCode.InvalidSecretValue, f"{SERVICE_ACCOUNT_KEY} {why}", secret_name=secret_name)

    if isinstance(value, str):
        check_nesting(value, secret_name, what=SERVICE_ACCOUNT_KEY)
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


def fits_environment(value: str) -> bool:
    """Whether os.environ and a UTF-8 file can hold `value`: no NUL, and no lone surrogate
    (JSON's "\ud800" escape decodes to one: valid to json.loads, yet it fails an apply half-way)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def normalise(key: str, value: Any, secret_name: str | None) -> str:
    """The string `key`'s JSON `value` becomes in the environment; raises InvalidSecretValue."""
    text = _normalise(key, value, secret_name)
    if not fits_environment(text):
        raise SecretsError(
            ErrorCode.InvalidSecretValue, f"{key} holds a lone surrogate, which is not text", secret_name=secret_name
        )
    return text


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
            raise SecretsError(ErrorCode.InvalidSecretValue, f"{key} is empty", secret_name=secret_name)
        if "\x00" in value:
            raise SecretsError(ErrorCode.InvalidSecretValue, f"{key} holds a NUL character", secret_name=secret_name)
        return value
    kind = "null" if value is None else type(value).__name__
    raise SecretsError(
        ErrorCode.InvalidSecretValue,
        f"{key} is a JSON {kind}; values are strings, numbers or booleans",
        secret_name=secret_name,
    )


def check_port(values: Mapping[str, str]) -> None:
    port = values.get("MILVUS_PORT")
    if port is None or is_placeholder(port):
        return
    # ASCII digits only: str.isdigit() accepts "²" and other scripts' digits, which int() or
    # the typed config would then refuse after the payload had been accepted.
    if not _ASCII_PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
        raise SecretsError(ErrorCode.InvalidSecretValue, "MILVUS_PORT must be a whole number from 1 to 65535")


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
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Credentials:
    """One secret's values as the log mask sees them. Repr shows counts only."""

    values: tuple[str, ...] = ()
    pem_lines: tuple[str, ...] = ()
    # The key each of `values` came from (`KEY.private_key` for a service-account field): what a
    # refusal names, never a value.
    names: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Credentials(values={len(self.values)}, pem_lines={len(self.pem_lines)})"


def credentials(values: Mapping[str, str], *, extra: frozenset[str] = frozenset()) -> Credentials:
    """Which of `values` (one parsed secret, applied or ignored keys alike) are credentials.

    `extra` is the operator's SECRETS_EXTRA_KEYS: listing a key there marks it as a credential
    (the service cannot tell what a key it does not know holds). Any other unknown key is
    ignored by the service (never applied, never logged) and is not a credential; identifiers
    are none either.
    """
    found: list[str] = []
    names: list[str] = []
    pem: list[str] = []
    for key, value in values.items():
        if key in SECRET_BEARING_KEYS or key in extra:
            found.append(value)
            names.append(key)
        elif key == SERVICE_ACCOUNT_KEY:
            fields = _sa_fields(value)
            for name in SECRET_BEARING_SA_FIELDS:
                if isinstance(v := fields.get(name), str):
                    found.append(v)
                    names.append(f"{key}.{name}")
            key_text = fields.get("private_key")
            if isinstance(key_text, str):
                pem += [line.strip() for line in key_text.splitlines() if line.strip() and "-----" not in line]
            if not fields:
                found.append(value)  # a placeholder string, or not an object: mask it whole
                names.append(key)
    return Credentials(tuple(found), tuple(pem), tuple(names))


# sha256 of the secret-bearing values of infra/iam/secret-structure-example.json, which the
# image does not carry. tests/unit/test_payload_examples.py keeps them equal to the file.
EXAMPLE_FINGERPRINTS: Mapping[str, str] = MappingProxyType(
    {
        "APP_SECRET_KEY": "8b06c8e02e7a1ae95b841d3e02bccc68407ad0fc659023790f161737f91815e5",
        "OPENAI_API_KEY": "4a7f70bf4e24b3cf9c83d423191090b79614c23adb847de86042b369e736ef95",
        "PINECONE_API_KEY": "b1436b9fa65e38b8940721e29127e3417ff3e1ba7a98c2465ec11f85ab757c61",
        f"{SERVICE_ACCOUNT_KEY}.private_key": "b85d675ee1351f14b336f892d16a322f930cc011022affb9b4e837192323dd9a",
        f"{SERVICE_ACCOUNT_KEY}.private_key_id": "9692e67b8378a6f6753f97782d458aa757e947eab2fbdf6b5c187b74561eb78f",
    }
)


def example_fingerprints(values: Mapping[str, str]) -> dict[str, str]:
    """sha256 of each secret-bearing value in `values`, named as `example_keys` names them."""

    def digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    found = {key: digest(values[key]) for key in SECRET_BEARING_KEYS if key in values}
    fields = _sa_fields(values.get(SERVICE_ACCOUNT_KEY))
    found.update(
        {
            f"{SERVICE_ACCOUNT_KEY}.{name}": digest(fields[name])
            for name in SECRET_BEARING_SA_FIELDS
            if isinstance(fields.get(name), str)
        }
    )
    return found


def known_example_keys(values: Mapping[str, str]) -> list[str]:
    """`example_keys` against the repository's example file, known by its fingerprints."""
    found = example_fingerprints(values).items()
    return sorted(key for key, digest in found if EXAMPLE_FINGERPRINTS.get(key) == digest)
