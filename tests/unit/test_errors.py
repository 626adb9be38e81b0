"""Error codes: one StrEnum, a specific hint for each, and no code raised that is not a member."""

from __future__ import annotations

import ast
import json

import pytest

from src.errors import DEFAULT_HINT, HINT_SLOTS, HINTS, UNFILLED, ErrorCode, SecretsError, fill_hint, filled
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


# -- no hint holds an unfilled <placeholder> (issue 27) -----------------------------------------

SERVICE = {"secret_name": "short-cut/prod/app", "region": "eu-west-1"}
CLI = {**SERVICE, "version_id": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111", "key": "OPENAI_API_KEY"}


@pytest.mark.parametrize("code", list(ErrorCode), ids=str)
@pytest.mark.parametrize("context", [SERVICE, CLI, {}], ids=["service", "cli", "no-context"])
def test_every_hint_rendered_where_it_is_reported_has_no_unfilled_slot(
    code: ErrorCode, context: dict[str, str]
) -> None:
    """The service fills a hint from what it loads (the secret, its Region: SecretsBootstrapper's
    failure recording), the CLI from its target (src.cli.output); a stand-in no context fills
    becomes words. Either way no `<...>` is left for an operator to puzzle over."""
    rendered = fill_hint(code.hint, **context)
    assert UNFILLED.search(rendered) is None, rendered
    for slot, (name, _) in HINT_SLOTS.items():
        if slot in code.hint and context.get(name):
            assert context[name] in rendered


def test_the_slot_pattern_finds_what_it_must() -> None:
    for text in ("<name>", "<SECRET_NAME>", "<64 hex>", "<...>", "x <id> y"):
        assert UNFILLED.search(text) is not None, text
    assert UNFILLED.search("a < b and c > d") is None


def _hint_texts() -> list[tuple[str, str]]:
    """Every hint written in src/: `hint=` arguments and *HINT* constants, their literal parts."""
    found = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        values: list[ast.AST] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "hint":
                values.append(node.value)
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and "HINT" in t.id for t in node.targets):
                values.append(node.value)
            elif isinstance(node, ast.FunctionDef) and node.name.startswith(("_hint", "hint")):
                values.extend(node.body)
        for value in values:
            for part in ast.walk(value):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    found.append((f"{path.relative_to(ROOT)}:{part.lineno}", part.value))
    return found


def test_no_hint_written_in_src_holds_a_placeholder() -> None:
    texts = _hint_texts()
    assert len(texts) > 40  # the scan finds them (the events' HINT, render's IMAGE_HINT, fleet's hints, ...)
    assert [(where, text) for where, text in texts if UNFILLED.search(text)] == []


def test_the_other_hints_are_clean_when_rendered() -> None:
    from src.cli.fleet.query import FLEET_HINTS
    from src.cli.render import IMAGE_HINT
    from src.events.sqs import HINT as EVENTS_HINT
    from src.secret.status import SecretStatus

    rendered = [IMAGE_HINT, EVENTS_HINT, *(hint("/ecs/short-cut-api") for hint in FLEET_HINTS.values())]
    for source in ("environment", "aws-secrets-manager"):
        problem = SecretStatus(loaded=True, source=source, missing=("OPENAI_API_KEY",)).problem
        assert problem is not None
        rendered.append(problem.hint)
    assert [text for text in rendered if UNFILLED.search(text)] == []


def test_filled_names_the_real_secret_and_region_and_keeps_the_code() -> None:
    error = SecretsError(ErrorCode.AccessDeniedException, "denied")
    found = filled(error, region="eu-west-1", secret_names=("short-cut/prod/app",))
    assert found.code == "AccessDeniedException" and found.message == "denied"
    assert ":secret:short-cut/prod/app-XXXXXX" in found.hint and found.secret_name == "short-cut/prod/app"
    kms = filled(SecretsError(ErrorCode.DecryptionFailure, "x"), region="eu-west-1")
    assert "secretsmanager.eu-west-1.amazonaws.com" in kms.hint
    plain = SecretsError(ErrorCode.ForbiddenKey, "x")
    assert filled(plain, region="eu-west-1") is plain  # nothing to fill: the same error
    several = filled(error, secret_names=("a", "b"))
    assert "<" not in several.hint and several.secret_name is None  # two secrets: words, not a guess
