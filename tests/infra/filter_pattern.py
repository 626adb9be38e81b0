"""CloudWatch Logs JSON filter patterns, evaluated as "Filter and pattern syntax" (CloudWatch Logs
user guide, "Using filter patterns to match terms in JSON log events") describes them.

moto implements no JSON filter pattern (its EventMessageFilter treats `{ ... }` as unsupported and
has no TestMetricFilter), so the stack's metric-filter patterns are judged here. The subset:
`{ SELECTOR OP VALUE }` where SELECTOR is `$.a.b`, `$.a[0]`; OP is `=`, `!=` (strings, `*` wildcard,
numbers) or `<`, `>`, `<=`, `>=` (numbers); `IS TRUE|FALSE|NULL`, `NOT EXISTS`; `&&`, `||` and
parentheses. A line that is not a JSON object matches no JSON pattern.
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<paren>[()])|(?P<logic>&&|\|\|)"
    r"|(?P<test>\$(?:\.[A-Za-z_][\w-]*|\[\d+\])+\s*"
    r"(?:IS\s+(?:TRUE|FALSE|NULL)|NOT\s+EXISTS|(?:!=|<=|>=|=|<|>)\s*(?:\"[^\"]*\"|[^\s()&|]+))))"
)
MISSING = object()


def matches(pattern: str, line: str) -> bool:
    body = pattern.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise ValueError(f"not a JSON filter pattern: {pattern}")
    try:
        event = json.loads(line)
    except ValueError:
        return False
    if not isinstance(event, dict):
        return False
    tokens = _tokens(body[1:-1])
    result, rest = _or(tokens, event)
    if rest:
        raise ValueError(f"unexpected {rest[0]!r} in {pattern}")
    return result


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while text[position:].strip():
        match = TOKEN.match(text, position)
        if match is None:
            raise ValueError(f"cannot read {text[position:]!r}")
        tokens.append(match.group(0).strip())
        position = match.end()
    return tokens


def _or(tokens: list[str], event: dict[str, Any]) -> tuple[bool, list[str]]:
    left, tokens = _and(tokens, event)
    while tokens and tokens[0] == "||":
        right, tokens = _and(tokens[1:], event)
        left = left or right
    return left, tokens


def _and(tokens: list[str], event: dict[str, Any]) -> tuple[bool, list[str]]:
    left, tokens = _term(tokens, event)
    while tokens and tokens[0] == "&&":
        right, tokens = _term(tokens[1:], event)
        left = left and right
    return left, tokens


def _term(tokens: list[str], event: dict[str, Any]) -> tuple[bool, list[str]]:
    if not tokens:
        raise ValueError("a condition is missing")
    if tokens[0] == "(":
        value, rest = _or(tokens[1:], event)
        if not rest or rest[0] != ")":
            raise ValueError("unbalanced parentheses")
        return value, rest[1:]
    return _test(tokens[0], event), tokens[1:]


def _select(selector: str, event: dict[str, Any]) -> Any:
    value: Any = event
    for name, index in re.findall(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]", selector[1:]):
        if name and isinstance(value, dict) and name in value:
            value = value[name]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return MISSING
    return value


def _test(test: str, event: dict[str, Any]) -> bool:
    selector, rest = re.match(r"(\$\S*?)\s*((?:IS|NOT|!=|<=|>=|=|<|>).*)", test).groups()  # type: ignore[union-attr]
    value = _select(selector, event)
    if rest.startswith("NOT"):
        return value is MISSING
    if rest.startswith("IS"):
        expected = {"TRUE": True, "FALSE": False, "NULL": None}[rest.split()[-1]]
        return value is not MISSING and value is expected
    op, operand = re.match(r"(!=|<=|>=|=|<|>)\s*(.*)", rest).groups()  # type: ignore[union-attr]
    if value is MISSING:
        return False
    if operand.startswith('"') or not re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", operand):
        if op not in ("=", "!="):
            raise ValueError(f"{op} needs a number: {test}")
        text = operand.strip('"')
        equal = isinstance(value, str) and fnmatch.fnmatchcase(value, text.replace("[", "[[]"))
        return equal if op == "=" else not equal
    if isinstance(value, bool) or not isinstance(value, int | float):
        return op == "!="
    number = float(operand)
    return {
        "=": value == number,
        "!=": value != number,
        "<": value < number,
        ">": value > number,
        "<=": value <= number,
        ">=": value >= number,
    }[op]
