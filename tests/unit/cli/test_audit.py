"""The `audit` command in-process: its options, its exit code, its lines and its JSON document.

The offline checks are tested in tests/unit/cli/audit/test_offline.py, the live ones in
tests/unit/cli/audit/test_live.py; here, how the command puts them together.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from src.cli import audit
from src.cli.audit.live import LIVE
from src.cli.audit.offline import OFFLINE
from src.cli.output import Output
from src.errors import SecretsError
from tests.support.processes import ROOT
from tests.unit.cli.audit.test_offline import BREAKS, copy_with_dockerfile


def parse(*argv: str) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--region")
    parser = argparse.ArgumentParser()
    audit.add_parser(parser.add_subparsers(dest="command"), common)
    return parser.parse_args(["audit", *argv])


def test_the_parser_defaults() -> None:
    args = parse()
    assert (args.env, args.aws, Path(args.root), args.region) == ("prod", False, ROOT, None)
    assert args.handler is audit.cmd_audit
    with pytest.raises(SystemExit):
        parse("--env", "local")  # only the cloud environments have infra files to audit


def test_offline_lines_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert audit.cmd_audit(parse("--region", "us-east-1"), None, Output(as_json=False)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines[:-1]] == [name for name, _ in OFFLINE] + ["aws-live"]
    assert lines[-2].startswith("SKIP  aws-live ")
    assert lines[-1] == f"audit: {len(OFFLINE)} PASS, 0 FAIL, 1 SKIP"


def test_a_failing_check_fails_the_command_and_the_document(tmp_path: Path) -> None:
    copy = copy_with_dockerfile(tmp_path)
    BREAKS["region"](copy)
    out = Output(as_json=True)
    assert audit.cmd_audit(parse("--region", "us-east-1", "--root", str(copy)), None, out) == 1
    assert out.document["ok"] is False
    assert [c["name"] for c in out.document["checks"] if c["status"] == "FAIL"] == ["region"]
    json.dumps(out.document)  # the document is plain JSON


@pytest.fixture
def empty_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def test_aws_adds_the_live_checks_in_place_of_the_skip(empty_account: None) -> None:
    out = Output(as_json=True)
    assert audit.cmd_audit(parse("--region", "us-east-1", "--aws"), None, out) == 1
    checks = out.document["checks"]
    assert [c["name"] for c in checks[len(OFFLINE) :]] == [name for name, _ in LIVE]
    live = {c["name"]: c for c in checks[len(OFFLINE) :]}
    # Nothing is set up in this account: every check fails, except those that judge the rotation
    # function, which pass as "deployed without rotation" (the secret and role checks fail anyway).
    without_rotation = {"aws-lambda-concurrency", "aws-lambda-code", "aws-rotation-failure-route"}
    without_rotation |= {"aws-rotation-log-group", "aws-cloudtrail-trail", "aws-rotation-rule-delivery"}
    assert {n for n, c in live.items() if c["status"] == "PASS"} == without_rotation
    assert all("deployed without rotation" in live[n]["reason"] for n in without_rotation)
    assert {c["status"] for n, c in live.items() if n not in without_rotation} == {"FAIL"}
    assert "aws-live" not in {c["name"] for c in checks}


def test_load_balancer_subnets_are_checked_only_against_the_account(empty_account: None) -> None:
    """Issue 28 item 6: `audit --aws --load-balancer-subnets a,b` adds the subnet check; without --aws
    the option is refused (the zones are the account's)."""
    import boto3

    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    one = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    out = Output(as_json=True)
    audit.cmd_audit(parse("--region", "us-east-1", "--aws", "--load-balancer-subnets", one), None, out)
    (check,) = [c for c in out.document["checks"] if c["name"] == "aws-load-balancer-subnets"]
    assert check["status"] == "FAIL" and "at least two Availability Zones" in check["reason"]
    with pytest.raises(SecretsError) as caught:
        audit.cmd_audit(parse("--region", "us-east-1", "--load-balancer-subnets", one), None, Output(as_json=True))
    assert caught.value.code == "InvalidArgument" and "--aws" in caught.value.hint
