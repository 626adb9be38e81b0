"""The guide's console/CLI route, replayed with the real AWS CLI against moto_server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.infra.conftest import infra_bin
from tests.support.canary import canary_payload, leaked
from tests.support.processes import BIN, DUMMY_CREDENTIALS, ROOT, clean_environment

ACCOUNT = "123456789012"  # moto's account


def aws(moto_url: str, *args: str) -> Any:
    env = clean_environment(AWS_ENDPOINT_URL=moto_url, AWS_DEFAULT_REGION="us-east-1", **DUMMY_CREDENTIALS)
    result = subprocess.run(
        [str(infra_bin("aws")), *args, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"aws {' '.join(args[:2])}: {result.stderr}"
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_the_guides_cli_route(moto_url: str, tmp_path: Path) -> None:
    rendered = tmp_path / "rendered"
    render = subprocess.run(
        [
            str(BIN / "python"), "-m", "src.cli", "render", "--account-id", ACCOUNT, "--region", "us-east-1",
            "--image", f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/short-cut-api:1.0.0", "--out", str(rendered),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert render.returncode == 0, render.stderr

    values = tmp_path / "secrets-values.json"
    values.write_text(json.dumps(canary_payload()))
    name = "short-cut/prod/app"
    created = aws(
        moto_url, "secretsmanager", "create-secret", "--name", name,
        "--description", "Short-Cut production app secret – API keys, GCP credentials",
        "--secret-string", f"file://{values}", "--region", "us-east-1",
        "--tags", '[{"Key":"Project","Value":"short-cut"},{"Key":"Environment","Value":"prod"},'
        '{"Key":"ManagedBy","Value":"devops"}]',
    )  # fmt: skip
    assert leaked(json.dumps(created)) == []
    described = aws(moto_url, "secretsmanager", "describe-secret", "--secret-id", name)
    assert {t["Key"]: t["Value"] for t in described["Tags"]}["Environment"] == "prod"

    trust = rendered / "iam/ecs-task-trust-policy.json"
    read = rendered / "iam/secrets-read-policy.json"
    role = aws(
        moto_url, "iam", "create-role", "--role-name", "shortcut-ecs-task-role",
        "--assume-role-policy-document", f"file://{trust}",
    )  # fmt: skip
    assert role["Role"]["RoleName"] == "shortcut-ecs-task-role"
    aws(
        moto_url, "iam", "put-role-policy", "--role-name", "shortcut-ecs-task-role",
        "--policy-name", "ShortCutSecretsReadPolicy", "--policy-document", f"file://{read}",
    )  # fmt: skip
    policy = aws(
        moto_url, "iam", "get-role-policy", "--role-name", "shortcut-ecs-task-role",
        "--policy-name", "ShortCutSecretsReadPolicy",
    )  # fmt: skip
    assert policy["PolicyDocument"] == json.loads(read.read_text())
    aws(moto_url, "iam", "get-role", "--role-name", "shortcut-ecs-task-role")

    task = aws(
        moto_url, "ecs", "register-task-definition", "--cli-input-json", f"file://{rendered}/ecs/task-definition.json"
    )
    definition = task["taskDefinition"]
    assert definition["family"] == "short-cut-api"
    assert definition["taskRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/shortcut-ecs-task-role"
    assert definition["containerDefinitions"][0]["readonlyRootFilesystem"] is True
