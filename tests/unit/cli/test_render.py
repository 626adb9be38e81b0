"""render fills every placeholder or refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from src.cli.render import IMAGE_PATTERN, IMAGE_SLOT, PLACEHOLDER, TEMPLATES, render_all, render_text, values_for
from src.errors import SecretsError
from tests.support import cfn
from tests.support.processes import ROOT

DIGEST = "sha256:" + "a" * 64


def values(**overrides: str) -> dict[str, str]:
    args = {"account_id": "111122223333", "region": "eu-west-1", "env": "staging", "image": "repo/short-cut-api:1.2.3"}
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
    assert task["containerDefinitions"][0]["image"] == "repo/short-cut-api:1.2.3"
    assert "111122223333" in task["taskRoleArn"]


def test_the_task_definition_holds_an_image_slot_not_latest() -> None:
    text = (ROOT / "infra/ecs/task-definition.json").read_text()
    assert IMAGE_SLOT in text
    assert ":latest" not in text


@pytest.mark.parametrize(
    "image",
    [
        "repo/short-cut-api:1.2.3",
        f"repo/api@{DIGEST}",
        f"repo/api:1.2.3@{DIGEST}",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/short-cut-api:git-0a1b2c3",
        "localhost:5000/short-cut-api:v1",
    ],
)
def test_an_image_with_a_tag_or_digest_is_used_as_given(image: str) -> None:
    task = render_all(values(image=image))["infra/ecs/task-definition.json"]
    assert task["containerDefinitions"][0]["image"] == image


@pytest.mark.parametrize(
    "image",
    [
        "repo/short-cut-api",
        "repo/short-cut-api:latest",
        f"repo/short-cut-api:latest@{DIGEST}",
        "localhost:5000/short-cut-api",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/short-cut-api:latest",
    ],
)
def test_an_image_without_a_release_tag_is_refused(image: str) -> None:
    with pytest.raises(SecretsError) as caught:
        values(image=image)
    assert caught.value.code == "ImageTagRequired"
    assert "digest" in caught.value.hint and "immutab" in caught.value.hint


def test_the_stack_refuses_the_same_images_as_render() -> None:
    # The ImageUri parameter's AllowedPattern is render's pattern: both routes accept the same images.
    template = cfn.load(ROOT / "infra/cloudformation/short-cut.yaml")
    assert template["Parameters"]["ImageUri"]["AllowedPattern"] == IMAGE_PATTERN


@pytest.mark.parametrize(
    "bad",
    [
        {"account_id": "12345"},
        {"region": "US-EAST-1"},
        {"env": "dev"},
        {"image": ""},
        {"image": "a b"},
        {"image": "<ECR_URI>"},
        {"image": "short-cut-api:1.0.0"},
        {"image": "repo/api:bad tag"},
        {"image": "repo/api@sha256:short"},
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
