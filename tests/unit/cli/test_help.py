"""`short-cut --help` and every subcommand's help (issue 32 §4): defaults stated one way, and no
token broken across lines.

Contract:
- an option whose help speaks of a default says it once, last, as `(default: X)`; an option with a
  default value (not None, not a flag's False) says it, and X starts with that value as the
  command line would spell it (`180`, not `180.0`). `--region`'s wording belongs to the CLI's
  region rule (src.app_env) and is held to the form only;
- the help of every parser, at any terminal width, holds every word of its texts whole: argparse's
  textwrap broke `short-cut-api:1.0.0` after its first hyphen (src.cli.help).
"""

from __future__ import annotations

import argparse
import re

import pytest

from src.cli import build_parser
from src.cli.help import HelpFormatter

DEFAULT_FORM = re.compile(r"\(default: (?P<value>[^()]+)\)$")
# Defaults the help names in words instead of by value, and why.
IN_WORDS = {"--root": "the checkout the command runs from (a path known only at run time)"}


def parsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"short-cut": parser, **{f"short-cut {name}": sub for name, sub in commands.choices.items()}}


def options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.help not in (None, argparse.SUPPRESS)]


def spelled(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def default_problems(name: str, action: argparse.Action) -> list[str]:
    option, text = action.option_strings[-1], str(action.help)
    problems = []
    said = DEFAULT_FORM.search(text)
    if "default" in text and (said is None or text.count("default") != 1):
        problems.append(f"{name} {option}: a default not written as a trailing (default: X): {text!r}")
    has_default = action.default not in (None, False, argparse.SUPPRESS) and not isinstance(action.default, list)
    stated = said is not None and said["value"].startswith(spelled(action.default))
    if has_default and option not in IN_WORDS and not stated:
        problems.append(f"{name} {option}: default {spelled(action.default)!r} not stated as (default: ...)")
    return problems


def test_every_default_is_stated_the_same_way() -> None:
    problems = [p for name, parser in parsers().items() for a in options(parser) for p in default_problems(name, a)]
    assert problems == []


def test_the_rule_itself() -> None:
    def action(default: object, text: str) -> argparse.Action:
        return argparse.Action(["--x"], "x", default=default, help=text)

    assert default_problems("t", action(15.0, "seconds (default: 15)")) == []
    assert default_problems("t", action(None, "name (default: short-cut/<env>/app)")) == []
    assert default_problems("t", action(False, "a flag")) == []
    assert len(default_problems("t", action(15.0, "seconds (default 15)"))) == 2
    assert len(default_problems("t", action("1h", "window (default: 2h)"))) == 1
    assert len(default_problems("t", action("prod", "environment"))) == 1
    assert len(default_problems("t", action(None, "(default: a) or (default: b)"))) == 1


def texts(parser: argparse.ArgumentParser) -> list[str]:
    return [t for t in (parser.description, *(a.help for a in parser._actions)) if t and t != argparse.SUPPRESS]


@pytest.mark.parametrize("width", [40, 60, 80, 100, 160])
def test_help_never_breaks_a_word(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(width))  # argparse's HelpFormatter reads the width from it
    for name, parser in parsers().items():
        assert parser.formatter_class is HelpFormatter, name
        shown = set(parser.format_help().split())
        words = {w for text in texts(parser) for w in text.split() if "%" not in w}
        broken = sorted(w for w in words if w not in shown)
        assert broken == [], f"{name} --help at {width} columns breaks {broken}"
