"""render fills every placeholder or refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from src.cli.render import PLACEHOLDER, TEMPLATES, render_all, render_text, values_for
from src.errors import SecretsError
from tests.support.processes import ROOT


def values(**overrides: str) -> dict[str, str]:
    args = {"account_id": "111122223333", "region": "eu-west-1", "env": "staging", "image": "repo/short-cut-api"}
    args.update(overrides)
    return values_for(**args)


def test_templates_hold_placeholders() -> None:
    for name in TEMPLATES:
        assert PLACEHOLDER.search((ROOT / name).read_text())


def test_render_fills_everything() -> None:
    docs = render_all(values())
    text = json.dumps(docs)
    assert not PLACEHOLDER.search(text)
    task = docs["infra/ecs/task-definition.json"]
    env = {e["name"]: e["value"] for e in task["containerDefinitions"][0]["environment"]}
    assert env == {"APP_ENV": "staging", "AWS_REGION": "eu-west-1", "SECRET_NAME": "short-cut/staging/app"}
    assert task["containerDefinitions"][0]["image"] == "repo/short-cut-api:latest"
    assert "111122223333" in task["taskRoleArn"]


def test_image_with_tag_or_digest_replaces_latest() -> None:
    tagged = render_all(values(image="repo/short-cut-api:1.2.3"))["infra/ecs/task-definition.json"]
    assert tagged["containerDefinitions"][0]["image"] == "repo/short-cut-api:1.2.3"
    pinned = render_all(values(image="repo/api@sha256:" + "a" * 64))["infra/ecs/task-definition.json"]
    assert pinned["containerDefinitions"][0]["image"].endswith("a" * 64)


@pytest.mark.parametrize(
    "bad",
    [
        {"account_id": "12345"},
        {"region": "US-EAST-1"},
        {"env": "dev"},
        {"image": ""},
        {"image": "a b"},
        {"image": "<ECR_URI>"},
    ],
)
def test_bad_values_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(SecretsError) as caught:
        values(**bad)
    assert caught.value.code == "InvalidArgument"


def test_a_leftover_placeholder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SecretsError) as caught:
        render_text('{"a": "<NEW_THING>"}', values())
    assert caught.value.code == "PlaceholderLeft"
    assert "<NEW_THING>" in caught.value.message
