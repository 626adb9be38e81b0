"""The start-up prefetch: used once, only for the names asked, and never trusted when malformed."""

from __future__ import annotations

import json
import subprocess

import pytest

from src import prefetch


class FakeChild:
    def __init__(self, out: bytes, *, hang: bool = False) -> None:
        self.out, self.hang, self.killed = out, hang, False

    def communicate(self, timeout: float | None = None) -> tuple[bytes, bytes]:
        if self.hang and not self.killed:
            raise subprocess.TimeoutExpired("x", timeout or 0)
        return self.out, b""

    def kill(self) -> None:
        self.killed = True


def use(monkeypatch: pytest.MonkeyPatch, child: FakeChild | None) -> None:
    monkeypatch.setattr(prefetch, "_child", child)


def test_no_child_means_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, None)
    assert prefetch.take(("a",), timeout=1) is None


def test_answer_is_used_once(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = {"name": "a", "arn": "arn", "version_id": "v1", "secret_string": "{}", "has_binary": False}
    use(monkeypatch, FakeChild(json.dumps({"secrets": [secret]}).encode()))
    outcome = prefetch.take(("a",), timeout=1)
    assert outcome is not None and outcome.secrets[0]["version_id"] == "v1"
    assert "{}" not in repr(outcome)
    assert prefetch.take(("a",), timeout=1) is None


@pytest.mark.parametrize("out", [b"", b"not json", json.dumps({"secrets": [{"name": "other"}]}).encode()])
def test_malformed_or_mismatched_answers_are_ignored(monkeypatch: pytest.MonkeyPatch, out: bytes) -> None:
    use(monkeypatch, FakeChild(out))
    assert prefetch.take(("a",), timeout=1) is None


def test_error_is_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    error = {"code": "AccessDeniedException", "message": "denied", "hint": "h", "secret_name": "a"}
    use(monkeypatch, FakeChild(json.dumps({"error": error}).encode()))
    outcome = prefetch.take(("a",), timeout=1)
    assert outcome is not None and outcome.error == error


def test_a_hung_child_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    child = FakeChild(b"", hang=True)
    use(monkeypatch, child)
    assert prefetch.take(("a",), timeout=0.01) is None
    assert child.killed


@pytest.mark.parametrize(
    ("env", "wanted"),
    [({"APP_ENV": "production"}, True), ({"APP_ENV": "staging"}, True), ({"APP_ENV": "local"}, False),
     ({"APP_ENV": "production", "SECRETS_PREFETCH": "0"}, False)],
)  # fmt: skip
def test_wanted_only_in_staging_and_production(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], wanted: bool
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert prefetch.wanted() is wanted
