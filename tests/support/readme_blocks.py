"""The documentation's command blocks, read and run the way a user on a laptop would run them.

The documents are README.md and every page of the docs site, in the README's order and then the
site's (`documents()`: the `nav` of mkdocs.yml, then any page the nav leaves out, which the strict
build refuses anyway). What follows says "the README" for any of them.

Contract. Every fenced block of the README whose info string is a shell (`sh`, `bash`, `shell`,
`console`, `zsh`) or empty carries a marker: an HTML comment on the line right before the fence.

    <!-- test: run -->                      every command of the block is run and exits 0
    <!-- test: run; illustration: aws cloudformation deploy, aws ecs wait (need a real AWS account) -->
                                            the commands starting with a listed prefix are not run
    <!-- test: run; exit 1: python -m src.cli fleet (no task has reported yet) -->
                                            those commands must exit 1 instead of 0
    <!-- test: compose -->                  `docker compose` / podman-compose commands: checked
                                            against docker-compose.yml by `make test`, brought up
                                            on the built image by `make container-test`
    <!-- illustration: needs a real AWS account -->   not run

Clauses after `test: run;` are separated by `;`; each names command prefixes and its reason in
parentheses, and each prefix must start at least one command of its block (a renamed command
cannot leave a stale rule behind). A block with no marker, an unknown marker or a marker without
a reason is an error (`parse`).

How a `run` block runs (`run_block`): the block is split into commands (one per line, backslash
continuations joined, comment-only lines dropped). Each command runs on its own, in order, with
`bash -e -o pipefail -c` in the given directory and environment, under a timeout, and must exit 0
(or the code its marker names). Its stdin is a terminal on which `yes` is already typed: the
CLI asks before a write to production, and a reader following the README answers it.
`<name>` placeholders are replaced from a table the caller gives, and from `NAME=value` lines an
earlier command of the block printed (`make lambda` prints `RotationCodeKey=...`, which the reader
copies into `<RotationCodeKey>`); a placeholder known to neither, or usage notation such as
`[--aws]`, fails the block (the command would not run as written).
Two commands are not run to completion:
- a long-running server (`make run`) is started, must answer 200 on `/health` at the harness's
  `PORT`, and is stopped (SIGTERM to its process group, SIGKILL after a grace period);
- `make test` is the suite this runner is part of: `make -n test` checks that the target exists
  instead of recursing.
"""

from __future__ import annotations

import contextlib
import os
import pty
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml
from markdown_it import MarkdownIt

SHELL_LANGUAGES = frozenset({"", "sh", "bash", "shell", "console", "zsh"})
RUN, COMPOSE, ILLUSTRATION = "run", "compose", "illustration"
MARKER = re.compile(r"^<!--\s*(?P<body>.*?)\s*-->\s*$", re.DOTALL)
REASONED = re.compile(r"^(?P<what>[^()]*?)\s*\((?P<reason>[^()]+)\)\s*$")
PLACEHOLDER = re.compile(r"<[A-Za-z_][A-Za-z0-9_-]*>")
PRINTED = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9_]*)=(?P<value>\S+)$", re.MULTILINE)
USAGE_NOTATION = re.compile(r"\[--?[A-Za-z]")
SERVERS = ("make run",)  # started, probed on /health, stopped
RECURSIVE = ("make test",)  # the suite that runs this: `make -n` instead


class MarkerError(ValueError):
    """A shell block without a valid marker: the README says nothing about whether it runs."""


@dataclass(frozen=True)
class Rule:
    """A clause of a `test: run` marker: commands starting with one of `prefixes` are not run
    (`exit_code` None) or must exit with `exit_code`."""

    prefixes: tuple[str, ...]
    reason: str
    exit_code: int | None = None


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    mode: str  # RUN, COMPOSE or ILLUSTRATION
    reason: str = ""  # why an illustration is not run
    rules: tuple[Rule, ...] = ()
    source: str = "README.md"  # the document, relative to the repository

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def commands(self) -> list[str]:
        return split_commands(self.code)

    def rule_for(self, command: str) -> Rule | None:
        return next((r for r in self.rules if command.startswith(r.prefixes)), None)

    def runnable(self) -> list[str]:
        return [c for c in self.commands if (r := self.rule_for(c)) is None or r.exit_code is not None]

    def left_out(self) -> list[str]:
        return [c for c in self.commands if (r := self.rule_for(c)) is not None and r.exit_code is None]


def split_commands(code: str) -> list[str]:
    """One command per logical line: backslash continuations joined, blank and comment lines dropped."""
    commands: list[str] = []
    current = ""
    for raw in code.splitlines():
        line = raw.strip() if current else raw.rstrip()  # a continuation's indent is layout
        if line.endswith("\\"):
            current += line[:-1].rstrip() + " "
            continue
        current += line
        if current.strip() and not current.lstrip().startswith("#"):
            commands.append(current.strip())
        current = ""
    if current.strip():
        commands.append(current.strip())
    return commands


