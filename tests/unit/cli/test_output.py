"""The CLI's two voices: lines on stdout, or one JSON document; advice and errors on stderr."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from src.cli.output import Output, print_error
from src.errors import ErrorCode, SecretsError


def test_text_mode_prints_lines_and_no_document(capsys: pytest.CaptureFixture[str]) -> None:
    out = Output(as_json=False)
    out.line("one")
    out.set(secret_name="x")
    out.note("advice")
    out.finish()
    printed = capsys.readouterr()
    assert printed.out == "one\n"
    assert printed.err == "advice\n"


def test_json_mode_prints_one_sorted_document_and_no_lines(capsys: pytest.CaptureFixture[str]) -> None:
    out = Output(as_json=True)
    out.line("one")
    out.set(zeta=1, last_changed=datetime(2026, 5, 1, tzinfo=UTC))
    out.set(alpha=[1, 2])
    out.note("advice")  # advice stays on stderr, so stdout is only the document
    out.finish()
    printed = capsys.readouterr()
    assert json.loads(printed.out) == {"alpha": [1, 2], "last_changed": "2026-05-01 00:00:00+00:00", "zeta": 1}
    assert printed.out.index('"alpha"') < printed.out.index('"zeta"')
    assert printed.err == "advice\n"


def test_errors_are_one_line_with_code_and_hint(capsys: pytest.CaptureFixture[str]) -> None:
    error = SecretsError(
        ErrorCode.NoPreviousVersion, "short-cut/prod/app has no version labelled AWSPREVIOUS", hint="Look."
    )
    print_error(error, as_json=False)
    assert capsys.readouterr().err == (
        "error: NoPreviousVersion: short-cut/prod/app has no version labelled AWSPREVIOUS (hint: Look.)\n"
    )
    print_error(error, as_json=True)
    printed = capsys.readouterr()
    assert printed.out == "" and len(printed.err.splitlines()) == 1
    assert json.loads(printed.err) == {"error": error.to_dict()}
    assert json.loads(printed.err)["error"]["code"] == "NoPreviousVersion"
