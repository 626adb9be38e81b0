"""Every test folder is run by some make target, and `make test` runs all of them but the folders
of the separate suites (issue 21 §3: `make test` never ran tests/build, because pytest's default
`norecursedirs` skips any folder named `build`, so the lock check the README promised never ran;
the folder is now tests/lockfile).

Contract:
- the pytest invocations are read from make itself (`make -n <target>` for each target whose
  recipe calls pytest), so variables and prerequisites are expanded as make expands them;
- which files pytest really collects comes from one `pytest --collect-only` of tests/ with the
  project's own configuration (norecursedirs, conftest ignores); each invocation's positional
  paths and `--ignore` options then select from that list. An option that selects tests in a way
  this model does not know (`-k`, `-m`, `--deselect`, `--ignore-glob`, ...) fails the test rather
  than being guessed at;
- a folder under tests/ holding a `test_*.py` file that no target collects fails the test; so
  does one that `make test` leaves out unless a separate suite (SEPARATE_SUITES) collects it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from tests.support.processes import ROOT

MAKEFILE = ROOT / "Makefile"
# Suites with a target of their own that `make test` does not run (minutes, podman, load).
SEPARATE_SUITES = ("container-test", "reliability")
FLAG_OPTIONS = re.compile(
    r"^(-q+|-v+|-x|-s|-r\w*|--report-table|--strict-markers|--color=\S+|--timeout=\d+|--no-loadscope-reorder)$"
)
# -n and --dist (pytest-xdist) say how many processes run the tests and how they are shared out,
# never which tests are collected.
VALUE_OPTIONS = frozenset({"--timeout", "--durations", "-p", "--maxfail", "--tb", "-n", "--dist"})
IGNORE = "--ignore"


class UnmodeledOption(ValueError):
    """A pytest option that changes what is collected in a way this test does not model."""


@dataclass(frozen=True)
class Invocation:
    target: str
    paths: tuple[str, ...]  # empty: pyproject's testpaths
    ignored: tuple[str, ...]

    def selects(self, test_file: str, default_paths: Iterable[str]) -> bool:
        file = PurePosixPath(test_file)
        roots = self.paths or tuple(default_paths)
        inside = any(file == PurePosixPath(r) or PurePosixPath(r) in file.parents for r in roots)
        return inside and not any(PurePosixPath(i) == file or PurePosixPath(i) in file.parents for i in self.ignored)


def pytest_arguments(target: str, command: str) -> Invocation:
    words = shlex.split(command)
    arguments = words[words.index("pytest") + 1 :]
    paths: list[str] = []
    ignored: list[str] = []
    index = 0
    while index < len(arguments):
        word = arguments[index]
        if word.startswith(f"{IGNORE}="):
            ignored.append(word.split("=", 1)[1].rstrip("/"))
        elif word == IGNORE:
            index += 1
            ignored.append(arguments[index].rstrip("/"))
        elif word in VALUE_OPTIONS:
            index += 1
        elif not word.startswith("-"):
            paths.append(word.split("::", 1)[0].rstrip("/"))
        elif not FLAG_OPTIONS.match(word):
            raise UnmodeledOption(f"make {target}: pytest option {word!r} is not modelled by {__name__}")
        index += 1
    return Invocation(target, tuple(paths), tuple(ignored))


def pytest_targets(makefile_text: str) -> list[str]:
    """Targets whose own recipe calls pytest."""
    targets, current = [], None
    for line in makefile_text.splitlines():
        rule = re.match(r"^([a-z][a-z0-9-]*):(?!=)", line)
        if rule:
            current = rule[1]
        elif line.startswith("\t") and current and "-m pytest" in line and current not in targets:
            targets.append(current)
    return targets


def outside_make() -> dict[str, str]:
    """This environment less what an enclosing `make test` passes down (flags, jobserver, level)."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}


def invocations(targets: Iterable[str]) -> list[Invocation]:
    found = []
    for target in targets:
        plan = subprocess.run(
            ["make", "-n", target], cwd=ROOT, env=outside_make(), capture_output=True, text=True, check=True
        ).stdout
        commands = [line for line in plan.splitlines() if "-m pytest" in line]
        assert commands, f"make -n {target} shows no pytest command"
        found += [pytest_arguments(target, command) for command in commands]
    return found


