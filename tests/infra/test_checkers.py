"""cfn-lint, parliament and checkov, offline, on every infra file: each must come back clean."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from src.cli.audit import READ, TRUST
from tests.infra.conftest import ACCOUNT, REGION, infra_bin
from tests.support import cfn
from tests.support.processes import ROOT

TEMPLATE = ROOT / "infra/cloudformation/short-cut.yaml"
# Trust policies name a Principal and never a Resource; parliament checks identity
# policies, so this one finding is expected there and nothing else is.
TRUST_POLICY_EXPECTED = "Statement contains neither Resource nor NotResource"

PARLIAMENT = """
import json, sys
from parliament import analyze_policy_string
out = []
for doc in json.load(sys.stdin):
    policy = analyze_policy_string(json.dumps(doc), include_community_auditors=True)
    out.append([{"issue": f.issue, "detail": str(f.detail), "severity": f.severity} for f in policy.findings])
print(json.dumps(out))
"""


def run(args: list[str | Path], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, check=False, **kwargs)


def parliament(documents: list[Any]) -> list[list[dict[str, str]]]:
    result = run([infra_bin("python"), "-c", PARLIAMENT], input=json.dumps(documents))
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_cfn_lint_is_clean() -> None:
    result = run([infra_bin("cfn-lint"), TEMPLATE])
    assert result.returncode == 0, result.stdout + result.stderr


def test_parliament_finds_nothing_in_the_read_policy(rendered: dict[str, Any]) -> None:
    assert parliament([rendered[READ]]) == [[]]


def test_parliament_on_the_trust_policy_finds_only_the_missing_resource(rendered: dict[str, Any]) -> None:
    (findings,) = parliament([rendered[TRUST]])
    assert [f["detail"] for f in findings if TRUST_POLICY_EXPECTED not in f["detail"]] == []


def test_parliament_finds_nothing_in_the_stacks_inline_policies() -> None:
    template = cfn.load(TEMPLATE)
    base = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "Environment": "prod", "AWS::Partition": "aws"}
    defaults = {k: str(v["Default"]) for k, v in template["Parameters"].items() if "Default" in v}
    documents = []
    # Without a replica and with one (ReplicaRegion: the task role's statements name both Regions).
    for params in (base, {**base, "ReplicaRegion": "us-west-2"}):
        conditions = cfn.evaluate_conditions(template, {**defaults, **params})
        for resource in template["Resources"].values():
            if resource["Type"] != "AWS::IAM::Role":
                continue
            for policy in resource["Properties"].get("Policies", []):
                doc = cfn.resolve(policy["PolicyDocument"], params, conditions)
                # Refs to other resources become a concrete ARN of the right shape.
                text = json.dumps(doc).replace(
                    '{"Ref": "AppSecret"}',
                    f'"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:short-cut/prod/app-AbCdEf"',
                )
                # A log group's Arn attribute ends in ":*" ("AWS::Logs::LogGroup" return values).
                text = text.replace(
                    '{"Fn::GetAtt": ["RotationLogGroup", "Arn"]}',
                    f'"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/shortcut-secret-rotation:*"',
                )
                documents.append(json.loads(text))
    assert len(documents) == 4
    assert parliament(documents) == [[], [], [], []]


def test_parliament_does_catch_a_broad_policy(rendered: dict[str, Any]) -> None:
    broad = json.loads(json.dumps(rendered[READ]))
    broad["Statement"][0]["Action"] = "secretsmanager:*"
    broad["Statement"][0]["Resource"] = "*"
    (findings,) = parliament([broad])
    assert findings


def test_checkov_is_clean_offline(tmp_path: Path) -> None:
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_FILES": "1", "HOME": str(tmp_path)}
    result = run(
        [infra_bin("checkov"), "-d", ROOT / "infra", "--skip-download", "--compact", "--quiet", "-o", "json"],
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    summary = [r["summary"] for r in reports if isinstance(r, dict) and "summary" in r]
    assert summary and all(s["failed"] == 0 for s in summary)
    assert sum(s["passed"] for s in summary) > 20


@pytest.mark.parametrize(
    "broken",
    [
        "      RetentionInDays: !Ref LogRetentionDays\n",
        "    # checkov:skip=CKV_AWS_149",
        "    # checkov:skip=CKV_AWS_115",
    ],
)
def test_checkov_would_notice_a_regression(tmp_path: Path, broken: str) -> None:
    copy = tmp_path / "infra"
    copy.mkdir()
    text = TEMPLATE.read_text()
    assert broken in text
    text = text.replace(broken, "    # removed\n" if broken.endswith("\n") else "    # removed")
    (copy / "short-cut.yaml").write_text(text)
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "HOME": str(tmp_path)}
    result = run([infra_bin("checkov"), "-d", copy, "--skip-download", "--compact", "--quiet"], env=env, cwd=tmp_path)
    assert result.returncode != 0
