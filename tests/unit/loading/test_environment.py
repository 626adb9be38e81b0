"""Applying values: precedence, the private service-account file, and cleanup."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from src.errors import SecretsError
from src.loading.environment import CREDENTIALS_PATH_KEY, EnvironmentApplier
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
    assert sorted(p.name for p in path.parent.iterdir()) == [".owner.lock", "service-account.json"]


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
    assert sorted(p.name for p in Path(first_path).parent.iterdir()) == [".owner.lock", "service-account.json"]


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
    assert "SECRETS_FILE_DIR" in caught.value.hint
    assert environ == {"KEEP": "1"}


def test_repr_names_keys_only(tmp_path: Path) -> None:
    applier = EnvironmentApplier({}, temp_root=str(tmp_path))
    applier.apply(values())
    assert CANARY_VALUES["OPENAI_API_KEY"] not in repr(applier)


# -- where the file goes (issue 12, item 4) and what it never follows (issue 11, item 6) --


def test_first_writable_root_wins_and_a_missing_one_is_skipped(tmp_path: Path) -> None:
    shm, tmp = tmp_path / "shm", tmp_path / "tmp"
    tmp.mkdir()
    environ: dict[str, str] = {}
    applier = EnvironmentApplier(environ, roots=[str(shm), str(tmp)])
    path = Path(applier.apply(values()).credentials_path or "")
    assert path.parent.parent == tmp
    shm.mkdir()
    preferred = EnvironmentApplier({}, roots=[str(shm), str(tmp)])
    assert Path(preferred.apply(values()).credentials_path or "").parent.parent == shm


def test_no_writable_root_is_service_account_file_naming_them(tmp_path: Path) -> None:
    applier = EnvironmentApplier({}, roots=[str(tmp_path / "a"), str(tmp_path / "b")])
    with pytest.raises(SecretsError) as caught:
        applier.apply(values())
    assert caught.value.code == "ServiceAccountFile"
    assert "a:" in caught.value.message and "b:" in caught.value.message


def test_abandoned_directories_in_the_root_we_write_to_are_removed_at_the_first_write(tmp_path: Path) -> None:
    import fcntl

    root, elsewhere = tmp_path / "root", tmp_path / "other-root"
    root.mkdir()
    elsewhere.mkdir()
    stale = root / "short-cut-7-abc123"  # its process was SIGKILLed: the lock file is left, unlocked
    stale.mkdir(mode=0o700)
    (stale / ".owner.lock").write_text("")
    (stale / "service-account.json").write_text("CANARY left by a SIGKILLed task")
    alive = root / "short-cut-7-live01"  # another instance (same pid in its namespace), alive
    alive.mkdir(mode=0o700)
    fd = os.open(alive / ".owner.lock", os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    legacy = root / "short-cut-nopid"
    legacy.mkdir()
    not_ours = elsewhere / "short-cut-8-abc"  # a root we do not write to is not swept
    not_ours.mkdir()
    (not_ours / ".owner.lock").write_text("")
    try:
        applier = EnvironmentApplier({}, roots=[str(tmp_path / "missing"), str(root), str(elsewhere)])
        path = Path(applier.apply(values()).credentials_path or "")
        assert path.parent.parent == root
        assert not stale.exists()
        assert alive.exists() and legacy.exists() and not_ours.exists()
        applier.cleanup()
    finally:
        os.close(fd)


def test_a_planted_symlink_is_never_followed_or_removed(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    root = tmp_path / "root"
    root.mkdir()
    link = root / "short-cut-999999999-planted"
    link.symlink_to(target, target_is_directory=True)
    applier = EnvironmentApplier({}, temp_root=str(root))
    path = Path(applier.apply(values()).credentials_path or "")
    assert link.is_symlink() and (target / "keep.txt").read_text() == "precious"
    assert path.parent != link and not path.parent.is_symlink()
    # Our own directory replaced by a link after the first write: the next write makes a new one.
    directory = path.parent
    shutil.rmtree(directory)
    directory.symlink_to(target, target_is_directory=True)
    second = Path(applier.apply(values()).credentials_path or "")
    assert second.parent != directory and list(target.iterdir()) == [target / "keep.txt"]
    assert stat.S_IMODE(second.parent.lstat().st_mode) == 0o700


def test_preview_is_what_apply_leaves_and_touches_nothing(tmp_path: Path) -> None:
    environ = {"PATH": "/bin", "MILVUS_HOST": "from-env"}
    applier = EnvironmentApplier(environ, temp_root=str(tmp_path))
    applier.apply(values(EXTRA_KEY="one"))
    before = dict(environ)
    new = {**CANARY_VALUES, "APP_SECRET_KEY": "next"}
    preview = applier.preview(new)
    assert environ == before and preview["APP_SECRET_KEY"] == "next"
    assert "EXTRA_KEY" not in preview and preview["MILVUS_HOST"] == "from-env"
    applier.apply(new)
    assert {k: v for k, v in environ.items() if k != CREDENTIALS_PATH_KEY} == preview


def test_a_value_the_environment_cannot_hold_changes_nothing(tmp_path: Path) -> None:
    environ = {"KEEP": "1"}
    applier = EnvironmentApplier(environ, temp_root=str(tmp_path))
    applier.apply(values())
    before, sa_before = dict(environ), Path(environ[CREDENTIALS_PATH_KEY]).read_text()
    bad = values(OPENAI_API_KEY="sk-\ud800", MILVUS_HOST="new-host")
    bad["GOOGLE_APPLICATION_CREDENTIALS_JSON"] = json.dumps({**SERVICE_ACCOUNT, "private_key_id": "new"})
    with pytest.raises(SecretsError) as caught:
        applier.apply(bad)
    assert caught.value.code == "InvalidSecretValue"
    assert environ == before and Path(environ[CREDENTIALS_PATH_KEY]).read_text() == sa_before
