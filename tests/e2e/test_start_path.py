"""The start path and the probe path against a committed budget (tests/e2e/start_path_budget.toml).

A deterministic guard, which no timing noise can hide: which modules the service imports before its
first 200, and how many Python calls one /health request makes, counted in a fresh interpreter
(tests/support/start_path.py) in three modes:
- `local`: APP_ENV=local with .env.example's values, what `make run` serves;
- `aws`: APP_ENV=production against moto_server with SECRETS_PREFETCH=0, the one-CPU path (the
  first load fetches in-process, so botocore is imported before the first 200);
- `aws-prefetch`: the same with SECRETS_PREFETCH=1: the child fetches, and the parent imports no AWS SDK
  before its first 200. SECRETS_REFRESH_INTERVAL=0 here: after the first load the Supervisor builds
  its own client in a worker thread beside serving (Supervisor._run, warm), and that thread's
  botocore imports would race the record; the record is of the path to the first 200 only.

Contract:
- the third-party top-level packages imported before the first 200 are exactly the budget's for
  the mode: a new one fails until the budget names it, with the reason, in the same commit; one
  that is gone fails until it is taken out, so the budget stays a true list;
- the same for the service's own modules (`src.*`): an event-path, CLI or rare-form module that
  lands on the start path shows here;
- per /health request (the body cached, as it is for all but one request a second): at most the
  budget's Python calls in all and in `src`, none in botocore, boto3, urllib3 or the socket
  layer (the probe path never touches AWS), and no package the budget does not list. A count well
  under the budget (below 90 %) fails too, so the budget is lowered when the path gets cheaper.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import moto_client, production_env
from tests.support import canary
from tests.support.processes import DUMMY_CREDENTIALS, ROOT, clean_environment
from tests.support.start_path import third_party

BUDGET_FILE = Path(__file__).with_name("start_path_budget.toml")
MODES = ("local", "aws", "aws-prefetch")
NEVER_ON_THE_PROBE_PATH = frozenset({"botocore", "boto3", "urllib3", "socket", "ssl", "http"})
TIGHT = 0.9
FIX = f"change {BUDGET_FILE.relative_to(ROOT)} in the same commit, with the reason"


def budget() -> dict[str, Any]:
    return tomllib.loads(BUDGET_FILE.read_text(encoding="utf-8"))


def record(env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "start-path.json"
    done = subprocess.run(
        [sys.executable, "-c", "from tests.support.start_path import main; main()", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory, moto_url: str) -> Callable[[str], dict[str, Any]]:
    """The record of each mode, made once per module (three interpreters, about a second each)."""
    name = f"short-cut/prod/start-path-{uuid.uuid4().hex[:8]}"
    secret = moto_client("secretsmanager", moto_url)
    secret.create_secret(Name=name, SecretString=json.dumps(canary.canary_payload()))
    cache: dict[str, dict[str, Any]] = {}

    def get(mode: str) -> dict[str, Any]:
        if mode not in cache:
            tmp = tmp_path_factory.mktemp(mode)
            if mode == "local":
                env_file = tmp / ".env"
                env_file.write_text((ROOT / ".env.example").read_text(encoding="utf-8"), encoding="utf-8")
                env = clean_environment(APP_ENV="local", ENV_FILE=str(env_file))
            else:
                env = clean_environment(
                    **production_env(name),
                    **DUMMY_CREDENTIALS,
                    AWS_ENDPOINT_URL_SECRETS_MANAGER=moto_url,
                    ENV_FILE=str(tmp / "absent.env"),
                    SECRETS_FILE_DIR=str(tmp),
                    SECRETS_PREFETCH="1" if mode == "aws-prefetch" else "0",
                    **({"SECRETS_REFRESH_INTERVAL": "0"} if mode == "aws-prefetch" else {}),
                )
            cache[mode] = record(env, tmp)
        return cache[mode]

    return get


def entries(table: dict[str, dict[str, Any]], mode: str) -> set[str]:
    return {name for name, entry in table.items() if mode in entry["modes"]}


def difference(kind: str, measured: set[str], allowed: set[str]) -> list[str]:
    new = [f"+ {m}: on the start path, not in the budget's [{kind}]" for m in sorted(measured - allowed)]
    gone = [f"- {m}: in the budget's [{kind}], no longer on the start path" for m in sorted(allowed - measured)]
    return new + gone


def test_the_budget_file_gives_a_reason_and_known_modes_for_each_entry() -> None:
    data = budget()
    for kind in ("third_party", "own"):
        for name, entry in data[kind].items():
            assert isinstance(entry.get("reason"), str) and len(entry["reason"]) >= 10, f"[{kind}] {name}: no reason"
            assert entry["modes"] and set(entry["modes"]) <= set(MODES), f"[{kind}] {name}: modes {entry['modes']}"
    for mode in MODES:
        assert isinstance(data["probe"][mode].get("reason"), str), f"[probe.{mode}]: no reason"


@pytest.mark.parametrize("mode", MODES)
def test_the_packages_imported_before_the_first_200_are_the_budgets(
    mode: str, measured: Callable[[str], dict[str, Any]]
) -> None:
    record = measured(mode)
    problems = difference("third_party", set(record["third_party"]), entries(budget()["third_party"], mode))
    assert problems == [], f"{mode}: {FIX}:\n" + "\n".join(problems)


@pytest.mark.parametrize("mode", MODES)
def test_the_services_own_modules_before_the_first_200_are_the_budgets(
    mode: str, measured: Callable[[str], dict[str, Any]]
) -> None:
    record = measured(mode)
    problems = difference("own", set(record["own"]), entries(budget()["own"], mode))
    assert problems == [], f"{mode}: {FIX}:\n" + "\n".join(problems)


@pytest.mark.parametrize("mode", MODES)
def test_a_health_request_makes_no_more_calls_than_the_budget(
    mode: str, measured: Callable[[str], dict[str, Any]]
) -> None:
    probe = measured(mode)["probe"]
    allowed = budget()["probe"][mode]
    by_package: dict[str, int] = probe["python_calls_by_package"]
    detail = f"{mode}: {json.dumps(probe)}; {FIX}"
    assert not NEVER_ON_THE_PROBE_PATH & set(by_package), detail
    assert not NEVER_ON_THE_PROBE_PATH & set(probe["dearest_python_calls_by_package"]), detail
    assert set(by_package) <= set(allowed["packages"]), detail
    for measure, value in (("python_calls", probe["python_calls"]), ("src_calls", by_package.get("src", 0))):
        assert value <= allowed[measure], f"{measure} {value} > {allowed[measure]}: {detail}"
        assert value >= TIGHT * allowed[measure], f"{measure} {value}: lower the budget's {allowed[measure]}; {detail}"


# The checks themselves, on inputs of our own.


def test_third_party_is_every_top_level_package_but_the_standard_librarys_and_the_services() -> None:
    modules = {"fastapi.routing", "fastapi", "json.decoder", "_sysconfigdata__linux_x86_64-linux-gnu", "src.app"}
    modules.add("yaml")
    assert third_party(modules) == ["fastapi", "yaml"]


def test_a_package_added_or_gone_is_named() -> None:
    assert difference("own", {"src.app", "src.cli"}, {"src.app", "src.events.sqs"}) == [
        "+ src.cli: on the start path, not in the budget's [own]",
        "- src.events.sqs: in the budget's [own], no longer on the start path",
    ]
    assert difference("own", {"src.app"}, {"src.app"}) == []
