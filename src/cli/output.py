"""How the CLI speaks: plain lines by default, one JSON document with --json, and
errors as one line with the code and hint. Nothing here ever receives a value."""

from __future__ import annotations

import json
import sys
from typing import Any

from src.errors import SecretsError, filled


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


def specific(error: SecretsError, *, region: str | None = None) -> SecretsError:
    """The error with its hint's stand-ins (src.errors.HINT_SLOTS) filled: the real secret and Region."""
    return filled(error, region=region)


def one_line(text: str) -> str:
    """`text` with every run of whitespace (line breaks included) as one space: an error is one line."""
    return " ".join(str(text).split())


def print_error(error: SecretsError, *, as_json: bool, region: str | None = None, said: str | None = None) -> None:
    """One line (or one JSON document) with the code and the hint, its stand-ins filled with the real
    secret and `region`; `said` is the Region the command used and why (src.cli.region), if resolved."""
    error = specific(error, region=region)
    if as_json:
        document = {"error": {key: one_line(value) for key, value in error.to_dict().items()}}
        print(json.dumps({**document, **({"region": said} if said else {})}), file=sys.stderr)
    else:
        where = f" [region {said}]" if said else ""
        print(one_line(f"error: {error.code}: {error.message} (hint: {error.hint})") + where, file=sys.stderr)
