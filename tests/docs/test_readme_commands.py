"""The documentation's command blocks are tests (issue 21 §3, issue 32 §3): what a user types on a
laptop runs here, against moto_server, in a fresh copy of the repository, so a change to the README
or to a page under docs/ that breaks a command fails `make test`. The documents are README.md and
the site's pages in reading order (tests/support/readme_blocks.documents); "the README" below is any
of them.

Contract:
- every shell block of README.md carries a marker (`<!-- test: run -->`, `<!-- test: compose -->`,
  `<!-- illustration: <why> -->`, or `<!-- test: run; illustration: <command>, ... (<why>) -->`;
  tests/support/readme_blocks.py says what each means); a block with none fails
  `test_every_shell_block_is_marked`;
- every `test: run` block runs command by command in a copy of the work tree (committed in a git
  repository of its own, the venvs linked in as `make run` / `make test` leave them) with a user's
  environment: the system PATH without any venv activated plus the AWS CLI, an empty HOME, dummy
  credentials, `AWS_REGION=us-east-1` and `AWS_ENDPOINT_URL` (botocore's one switch for every
  service, https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html) pointing at a
  moto_server on loopback. Each command must exit 0 within its timeout; `make run` must answer 200
  on /health and is stopped; no canary value may appear in any output;
- `test: compose` blocks name services and profiles docker-compose.yml has, and podman-compose
  reads the file with those options; `make container-test` (podman, minutes) brings each of their
  commands up on the built image and probes /health (tests/container/test_readme_compose.py);
- what the harness supplies in place of the user is listed here: the `<placeholder>` values, the
  seeded secrets (a user's account has them after step 2), the log group (step 1's stack creates
  it), `secrets-values.json` with valid non-example values (a user writes it), an S3 bucket for the
  Lambda zip, and `PORT`/`HOST` so the server `make run` starts binds a free loopback port;
- blocks run in the README's order and share the emulator, as a user's account carries state from
  one step to the next.

Why not a plugin. Both were downloaded from PyPI and read (pytest-codeblocks 0.18.0,
pytest-markdown-docs 0.9.2):
- pytest-markdown-docs collects only Python fences (`py`, `python`, `python3`) and runs them with
  `exec`; the README's blocks are shell, so it would test none of them.
- pytest-codeblocks runs `sh`/`bash` fences with `subprocess.run(shell=True, check=True)` in pytest's
  own directory and environment, with no timeout and no fixtures (its items are plain
  `pytest.Item`s): no moto_server, no clean copy, no dummy credentials, and `make run` would block
  forever. An unmarked block is simply run, so it cannot require every block to say whether it is
  run, and its marks are Python expressions passed to `eval`.
Both would still need this harness around them, so it reads the README with markdown-it-py (the
CommonMark parser pytest-markdown-docs itself uses, already installed through rich, pinned in
requirements-dev.txt) and runs the blocks itself: about 200 lines in tests/support/readme_blocks.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.support import canary
from tests.support.processes import DUMMY_CREDENTIALS, ROOT, free_port, moto_client_kwargs, running_moto
from tests.support.readme_blocks import (
    COMPOSE,
    ILLUSTRATION,
    RUN,
    Block,
    MarkerError,
    compose_arguments,
    compose_services,
    documents,
    parse,
    parse_documents,
    run_block,
    split_commands,
    substitute,
)
from tests.support.repo_copy import copy_work_tree

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account id
BUCKET = "short-cut-readme-lambda"
TIMEOUT = 60.0  # per command; `make lambda`, a CLI call or `make run` to a 200 take seconds
SEEDED = ("short-cut/prod/app", "short-cut/staging/app")
LOG_GROUP = "/ecs/short-cut-api"

# What a user would type in place of each <placeholder> of a runnable command.
PLACEHOLDERS = {
    "<bucket>": BUCKET,
    "<account>": ACCOUNT,
    "<ACCOUNT_ID>": ACCOUNT,
    "<REGION>": REGION,
    "<region>": REGION,
    "<cluster>": "short-cut",
    "<ECR_URI>": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/short-cut-api",
    "<tag>": "1.0.0",
    "<subnet-a>": "subnet-0aaaaaaaaaaaaaaa1",
    "<subnet-b>": "subnet-0bbbbbbbbbbbbbbb2",
    "<sg>": "sg-0ccccccccccccccc3",
    "<on-call>": "on-call@example.com",
}


def _blocks() -> list[Block]:
    try:
        return parse_documents(ROOT)
    except MarkerError:
        return []  # test_every_shell_block_is_marked names the block


BLOCKS = _blocks()


def _ids(blocks: list[Block]) -> list[str]:
    return [b.where for b in blocks]


def test_every_shell_block_is_marked() -> None:
    blocks = parse_documents(ROOT)  # MarkerError names the unmarked block and its document
    assert any(b.mode == RUN for b in blocks)
    for block in blocks:
        assert block.reason if block.mode == ILLUSTRATION else all(rule.reason for rule in block.rules), block


def test_every_document_is_read() -> None:
    """README.md and every page under docs/, each once: a new page's blocks cannot go unread."""
    read = [path.relative_to(ROOT).as_posix() for path in documents(ROOT)]
    pages = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md"))
    assert read[0] == "README.md" and sorted(read[1:]) == pages and len(set(read)) == len(read)
    assert {b.source for b in BLOCKS if b.mode == RUN} >= {"README.md", "docs/deploying.md", "docs/operations.md"}


