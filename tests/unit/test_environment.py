"""Applying values: precedence, the private service-account file, and cleanup."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from src.environment import CREDENTIALS_PATH_KEY, EnvironmentApplier
from src.errors import SecretsError
from tests.support.canary import CANARY_VALUES, SERVICE_ACCOUNT

SA = json.dumps(SERVICE_ACCOUNT)


def values(**extra: str) -> dict[str, str]:
    return {**CANARY_VALUES, "GOOGLE_APPLICATION_CREDENTIALS_JSON": SA, **extra}


def test_apply_sets_keys_and_writes_a_private_file(tmp_path: Path) -> None:
    environ: dict[str, str] = {"PATH": "/bin"}
    applier = EnvironmentApplier(environ, temp_root=str(tmp_path))
    applied = applier.apply(values())
    assert applied.overridden == ()
    for key, value in CANARY_VALUES.items():
        assert environ[key] == value
    assert "GOOGLE_APPLICATION_CREDENTIALS_JSON" not in environ
    path = Path(environ[CREDENTIALS_PATH_KEY])
    assert applied.credentials_path == str(path)
    assert json.loads(path.read_text()) == SERVICE_ACCOUNT
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.parent.parent == tmp_path
    assert [p.name for p in path.parent.iterdir()] == ["service-account.json"]


def test_environment_before_bootstrap_wins_and_is_reported(tmp_path: Path) -> None:
    environ = {"MILVUS_HOST": "from-env", "OPENAI_API_KEY": "sk-env"}
    applier = EnvironmentApplier(environ, temp_root=str(tmp_path))
    applied = applier.apply(values())
    assert applied.overridden == ("MILVUS_HOST", "OPENAI_API_KEY")
    assert environ["MILVUS_HOST"] == "from-env"
    assert environ["OPENAI_API_KEY"] == "sk-env"
    assert environ["APP_SECRET_KEY"] == CANARY_VALUES["APP_SECRET_KEY"]


def test_credentials_path_set_before_bootstrap_wins(tmp_path: Path) -> None:
    environ = {CREDENTIALS_PATH_KEY: "/etc/my-sa.json"}
    applier = EnvironmentApplier(environ, temp_root=str(tmp_path))
    applied = applier.apply(values())
    assert "GOOGLE_APPLICATION_CREDENTIALS_JSON" in applied.overridden
    assert environ[CREDENTIALS_PATH_KEY] == "/etc/my-sa.json"
    assert list(tmp_path.iterdir()) == []


def test_second_apply_replaces_file_in_place_and_drops_removed_keys(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    applier = EnvironmentApplier(environ, temp_root=str(tmp_path))
    applier.apply(values(EXTRA_KEY="one"))
    first_path = environ[CREDENTIALS_PATH_KEY]
    rotated = {**SERVICE_ACCOUNT, "private_key_id": "rotated-id"}
    applier.apply({**CANARY_VALUES, "GOOGLE_APPLICATION_CREDENTIALS_JSON": json.dumps(rotated)})
    assert environ[CREDENTIALS_PATH_KEY] == first_path
    assert json.loads(Path(first_path).read_text())["private_key_id"] == "rotated-id"
    assert "EXTRA_KEY" not in environ
    assert len(list(Path(first_path).parent.iterdir())) == 1


def test_cleanup_removes_file_directory_and_variable(tmp_path: Path) -> None:
    environ: dict[str, str] = {}
    applier = EnvironmentApplier(environ, temp_root=str(tmp_path))
    applier.apply(values())
    applier.cleanup()
    assert CREDENTIALS_PATH_KEY not in environ
    assert list(tmp_path.iterdir()) == []
    applier.cleanup()  # twice is fine


def test_unwritable_directory_is_a_clear_error_and_changes_nothing(tmp_path: Path) -> None:
    environ = {"KEEP": "1"}
    applier = EnvironmentApplier(environ, temp_root=str(tmp_path / "does-not-exist"))
    with pytest.raises(SecretsError) as caught:
        applier.apply(values())
    assert caught.value.code == "ServiceAccountFile"
    assert "TMPDIR" in caught.value.hint
    assert environ == {"KEEP": "1"}


def test_repr_names_keys_only(tmp_path: Path) -> None:
    applier = EnvironmentApplier({}, temp_root=str(tmp_path))
    applier.apply(values())
    assert CANARY_VALUES["OPENAI_API_KEY"] not in repr(applier)