def folders_with_tests(root: Path) -> set[str]:
    """Folders under tests/ that hold a file pytest would take for a test module."""
    return {
        path.parent.relative_to(root).as_posix()
        for pattern in ("test_*.py", "*_test.py")
        for path in (root / "tests").rglob(pattern)
        if "__pycache__" not in path.parts
    }


def collected_files(root: Path) -> set[str]:
    """Every test file pytest collects from tests/ with the project's configuration (a file whose
    collection errors counts: it was collected, and fails the run that collects it)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--continue-on-collection-errors",
         "-p", "no:cacheprovider", "tests"],
        cwd=root, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1, 5), done.stdout[-3000:] + done.stderr[-3000:]
    files = set()
    for line in done.stdout.splitlines():
        line = line.removeprefix("ERROR ").strip()
        if line.startswith("tests/"):
            files.add(re.split(r"::|: | - ", line, maxsplit=1)[0])
    return files


def uncovered(
    folders: Iterable[str], files: Iterable[str], runs: Iterable[Invocation], default_paths: Iterable[str]
) -> dict[str, str]:
    """Folder -> what is wrong with it: collected by no target, or left out of `make test` without
    a separate suite that runs it."""
    by_folder: dict[str, list[str]] = {}
    for file in files:
        by_folder.setdefault(PurePosixPath(file).parent.as_posix(), []).append(file)
    runs = list(runs)
    problems = {}
    for folder in sorted(folders):
        targets = {r.target for r in runs for f in by_folder.get(folder, []) if r.selects(f, default_paths)}
        if not targets:
            problems[folder] = "collected by no make target"
        elif "test" not in targets and not targets & set(SEPARATE_SUITES):
            problems[folder] = f"left out of make test, and only {sorted(targets)} run it"
    return problems


def default_testpaths(root: Path) -> list[str]:
    import tomllib

    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["pytest"]["ini_options"].get("testpaths", ["."]))


def test_every_test_folder_is_run_by_a_make_target() -> None:
    targets = pytest_targets(MAKEFILE.read_text(encoding="utf-8"))
    assert {"test", *SEPARATE_SUITES} <= set(targets), targets
    problems = uncovered(folders_with_tests(ROOT), collected_files(ROOT), invocations(targets), default_testpaths(ROOT))
    assert problems == {}, "test folders no make target runs:\n" + "\n".join(f"{k}: {v}" for k, v in problems.items())


# The check itself, on inputs of our own.

RUNS = [
    Invocation("test", (), ("tests/container", "tests/reliability", "tests/lonely")),
    Invocation("unit", ("tests/unit",), ()),
    Invocation("container-test", ("tests/container",), ()),
    Invocation("reliability", ("tests/reliability",), ()),
    Invocation("lonely", ("tests/lonely",), ()),
]


@pytest.mark.parametrize(
    ("folders", "files", "expected"),
    [
        (["tests/unit", "tests/unit/cli"], ["tests/unit/test_a.py", "tests/unit/cli/test_b.py"], {}),
        (["tests/container"], ["tests/container/test_c.py"], {}),
        # what pytest's default norecursedirs did to tests/build: the file was never collected
        (["tests/build"], [], {"tests/build": "collected by no make target"}),
        (
            ["tests/lonely"],
            ["tests/lonely/test_l.py"],
            {"tests/lonely": "left out of make test, and only ['lonely'] run it"},
        ),
        (["tests/reliability/deep"], ["tests/reliability/deep/test_d.py"], {}),
    ],
    ids=["unit-and-nested", "separate-suite", "never-collected", "only-a-subset-target", "nested-in-a-suite"],
)
def test_the_check_itself(folders: list[str], files: list[str], expected: Mapping[str, str]) -> None:
    assert uncovered(folders, files, RUNS, ["tests"]) == expected


def test_the_invocations_are_read_as_pytest_reads_them() -> None:
    run = pytest_arguments("t", 'PATH="/x:$PATH" /v/python -m pytest --ignore=tests/container --ignore tests/r/ -q')
    assert run == Invocation("t", (), ("tests/container", "tests/r"))
    run = pytest_arguments("r", "python -m pytest tests/reliability -q --report-table --timeout 600")
    assert run == Invocation("r", ("tests/reliability",), ())
    with pytest.raises(UnmodeledOption, match="'-k'"):
        pytest_arguments("k", "python -m pytest -k fast tests")
    assert pytest_targets("unit: $(STAMP) ## x\n\t$(BIN)/python -m pytest tests/unit\nlint:\n\truff\n") == ["unit"]