def test_a_page_names_itself_in_its_errors() -> None:
    with pytest.raises(MarkerError, match=r"docs/health.md:1: a shell block without a marker"):
        parse("```sh\nmake run\n```\n", "docs/health.md")


def cli_commands() -> set[str]:
    from src.cli import build_parser

    parser = build_parser()
    [commands] = [a for a in parser._actions if a.choices and a.dest == "command"]  # argparse keeps them here
    assert isinstance(commands.choices, dict)
    return set(commands.choices)


def test_every_cli_command_runs_in_some_block() -> None:
    """The issue's "each CLI command": each subcommand appears in a command that a run block runs."""
    ran = " ".join(command for block in BLOCKS if block.mode == RUN for command in block.runnable())
    words = set(re.findall(r"(?:src\.cli|short-cut)\s+([a-z-]+)", ran))
    missing = cli_commands() - words
    assert missing == set(), f"CLI commands no run block of the documentation runs: {sorted(missing)}"


def user_path() -> str:
    """The PATH of a user who has not activated any venv: this repository's venvs taken out."""
    entries = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(e for e in entries if e and not Path(e).resolve().is_relative_to(ROOT.resolve()))


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_moto(tmp_path_factory.mktemp("readme-moto")) as url:
        yield url


def aws_client(service: str, url: str) -> Any:
    return boto3.client(service, **moto_client_kwargs(url, REGION))  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory, moto: str) -> Path:
    """A fresh copy of the work tree, and the account state a user has when they reach a block."""
    target = copy_work_tree(tmp_path_factory.mktemp("readme"))
    # The clone's .venv is a link to this one: a make target that would install into it must not run.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}  # not the outer make's
    plan = subprocess.run(["make", "-n", "run"], cwd=target, env=env, capture_output=True, text=True, check=False)
    if "scripts/install.sh" in plan.stdout:
        pytest.fail("the venv is older than requirements-*.txt: run `make venv` before these tests")
    secrets = aws_client("secretsmanager", moto)
    for name in SEEDED:
        secrets.create_secret(Name=name, SecretString=canary.canary_secret_string())
    aws_client("s3", moto).create_bucket(Bucket=BUCKET)
    aws_client("logs", moto).create_log_group(logGroupName=LOG_GROUP)  # step 1's stack creates it
    return target


@pytest.fixture
def user_env(moto: str, clone: Path, tmp_path: Path) -> dict[str, str]:
    tools = tmp_path / "tools"
    tools.mkdir()
    aws_cli = ROOT / ".venv-infra" / "bin" / "aws"  # a user's own AWS CLI; make test installs this one
    if aws_cli.exists():
        (tools / "aws").symlink_to(aws_cli)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": f"{tools}{os.pathsep}{user_path()}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_ENDPOINT_URL": moto,
        # AWS_REGION only, as the README tells users to set it: the AWS CLI v1 that make test installs
        # (.venv-infra, awscli 1.x) reads AWS_DEFAULT_REGION or --region, never AWS_REGION ("Environment
        # variables to configure the AWS CLI", AWS CLI v1 user guide), so a README `aws` command that
        # needs a Region must say --region (issue 28 item 9).
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
        "PORT": str(free_port()),
        "HOST": "127.0.0.1",
        **DUMMY_CREDENTIALS,
    }
    if "PYENV_ROOT" in os.environ:  # pyenv's shims find their root through it, not through HOME
        env["PYENV_ROOT"] = os.environ["PYENV_ROOT"]
    # The values file a user writes before `push`; the README tells them to delete it after.
    values = clone / "secrets-values.json"
    values.write_text(json.dumps(canary.canary_payload()), encoding="utf-8")
    values.chmod(0o600)
    return env


