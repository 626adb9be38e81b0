"""How the CLI speaks: plain lines by default, one JSON document with --json, and
errors as one line with the code and hint. Nothing here ever receives a value."""

from __future__ import annotations

import json
import sys
from typing import Any

from src.errors import SecretsError


class Output:
    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        self.document: dict[str, Any] = {}

    def line(self, text: str) -> None:
        if not self.as_json:
            print(text)

    def note(self, text: str) -> None:
        """Advice for the operator, on stderr in both modes."""
        print(text, file=sys.stderr)

    def set(self, **fields: Any) -> None:
        self.document.update(fields)

    def finish(self) -> None:
        if self.as_json:
            print(json.dumps(self.document, indent=2, sort_keys=True, default=str))


# The generic hints' stand-ins for the secret's name (src.errors); the CLI knows the real one.
NAME_SLOTS = ("<SECRET_NAME>", "<name>")


def specific(error: SecretsError) -> SecretsError:
    """The error with its hint naming the real secret where the generic hint has a stand-in."""
    if not error.secret_name or not any(slot in error.hint for slot in NAME_SLOTS):
        return error
    hint = error.hint
    for slot in NAME_SLOTS:
        hint = hint.replace(slot, error.secret_name)
    return error.with_hint(hint)


def print_error(error: SecretsError, *, as_json: bool, region: str | None = None) -> None:
    """One line (or one JSON document) with the code and hint, and the Region the command used."""
    error = specific(error)
    if as_json:
        print(json.dumps({"error": error.to_dict(), **({"region": region} if region else {})}), file=sys.stderr)
    else:
        where = f" [region {region}]" if region else ""
        print(f"error: {error.code}: {error.message} (hint: {error.hint}){where}", file=sys.stderr)
