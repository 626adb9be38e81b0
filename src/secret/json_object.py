"""Reading a SecretString: at most 64 KiB, UTF-8, strict JSON, and a JSON object.

Contract:
- `read_object` takes what Secrets Manager returned (text or bytes) and gives the
  decoded JSON object, or raises `SecretsError`: InvalidSecretJSON for no
  SecretString, an empty, non-UTF-8 or invalid document, a repeated key, NaN or
  Infinity, or anything but an object; InvalidSecretValue for more than
  `MAX_PAYLOAD_BYTES`.
- `load_object` is the JSON step alone, for text already in hand.
- Nesting deeper than `MAX_NESTING_DEPTH` is InvalidSecretJSON, judged by counting
  brackets outside strings, iteratively, before the decoder runs: the verdict does not
  depend on how deep the caller's stack is (the recursive decoder's would: a version that
  parsed in a worker thread could overflow on the event loop's deeper stack).
- The JSON decoder's own messages quote the input around the error: they are never
  passed on, and a repeated key is named only if it is a valid key name.

Part of `src.secret.payload` (which re-exports these names); standard library only, so the
rotation Lambda can import it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from src.errors import ErrorCode, SecretsError
from src.secret.keys import safe_key

# Secrets Manager's own limit for a secret value.
MAX_PAYLOAD_BYTES = 65536
# A service-account key is two levels deep (the secret, the key object): 32 is ample, and
# far below any recursion limit whatever the stack under the caller.
MAX_NESTING_DEPTH = 32
# An escape pair, removed first; then a string literal (skipped whole: brackets inside it are
# text) or a bracket. Both patterns are linear: no backtracking, whatever the input.
_ESCAPE = re.compile(r"\\.", re.DOTALL)
_STRING_OR_BRACKET = re.compile(r'"[^"]*"|[\[\]{}]')


def nesting_depth(raw: str, *, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in `raw`, without recursion (counting stops
    once it passes `stop_above`)."""
    depth = deepest = 0
    for token in _STRING_OR_BRACKET.finditer(_ESCAPE.sub("", raw)):
        char = token.group(0)
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if stop_above is not None and deepest > stop_above:
                break
        elif char in "]}":
            depth -= 1
    return deepest


def check_nesting(raw: str, secret_name: str | None, *, what: str = "the secret") -> None:
    if nesting_depth(raw, stop_above=MAX_NESTING_DEPTH) > MAX_NESTING_DEPTH:
        raise SecretsError(
            ErrorCode.InvalidSecretJSON,
            f"{what} nests arrays or objects more than {MAX_NESTING_DEPTH} deep",
            secret_name=secret_name,
        )


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise SecretsError(ErrorCode.InvalidSecretJSON, f"the JSON object repeats the key {safe_key(key)}")
        seen[key] = value
    return seen


def _reject_constant(name: str) -> Any:
    raise SecretsError(ErrorCode.InvalidSecretJSON, f"the JSON holds {name}, which is not valid JSON")


def load_object(raw: str, secret_name: str | None) -> dict[str, Any]:
    check_nesting(raw, secret_name)
    try:
        data = json.loads(raw, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except SecretsError as exc:
        exc.secret_name = secret_name
        raise
    except (ValueError, RecursionError):
        # The decoder's message quotes the input around the error: never pass it on.
        raise SecretsError(
            ErrorCode.InvalidSecretJSON, "the secret is not valid JSON", secret_name=secret_name
        ) from None
    if not isinstance(data, dict):
        kind = "null" if data is None else type(data).__name__
        raise SecretsError(
            ErrorCode.InvalidSecretJSON, f"the secret is a JSON {kind}, not an object", secret_name=secret_name
        )
    return data


def read_object(raw: str | bytes | None, secret_name: str | None) -> dict[str, Any]:
    if raw is None:
        raise SecretsError(ErrorCode.InvalidSecretJSON, "the secret has no SecretString", secret_name=secret_name)
    if isinstance(raw, bytes):
        if len(raw) > MAX_PAYLOAD_BYTES:
            raise SecretsError(
                ErrorCode.InvalidSecretValue,
                f"the secret is larger than {MAX_PAYLOAD_BYTES} bytes",
                secret_name=secret_name,
            )
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretsError(
                ErrorCode.InvalidSecretJSON, "the secret is not UTF-8 text", secret_name=secret_name
            ) from None
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_PAYLOAD_BYTES:
        raise SecretsError(
            ErrorCode.InvalidSecretValue,
            f"the secret is larger than {MAX_PAYLOAD_BYTES} bytes",
            secret_name=secret_name,
        )
    if not raw.strip():
        raise SecretsError(ErrorCode.InvalidSecretJSON, "the secret is empty", secret_name=secret_name)
    return load_object(raw, secret_name)
