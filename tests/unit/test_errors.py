"""Error codes: one StrEnum, a specific hint for each, and no code raised that is not a member."""

from __future__ import annotations

import ast
import json

import pytest

from src.errors import DEFAULT_HINT, HINTS, ErrorCode, SecretsError
from tests.support.processes import ROOT


def test_every_member_has_a_specific_hint() -> None:
    hints = [code.hint for code in ErrorCode]
    assert all(h and h.strip() and h != DEFAULT_HINT for h in hints)
    assert len(set(hints)) == len(hints), "two codes share one hint"
    assert dict(HINTS) == {code.value: code.hint for code in ErrorCode}


@pytest.mark.parametrize("code", ["PlaceholderLeft", "RotationNotEnabled", "UnknownVersion", "VersionNotPending"])
def test_codes_that_once_fell_back_to_the_aws_hint_have_their_own(code: str) -> None:
    member = ErrorCode.__members__[code]
    assert SecretsError(member, "x").hint == member.hint != DEFAULT_HINT


def raised_codes() -> list[tuple[str, int, str]]:
    """Every SecretsError(...) call in src/: (file, line, how its code is given)."""
    calls = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "SecretsError":
                calls.append((str(path.relative_to(ROOT)), node.lineno, ast.unparse(node.args[0])))
    return calls


def test_every_code_raised_in_src_is_a_member() -> None:
    calls = raised_codes()
    assert len(calls) > 40
    for file, line, given in calls:
        prefix, _, name = given.partition(".")
        assert prefix == "ErrorCode" and name in ErrorCode.__members__, f"{file}:{line} raises {given}"


def test_aws_codes_pass_through_with_their_spelling() -> None:
    known = SecretsError.from_aws("AccessDeniedException", "denied")
    assert known.code == "AccessDeniedException" and known.hint == ErrorCode.AccessDeniedException.hint
    novel = SecretsError.from_aws("SomethingNew", "new")
    assert novel.code == "SomethingNew" and novel.hint == DEFAULT_HINT


def test_the_wire_format_is_the_plain_string() -> None:
    error = SecretsError(ErrorCode.Timeout, "slow")
    assert json.dumps(error.to_dict()).startswith('{"code": "Timeout"')
    assert str(error) == "Timeout: slow" and type(error.code) is str
    assert error.with_hint("look elsewhere").to_dict() == {
        "code": "Timeout",
        "message": "slow",
        "hint": "look elsewhere",
    }
