"""How the CLI's help is laid out: one parser class for `short-cut` and every subcommand.

Contract: help text wraps only at spaces. argparse wraps with textwrap's defaults, which also break
after a hyphen and inside a word longer than the line, so an example such as
`<account>.dkr.ecr.<region>.amazonaws.com/short-cut-api:1.0.0` came out as `short-cut-` and `api:1.0.0`
on two lines, and could not be copied. A token longer than the line is left whole (the line runs
over). Defaults are written by each option's help as a trailing `(default: X)`;
tests/unit/cli/test_help.py holds every option to that form and to its real default.
"""

from __future__ import annotations

import argparse
import re
import textwrap
from typing import Any

_WHITESPACE = re.compile(r"\s+")


class HelpFormatter(argparse.HelpFormatter):
    def _split_lines(self, text: str, width: int) -> list[str]:
        text = _WHITESPACE.sub(" ", text).strip()
        return textwrap.wrap(text, width, break_on_hyphens=False, break_long_words=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        text = _WHITESPACE.sub(" ", text).strip()
        return textwrap.fill(
            text, width, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False, break_long_words=False
        )


class Parser(argparse.ArgumentParser):
    """An ArgumentParser with this module's formatter (subcommands too: `add_subparsers(parser_class=Parser)`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
