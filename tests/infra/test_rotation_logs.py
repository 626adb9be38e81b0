"""The rotation Lambda may write only to the log group the stack declares, and create none
(issue 28 item 2).

AWSLambdaBasicExecutionRole grants logs:CreateLogGroup on "*", and Lambda ships a function's logs
asynchronously: after a stack delete, a late write recreates /aws/lambda/<name> (with no
retention), and the next create of the stack fails with "already exists"
(aws-solutions-library-samples/accelerated-intelligent-document-processing-on-aws#564;
serverless/serverless-plugin-log-retention#6). That breaks the recovery "delete the stack and
deploy again". Writing needs only logs:CreateLogStream and logs:PutLogEvents on the group
(Lambda developer guide, "Sending Lambda function logs to CloudWatch Logs": the execution role
needs CreateLogGroup only for Lambda to create the group itself); LoggingConfig.LogGroup names the
group ("AWS::Lambda::Function LoggingConfig").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from src.cli.audit.traps import lambda_log_permission_problems
from tests.infra.test_deploy_rules import STACK, replace, template
from tests.support.processes import ROOT
from tests.support.repo_copy import copy_audited_files

POLICY_HEAD = "      Policies:\n        - PolicyName: ShortCutSecretRotationPolicy\n"
BASIC_ROLE = "        - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole\n"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return copy_audited_files(tmp_path)


def test_rotation_role_writes_only_to_its_own_group() -> None:
    stack = template(ROOT)
    role = stack["Resources"]["RotationRole"]["Properties"]
    assert "AWSLambdaBasicExecutionRole" not in str(role.get("ManagedPolicyArns", []))
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    logs = [s for s in statements if any(str(a).startswith("logs:") for a in s["Action"])]
    assert logs == [
        {
            "Sid": "WriteOwnLogGroupOnly",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": {"Fn::GetAtt": ["RotationLogGroup", "Arn"]},
        }
    ]
    function = stack["Resources"]["RotationFunction"]["Properties"]
    assert function["LoggingConfig"] == {"LogGroup": {"Ref": "RotationLogGroup"}}
    assert lambda_log_permission_problems(stack) == []


def test_the_old_role_fails_the_rule(repo: Path) -> None:
    """The template as it was: the managed basic execution role, which creates log groups."""
    replace(repo / STACK, POLICY_HEAD, f"      ManagedPolicyArns:\n{BASIC_ROLE}{POLICY_HEAD}")
    assert lambda_log_permission_problems(template(repo)) == [
        "RotationRole: managed policy AWSLambdaBasicExecutionRole grants logs:CreateLogGroup"
    ]


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "                  - logs:PutLogEvents\n",
            "                  - logs:PutLogEvents\n                  - logs:CreateLogGroup\n",
            "RotationRole: allows logs:CreateLogGroup (only logs:CreateLogStream, logs:PutLogEvents on its own group)",
        ),
        (
            "                Resource: !GetAtt RotationLogGroup.Arn\n",
            '                Resource: "*"\n',
            "RotationRole: writes logs to *, not only its own log group",
        ),
        (
            "                  - logs:CreateLogStream\n",
            "",
            "RotationRole: cannot write to its log group (logs:CreateLogStream, logs:PutLogEvents)",
        ),
    ],
)
def test_the_rule_fails_on_a_broken_copy(repo: Path, old: str, new: str, problem: str) -> None:
    replace(repo / STACK, old, new)
    assert lambda_log_permission_problems(template(repo)) == [problem]
