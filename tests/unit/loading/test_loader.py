"""loader.prepare: fetch (or the prefetch child's answer), validate, build Settings, touch nothing."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from src import config
from src.aws.client import FetchedSecret
from src.config import Settings
from src.errors import SecretsError
from src.loading.environment import EnvironmentApplier
from src.loading.loader import Loader, Prepared
from src.startup import prefetch
from tests.support.canary import CANARY_VALUES, canary_secret_string, leaked

APP, EXTRA = "short-cut/prod/app", "short-cut/prod/extra"


class Secrets:
    """A client serving one SecretString per name, at a settable version, counting every call."""

    def __init__(self, strings: dict[str, str]) -> None:
        self.strings = strings
        self.versions = dict.fromkeys(strings, "v1")
        self.gets: list[str] = []
        self.describes: list[str] = []

    @property
    def client(self) -> object:
        return self

    def get_secret(self, name: str, **_: Any) -> FetchedSecret:
        self.gets.append(name)
        return FetchedSecret(name=name, arn="arn", version_id=self.versions[name], secret_string=self.strings[name])

    def current_version(self, name: str) -> str:
        self.describes.append(name)
        return self.versions[name]


def production(*names: str) -> Settings:
    return Settings(app_env="production", aws_region="us-east-1", secret_name=",".join(names or (APP,)))


def make(tmp_path: Path, secrets: Secrets, environ: dict[str, str] | None = None) -> tuple[Loader, dict[str, str]]:
    env = {"KEEP": "1"} if environ is None else environ
    applier = EnvironmentApplier(env, temp_root=str(tmp_path))
    return Loader(lambda _: secrets, applier), env  # type: ignore[arg-type,return-value]


def test_prepare_touches_nothing_and_builds_the_candidate_settings(tmp_path: Path) -> None:
    secrets = Secrets({APP: canary_secret_string(MILVUS_PORT="12345")})
    loader, environ = make(tmp_path, secrets)
    before_os, before_config = dict(os.environ), config._config
    prepared = loader.prepare(production())
    # Nothing changed: the applier's environment, the process environment, the files, the config.
    assert environ == {"KEEP": "1"} and dict(os.environ) == before_os
    assert list(tmp_path.iterdir()) == []
    assert config._config is before_config
    # ...and yet the typed Settings the app would run with are already built and checked.
    assert prepared.settings.milvus_port == 12345
    key = prepared.settings.openai_api_key
    assert key is not None and key.get_secret_value() == CANARY_VALUES["OPENAI_API_KEY"]
    assert prepared.source == "aws-secrets-manager" and prepared.versions == {APP: "v1"}
    assert {"client", "fetch", "validate", "prepare"} <= set(prepared.timings)
    assert secrets.gets == [APP]
    assert leaked(repr(prepared)) == []


def test_a_value_the_config_refuses_fails_in_prepare(tmp_path: Path) -> None:
    loader, environ = make(tmp_path, Secrets({APP: canary_secret_string(MILVUS_PORT="１２３")}))
    with pytest.raises(SecretsError) as caught:
        loader.prepare(production())
    assert caught.value.code == "InvalidSecretValue" and "MILVUS_PORT" in caught.value.message
    assert environ == {"KEEP": "1"} and list(tmp_path.iterdir()) == []


def test_unchanged_versions_are_not_fetched_again(tmp_path: Path) -> None:
    secrets = Secrets({APP: canary_secret_string(), EXTRA: json.dumps({"MILVUS_HOST": "extra-host"})})
    loader, _ = make(tmp_path, secrets)
    settings = production(APP, EXTRA)
    first = loader.prepare(settings)
    assert secrets.gets == [APP, EXTRA]
    # Not committed yet: nothing is known, so a refresh must fetch both again.
    assert loader.prepare(settings, current={APP: "v1", EXTRA: "v1"}).versions == first.versions
    assert secrets.gets == [APP, EXTRA, APP, EXTRA]
    loader.committed(first)
    secrets.gets.clear()
    assert loader.changed(settings, first.versions) is None
    assert secrets.gets == [] and secrets.describes == [APP, EXTRA]
    secrets.versions[EXTRA] = "v2"
    secrets.strings[EXTRA] = json.dumps({"MILVUS_HOST": "rotated-host"})
    changed = loader.changed(settings, first.versions)
    assert changed is not None
    assert secrets.gets == [EXTRA]  # one GetSecretValue, for the one name whose version moved
    assert changed.versions == {APP: "v1", EXTRA: "v2"}
    assert changed.settings.milvus_host == "rotated-host"


def test_the_prefetch_answer_is_used_by_the_first_load_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_client(_: Settings) -> Any:
        raise AssertionError("the first load must not build a client when the child answered")

    fetched = FetchedSecret(name=APP, arn="arn", version_id="v-child", secret_string=canary_secret_string())
    answers = [prefetch.Outcome(secrets=(asdict(fetched),))]  # what the child writes
    asked: list[tuple[str, ...]] = []

    def take(names: tuple[str, ...], timeout: float) -> prefetch.Outcome | None:
        asked.append(names)
        return answers.pop() if answers else None

    monkeypatch.setattr(prefetch, "take", take)
    loader = Loader(no_client, EnvironmentApplier({}, temp_root=str(tmp_path)))
    prepared = loader.prepare(production())
    assert prepared.versions == {APP: "v-child"} and "prefetch_wait" in prepared.timings
    assert "client" not in prepared.timings
    # A refresh (with DescribeSecret's versions) never asks the child.
    with pytest.raises(AssertionError):
        loader.prepare(production(), current={APP: "v-next"})
    assert asked == [(APP,)]


def test_the_prefetch_childs_error_is_the_loads_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    error = {"code": "AccessDeniedException", "message": "denied", "hint": "h", "secret_name": APP}
    monkeypatch.setattr(prefetch, "take", lambda names, timeout: prefetch.Outcome(error=error))
    loader, _ = make(tmp_path, Secrets({APP: canary_secret_string()}))
    with pytest.raises(SecretsError) as caught:
        loader.prepare(production())
    assert (caught.value.code, caught.value.secret_name, caught.value.hint) == ("AccessDeniedException", APP, "h")


def test_local_mode_reads_env_file_and_environment_without_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / "local.env"
    env_file.write_text("OPENAI_API_KEY=sk-from-file\nMILVUS_HOST=file-host\nNOT_ALLOWED=x\n")
    monkeypatch.setenv("ENV_FILE", str(env_file))

    def no_client(_: Settings) -> Any:
        raise AssertionError("local mode must not build an AWS client")

    loader = Loader(no_client, EnvironmentApplier({"MILVUS_HOST": "env-host"}, temp_root=str(tmp_path / "sa")))
    prepared: Prepared = loader.prepare(Settings(app_env="local"))
    assert prepared.source == "environment" and prepared.names == ()
    assert prepared.bundle.values["OPENAI_API_KEY"] == "sk-from-file"
    assert prepared.bundle.values["MILVUS_HOST"] == "env-host"  # the environment wins over .env
    assert "NOT_ALLOWED" not in prepared.bundle.values


def test_missing_region_is_refused_before_any_client(tmp_path: Path) -> None:
    loader, _ = make(tmp_path, Secrets({}))
    with pytest.raises(SecretsError) as caught:
        loader.prepare(Settings(app_env="production"))
    assert caught.value.code == "MissingRegion"


def test_the_client_is_built_once(tmp_path: Path) -> None:
    built: list[Settings] = []
    secrets = Secrets({APP: canary_secret_string()})

    def factory(settings: Settings) -> Any:
        built.append(settings)
        return secrets

    loader = Loader(factory, EnvironmentApplier({}, temp_root=str(tmp_path)))
    loader.warm(production())
    loader.prepare(production())
    loader.changed(production(), {APP: "v1"})
    assert len(built) == 1