CLAUSE = re.compile(r"^(?:illustration|exit (?P<code>\d+)):\s*(?P<rest>.*)$")


def parse_marker(comment: str | None, line: int, source: str = "README.md") -> tuple[str, str, tuple[Rule, ...]]:
    """(mode, reason, rules) from the HTML comment before a fence."""
    match = MARKER.match(comment.strip()) if comment else None
    if match is None:
        raise MarkerError(
            f"{source}:{line}: a shell block without a marker; put `<!-- test: run -->` or "
            "`<!-- illustration: <why> -->` on the line before the fence"
        )
    body = " ".join(match["body"].split())
    if body.startswith("illustration:"):
        reason = body.removeprefix("illustration:").strip()
        if not reason:
            raise MarkerError(f"{source}:{line}: an illustration marker needs its reason")
        return ILLUSTRATION, reason, ()
    if body == "test: compose":
        return COMPOSE, "", ()
    head, *clauses = (part.strip() for part in body.split(";"))
    if head != "test: run":
        raise MarkerError(f"{source}:{line}: unknown marker {body!r}")
    rules = []
    for clause in clauses:
        kind = CLAUSE.match(clause)
        reasoned = REASONED.match(kind["rest"]) if kind else None
        prefixes = tuple(p.strip() for p in reasoned["what"].split(",") if p.strip()) if reasoned else ()
        if kind is None or reasoned is None or not prefixes:
            raise MarkerError(
                f"{source}:{line}: expected `illustration: <command>, ... (<why>)` or "
                f"`exit <N>: <command>, ... (<why>)` after `test: run;`, got {clause!r}"
            )
        code = int(kind["code"]) if kind["code"] is not None else None
        rules.append(Rule(prefixes, reasoned["reason"].strip(), code))
    return RUN, "", tuple(rules)


