"""A small evaluator of identity policies with IAM's own wildcard rules, for tests.

IAM matches `*` against any run of characters (none included) and `?` against
exactly one, in both Action and Resource; action names are case-insensitive.
An explicit Deny wins; otherwise any matching Allow allows.
"""

from __future__ import annotations

import re
from typing import Any


def _pattern(glob: str, *, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    flags = (re.IGNORECASE if ignore_case else 0) | re.DOTALL
    return re.compile(f"^{body}$", flags)


def _as_list(value: Any) -> list[str]:
    return value if isinstance(value, list) else [value]


def _matches(statement: dict[str, Any], action: str, resource: str) -> bool:
    actions = _as_list(statement.get("Action", []))
    resources = _as_list(statement.get("Resource", []))
    return any(_pattern(a, ignore_case=True).match(action) for a in actions) and any(
        _pattern(r, ignore_case=False).match(resource) for r in resources
    )


def allowed(policy: dict[str, Any], action: str, resource: str) -> bool:
    """Conditions are not evaluated: a conditional Allow counts as an Allow (the stricter reading for tests)."""
    raw = policy["Statement"]
    statements: list[dict[str, Any]] = raw if isinstance(raw, list) else [raw]
    if any(s["Effect"] == "Deny" and _matches(s, action, resource) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and _matches(s, action, resource) for s in statements)
