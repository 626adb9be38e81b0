"""`python -m src.cli` in-process (src/cli/__init__.py): every command registered once, in the
order --help lists them; the common options before or after the command; the region fallback;
and the exit codes (0 done, 1 a check failed, 2 usage, 3 an error as one line)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

import boto3
import pytest

from src import cli
from tests.support.canary import canary_secret_string, leaked
from tests.support.processes import ROOT
from tests.unit.cli.helpers import NAME

COMMANDS = ["push", "verify", "describe", "rotate", "rollback", "audit", "render", "fleet"]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_is_registered_with_a_handler_in_help_order() -> None:
    parser = cli.build_parser()
    assert list(subcommands(parser)) == COMMANDS
    for name, sub in subcommands(parser).items():
        assert callable(sub.get_default("handler")), name
    listed = parser.format_help()
    assert [listed.index(f"    {name} ") for name in COMMANDS] == sorted(listed.index(f"    {n} ") for n in COMMANDS)


@pytest.mark.parametrize(
    "argv",
    [
        ["--json", "--region", "eu-west-1", "describe"],
        ["describe", "--json", "--region", "eu-west-1"],
        ["--region", "eu-west-1", "describe", "--json"],
    ],
)
def test_common_options_before_or_after_the_command(argv: list[str]) -> None:
    args = cli.build_parser().parse_args(argv)
    assert (args.json, args.region, args.debug) == (True, "eu-west-1", False)


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["no-such-command"], ["push"]):  # push needs --file
        with pytest.raises(SystemExit) as caught:
            cli.main(argv)
        assert caught.value.code == 2
    capsys.readouterr()


@pytest.fixture
def secret_in_eu_west_1(sm: Any) -> None:
    boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
        Name=NAME, SecretString=canary_secret_string()
    )


@pytest.mark.parametrize(
    ("aws_region", "aws_default_region"),
    [
        # botocore itself reads only AWS_DEFAULT_REGION: the CLI must prefer AWS_REGION, as the guide sets it.
        ("eu-west-1", "us-east-1"),
        # An empty AWS_REGION counts as unset.
        ("", "eu-west-1"),
    ],
)
def test_the_region_is_aws_region_then_aws_default_region(
    secret_in_eu_west_1: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    aws_region: str,
    aws_default_region: str,
) -> None:
    monkeypatch.setenv("AWS_REGION", aws_region)
    monkeypatch.setenv("AWS_DEFAULT_REGION", aws_default_region)
    assert cli.main(["describe", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["arn"].startswith("arn:aws:secretsmanager:eu-west-1:")


def test_region_overrides_the_environment_and_an_error_is_one_line_exit_3(
    secret_in_eu_west_1: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["describe", "--region", "us-east-1"]) == 3
    printed = capsys.readouterr()
    assert printed.out == "" and len(printed.err.splitlines()) == 1
    assert printed.err.startswith("error: ResourceNotFoundException: ") and "(hint: " in printed.err


def test_a_failed_check_exits_1_and_still_prints_its_document(sm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    sm.create_secret(Name=NAME, SecretString=canary_secret_string(OPENAI_API_KEY="sk-실제키를입력하세요"))
    assert cli.main(["verify", "--json"]) == 1
    printed = capsys.readouterr()
    assert json.loads(printed.out)["ok"] is False and leaked(printed.out, printed.err) == []


def test_an_unexpected_error_is_internal_error_without_a_traceback(
    sm: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_args: Any) -> int:
        raise KeyError("a bug")

    monkeypatch.setattr("src.cli.secret_commands.cmd_describe", broken)
    assert cli.main(["--json", "describe"]) == 3
    err = capsys.readouterr().err
    assert json.loads(err)["error"]["code"] == "InternalError" and "Traceback" not in err


def test_the_console_script_is_declared_and_installed_by_make_cli() -> None:
    # The README's commands use .venv/bin/short-cut: pyproject declares it, `make cli` installs it
    # (and `make venv`, whose layer sits on the CLI's), again when pyproject.toml changes.
    import tomllib

    from tests.support.processes import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["short-cut"] == "src.cli:main"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    cli_rule = makefile.split("$(CLI_STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "$(INSTALL) $(VENV) --no-deps -e ." in cli_rule and "pyproject.toml" in cli_rule.splitlines()[0]
    assert "$(CLI_STAMP)" in makefile.split("$(STAMP):", 1)[1].splitlines()[0]


@pytest.mark.parametrize("as_json", [False, True])
def test_outside_the_venv_the_cli_says_dependency_missing(as_json: bool) -> None:
    """`python -m src.cli` with a python that lacks the project's packages (issue 29, item 9): one
    DependencyMissing line and exit 3, not a ModuleNotFoundError traceback. -S drops site-packages."""
    argv = [sys.executable, "-S", "-m", "src.cli", *(["--json"] if as_json else []), "verify", "--env", "staging"]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and "ModuleNotFoundError" not in done.stderr
    (line,) = done.stderr.splitlines()
    if as_json:
        error = json.loads(line)["error"]
        assert error["code"] == "DependencyMissing" and ".venv/bin/short-cut" in error["hint"]
    else:
        assert line.startswith("error: DependencyMissing: the Python package ") and "make venv" in line


# --- Issue 28 item 9: one rule for the Region (src.cli.region), and every command says which it used ---


@pytest.mark.parametrize(
    ("argv", "environ", "said"),
    [
        (["describe", "--region", "eu-west-1"], {"AWS_REGION": "us-east-1"}, "eu-west-1 (from --region)"),
        (["describe"], {"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1"}, "eu-west-1 (from AWS_REGION)"),
        (["describe"], {"AWS_DEFAULT_REGION": "eu-west-1"}, "eu-west-1 (from AWS_DEFAULT_REGION)"),
    ],
)
def test_every_command_says_which_region_it_used_and_why(
    secret_in_eu_west_1: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    environ: dict[str, str],
    said: str,
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert cli.main(argv) == 0
    assert f"region: {said}" in capsys.readouterr().err
    assert cli.main([*argv, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert f"{document['region']} (from {document['region_source']})" == said


def test_no_region_anywhere_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    for command in COMMANDS:
        argv = [command] + (["--account-id", "111122223333", "--image", "r.io/a:1"] if command == "render" else [])
        argv += ["--file", "-"] if command == "push" else []
        argv += ["--key", "APP_SECRET_KEY"] if command == "rotate" else []
        assert cli.main(argv) == 3, command
        err = capsys.readouterr().err
        assert err.startswith("error: MissingRegion: ") and "AWS_REGION" in err, (command, err)


def test_an_error_names_the_region_on_its_one_line(
    secret_in_eu_west_1: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["describe", "--region", "us-east-1"]) == 3
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith("[region us-east-1 (from --region)]")