@pytest.mark.timeout(600)  # a block is several commands of up to TIMEOUT each
@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mode == RUN], ids=_ids([b for b in BLOCKS if b.mode == RUN]))
def test_run_block(block: Block, clone: Path, user_env: dict[str, str], tmp_path: Path) -> None:
    run = run_block(block, cwd=clone, env=user_env, placeholders=PLACEHOLDERS, timeout=TIMEOUT, log_dir=tmp_path)
    assert run.failures() == [], f"a command of {block.source} fails as written:\n" + run.report()
    assert canary.leaked(*(o.output for o in run.outcomes)) == [], run.report()
    assert any(o.how != "not run" for o in run.outcomes), f"{block.where}: nothing of it ran"


def compose_profiles() -> set[str]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return {p for service in document["services"].values() for p in service.get("profiles", [])}


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if b.mode == COMPOSE], ids=_ids([b for b in BLOCKS if b.mode == COMPOSE])
)
def test_compose_block(block: Block, clone: Path, tmp_path: Path) -> None:
    podman_compose = shutil.which("podman-compose") or str(Path(sys.executable).parent / "podman-compose")
    for command in block.commands:
        arguments = compose_arguments(command)
        assert arguments is not None, f"{block.where}: not a compose command: {command}"
        profiles = [arguments[i + 1] for i, word in enumerate(arguments) if word == "--profile"]
        assert set(profiles) <= compose_profiles(), f"{command}: docker-compose.yml has no profile {profiles}"
        done = subprocess.run(
            [podman_compose, *arguments, "config"], cwd=clone, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"{command}: podman-compose cannot read the file with these options\n{done.stderr}"


# The harness's own rules, on README text of our own.


def test_an_unmarked_block_is_an_error() -> None:
    text = "# t\n\n<!-- test: run -->\n```sh\ntrue\n```\n\nprose\n\n```bash\nfalse\n```\n"
    with pytest.raises(MarkerError, match=r"README.md:10: a shell block without a marker"):
        parse(text)


def test_a_fence_without_a_language_counts_as_shell_and_text_does_not() -> None:
    assert parse("```text\nmake run\n```\n") == []
    with pytest.raises(MarkerError):
        parse("```\nmake run\n```\n")


@pytest.mark.parametrize(
    "comment",
    ["<!-- illustration: -->", "<!-- test: maybe -->", "<!-- test: run; illustration: aws ecs wait -->", "<!-- -->"],
)
def test_a_marker_without_its_reason_or_unknown_is_an_error(comment: str) -> None:
    with pytest.raises(MarkerError):
        parse(f"{comment}\n```sh\ntrue\n```\n")


def test_a_marker_separated_from_its_fence_does_not_count() -> None:
    with pytest.raises(MarkerError):
        parse("<!-- test: run -->\n\n```sh\ntrue\n```\n")


def test_markers_inside_a_list_item_and_the_not_run_commands() -> None:
    text = (
        "1. Step:\n\n"
        "   <!-- test: run; illustration: aws cloudformation deploy, aws ecs wait (need a real AWS account) -->\n"
        "   ```sh\n   make lambda\n   aws cloudformation deploy --stack-name x \\\n     --template-file y\n"
        "   aws ecs wait services-stable   # comment\n   # only a comment\n   ```\n"
    )
    [block] = parse(text)
    assert (block.line, block.mode, block.rules[0].reason) == (4, RUN, "need a real AWS account")
    assert block.runnable() == ["make lambda"]
    assert block.left_out() == [
        "aws cloudformation deploy --stack-name x --template-file y",
        "aws ecs wait services-stable   # comment",
    ]


def test_a_rule_naming_no_command_is_stale() -> None:
    with pytest.raises(MarkerError, match="'aws ecs wait', which starts no command"):
        parse("<!-- test: run; illustration: aws ecs wait (real account) -->\n```sh\nmake lambda\n```\n")


def test_an_expected_exit_code_is_held_to(tmp_path: Path) -> None:
    text = "<!-- test: run; exit 1: false, exit 1 (a check fails) -->\n```sh\nfalse\nexit 1\ntrue\n```\n"
    [block] = parse(text)
    env = {"PATH": os.environ["PATH"], "PORT": str(free_port())}
    run = run_block(block, cwd=tmp_path, env=env, placeholders={}, timeout=10, log_dir=tmp_path)
    assert [(o.returncode, o.expected) for o in run.outcomes] == [(1, 1), (1, 1), (0, 0)]
    assert run.failures() == []
    [block] = parse(text.replace("false\n", "true\n").replace("exit 1: false, ", "exit 1: "))
    run = run_block(block, cwd=tmp_path, env=env, placeholders={}, timeout=10, log_dir=tmp_path)
    assert run.failures() == []
    [block] = parse("<!-- test: run; exit 1: true (wrong) -->\n```sh\ntrue\n```\n")
    run = run_block(block, cwd=tmp_path, env=env, placeholders={}, timeout=10, log_dir=tmp_path)
    assert [o.returncode for o in run.failures()] == [0]
    assert "expected 1" in run.report()


def test_split_commands_keeps_quoted_spacing() -> None:
    assert split_commands("echo 'a  b' \\\n  c\n\n# x\nls\n") == ["echo 'a  b' c", "ls"]


def test_placeholders_and_usage_notation() -> None:
    assert substitute("aws s3 cp f s3://<bucket>/f", {"<bucket>": "b"}) == "aws s3 cp f s3://b/f"
    with pytest.raises(ValueError, match="placeholder <cluster>"):
        substitute("aws ecs wait --cluster <cluster>", {})
    with pytest.raises(ValueError, match="usage notation"):
        substitute("python -m src.cli audit [--aws]", {})


def test_a_failing_command_stops_the_block_and_is_reported(tmp_path: Path) -> None:
    [block] = parse("<!-- test: run -->\n```sh\ntrue\nexit 7\necho never\n```\n")
    env = {"PATH": os.environ["PATH"], "PORT": str(free_port())}
    run = run_block(block, cwd=tmp_path, env=env, placeholders={}, timeout=10, log_dir=tmp_path)
    assert [(o.command, o.returncode) for o in run.outcomes] == [("true", 0), ("exit 7", 7)]
    assert "exit 7" in run.report()


def test_a_command_past_its_timeout_fails(tmp_path: Path) -> None:
    [block] = parse("<!-- test: run -->\n```sh\nsleep 30\n```\n")
    env = {"PATH": os.environ["PATH"], "PORT": str(free_port())}
    run = run_block(block, cwd=tmp_path, env=env, placeholders={}, timeout=1, log_dir=tmp_path)
    assert [o.returncode for o in run.failures()] == [124]


def test_a_printed_value_fills_a_later_placeholder(tmp_path: Path) -> None:
    text = "<!-- test: run -->\n```sh\necho Key=k-123.zip\ntest <Key> = k-123.zip\ntest <Other> = x\n```\n"
    [block] = parse(text)
    env = {"PATH": os.environ["PATH"], "PORT": str(free_port())}
    run = run_block(block, cwd=tmp_path, env=env, placeholders={}, timeout=10, log_dir=tmp_path)
    assert [o.returncode for o in run.outcomes] == [0, 0, 2]
    assert "placeholder <Other> has no test value" in run.outcomes[-1].output


def test_a_prompt_is_answered_on_a_terminal(tmp_path: Path) -> None:
    [block] = parse('<!-- test: run -->\n```sh\ntest -t 0 && read -r answer && test "$answer" = yes\n```\n')
    env = {"PATH": os.environ["PATH"], "PORT": str(free_port())}
    run = run_block(block, cwd=tmp_path, env=env, placeholders={}, timeout=10, log_dir=tmp_path)
    assert run.failures() == [], run.report()


def test_a_server_that_never_answers_fails_and_is_stopped(tmp_path: Path) -> None:
    [block] = parse("<!-- test: run -->\n```sh\nmake run\n```\n")
    (tmp_path / "Makefile").write_text("run:\n\techo started; sleep 60\n")
    env = {"PATH": os.environ["PATH"], "PORT": str(free_port())}
    started = time.monotonic()
    run = run_block(block, cwd=tmp_path, env=env, placeholders={}, timeout=2, log_dir=tmp_path)
    assert [(o.how, o.returncode) for o in run.outcomes] == [("served", 1)]
    assert "started" in run.outcomes[0].output and "no 200 from" in run.outcomes[0].output
    assert time.monotonic() - started < 20


def test_compose_arguments() -> None:
    assert compose_arguments("docker compose --profile aws up   # x") == ["--profile", "aws"]
    assert compose_arguments("podman-compose up") == []
    assert compose_arguments("make run") is None
    assert compose_arguments(".venv/bin/podman-compose --profile aws up -d api-aws") == ["--profile", "aws"]
    assert compose_services(".venv/bin/podman-compose --profile aws up -d api-aws") == ["api-aws"]
    assert compose_services("docker compose up") == []