def parse(markdown: str, source: str = "README.md") -> list[Block]:
    """Every shell block of the document, with its marker; MarkerError for the first one unmarked."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    blocks = []
    for index, token in enumerate(tokens):
        if token.type != "fence" or token.map is None:
            continue
        language = token.info.split()[0] if token.info.strip() else ""
        if language not in SHELL_LANGUAGES:
            continue
        line = token.map[0] + 1
        previous = tokens[index - 1] if index else None
        comment = None
        # The comment must touch the fence: the html_block ends on the line the fence starts.
        if previous is not None and previous.type == "html_block" and previous.map is not None:
            comment = previous.content if previous.map[1] == token.map[0] else None
        mode, reason, rules = parse_marker(comment, line, source)
        block = Block(line, language, token.content, mode, reason, rules, source)
        for rule in rules:
            for prefix in rule.prefixes:
                if not any(command.startswith(prefix) for command in block.commands):
                    raise MarkerError(f"{source}:{line}: the marker names {prefix!r}, which starts no command")
        blocks.append(block)
    return blocks


def documents(root: Path) -> list[Path]:
    """README.md, then the site's pages in the order of mkdocs.yml's nav, then any page it leaves out."""
    config = yaml.safe_load((root / "mkdocs.yml").read_text(encoding="utf-8"))
    docs = root / config.get("docs_dir", "docs")
    ordered = [docs / str(next(iter(entry.values()))) for entry in config["nav"]]
    rest = sorted(p for p in docs.rglob("*.md") if p not in ordered)
    return [root / "README.md", *ordered, *rest]


def parse_documents(root: Path) -> list[Block]:
    """Every shell block of every document, in reading order; MarkerError for the first unmarked one."""
    return [
        block
        for path in documents(root)
        for block in parse(path.read_text(encoding="utf-8"), path.relative_to(root).as_posix())
    ]


def substitute(command: str, values: Mapping[str, str]) -> str:
    """`<name>` placeholders replaced; one the table does not know means the command cannot run as written."""
    if USAGE_NOTATION.search(command):
        raise ValueError(f"usage notation in a runnable command (write each form out): {command}")

    def value(match: re.Match[str]) -> str:
        if match[0] not in values:
            raise ValueError(f"placeholder {match[0]} has no test value (add it to the harness's table): {command}")
        return values[match[0]]

    return PLACEHOLDER.sub(value, command)


@dataclass
class Outcome:
    command: str
    how: str  # "ran", "served", "dry-run", "not run"
    returncode: int | None
    output: str
    seconds: float
    expected: int = 0


@dataclass
class BlockRun:
    block: Block
    outcomes: list[Outcome] = field(default_factory=list)

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.how != "not run" and o.returncode != o.expected]

    def report(self) -> str:
        lines = [f"{self.block.where} ({self.block.mode})"]
        for o in self.outcomes:
            tail = o.output[-1500:].rstrip()
            wanted = "" if o.expected == 0 else f" (expected {o.expected})"
            lines.append(f"$ {o.command}\n  [{o.how}, exit {o.returncode}{wanted}, {o.seconds:.1f}s]\n{tail}")
        return "\n".join(lines)


ANSWER = "yes\n"


@contextlib.contextmanager
def user_terminal() -> Iterator[int]:
    """A terminal for stdin on which the user has already typed `yes`: on a laptop the CLI asks
    before it writes to production, and the reader of the README answers. A command that does
    not ask never reads it."""
    primary, secondary = pty.openpty()
    try:
        os.write(primary, ANSWER.encode())
        yield secondary
    finally:
        os.close(secondary)
        os.close(primary)


def _bash(command: str, cwd: Path, env: Mapping[str, str], timeout: float) -> tuple[int, str]:
    with user_terminal() as terminal:
        process = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", command],
            cwd=cwd,
            env=dict(env),
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: a timeout kills what it started too
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            return 124, f"{output}\n(timed out after {timeout:.0f}s)"
        finally:  # pytest-timeout or Ctrl-C: nothing the command started outlives it
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, output


def serve(command: str, cwd: Path, env: Mapping[str, str], timeout: float, log: Path) -> tuple[int, str]:
    """Start a long-running command, wait for 200 on /health at env['PORT'], stop it."""
    url = f"http://127.0.0.1:{env['PORT']}/health"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", command],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        status, deadline = None, time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    status = httpx.get(url, timeout=1.0).status_code
                    if status == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
    output = log.read_text(encoding="utf-8", errors="replace")
    if status == 200:
        return 0, output
    return 1, f"{output}\n(no 200 from {url} within {timeout:.0f}s; last status {status}, exit {process.returncode})"


def run_block(
    block: Block,
    *,
    cwd: Path,
    env: Mapping[str, str],
    placeholders: Mapping[str, str],
    timeout: float,
    log_dir: Path,
) -> BlockRun:
    """Every runnable command of a RUN block, in order; stops at the first that does not exit as expected."""
    assert block.mode == RUN, block
    result = BlockRun(block)
    placeholders = dict(placeholders)
    for command in block.commands:
        started = time.monotonic()
        rule = block.rule_for(command)
        if rule is not None and rule.exit_code is None:
            result.outcomes.append(Outcome(command, "not run", None, rule.reason, 0.0))
            continue
        expected = rule.exit_code if rule is not None and rule.exit_code is not None else 0
        try:
            concrete = substitute(command, placeholders)
        except ValueError as error:
            result.outcomes.append(Outcome(command, "ran", 2, str(error), 0.0))
            break
        try:
            words = shlex.split(concrete, comments=True)
        except ValueError as error:
            result.outcomes.append(Outcome(command, "ran", 2, f"not a valid shell command: {error}", 0.0))
            break
        plain = " ".join(words)
        if plain in SERVERS:
            how = "served"
            code, output = serve(concrete, cwd, env, timeout, log_dir / f"serve-{block.line}.log")
        elif plain in RECURSIVE:
            how = "dry-run"
            code, output = _bash(f"make -n {shlex.join(words[1:])} >/dev/null", cwd, env, timeout)
        else:
            how = "ran"
            code, output = _bash(concrete, cwd, env, timeout)
        result.outcomes.append(Outcome(command, how, code, output, time.monotonic() - started, expected))
        # A `NAME=value` line a command prints is what the reader copies into a later <NAME>.
        placeholders.update({f"<{m['name']}>": m["value"] for m in PRINTED.finditer(output)})
        if code != expected:
            break
    return result


def compose_arguments(command: str) -> Sequence[str] | None:
    """The global options of a `docker compose ... up` / `podman compose ... up` / `podman-compose ... up`
    command (for example `--profile aws`), or None when it is not a compose command."""
    words = _compose_words(command)
    if words is None:
        return None
    return words[: words.index("up")] if "up" in words else words


def compose_services(command: str) -> list[str]:
    """The services a compose `up` names (none: every service its profiles enable)."""
    words = _compose_words(command) or []
    after = words[words.index("up") + 1 :] if "up" in words else []
    return [word for word in after if not word.startswith("-")]


def _compose_words(command: str) -> list[str] | None:
    words = shlex.split(command, comments=True)
    if words[:2] in (["docker", "compose"], ["podman", "compose"]):
        return words[2:]
    if words and (words[0] == "podman-compose" or words[0].endswith("/podman-compose")):
        return words[1:]
    return None
