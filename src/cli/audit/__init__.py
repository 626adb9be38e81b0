"""`audit`: the operations guide's security checklist as automated checks.

Offline checks read the repository (rendered for a target environment and region);
with --aws, live checks read the account. Each check is one line: PASS, FAIL or SKIP
with the reason. Exit 1 on any FAIL.

The parts, one job each:
- `base`: a check's Result, the Failed exception and the files the checks read;
- `template`: reading the CloudFormation template and the Dockerfile;
- `rules`: the deployment rules AWS enforces, as `*_problems` functions (tests/infra applies them too);
- `context`, `checklist`, `stack_checks`, `offline`: the offline checks and their runner;
- `live`: the checks of the live account (--aws).

This module is the command, and names the parts' public functions that tests/infra
and tests/support import from `src.cli.audit`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from src.cli.audit.base import READ, TASK, TRUST, Result
from src.cli.audit.live import ALARM_SUFFIXES, alarm_problems, run_live
from src.cli.audit.offline import OFFLINE, run_offline
from src.cli.audit.rules import (
    FARGATE_SIZES,
    READY_PARAMETER,
    fargate_size_problems,
    first_deploy_parameters,
    first_deploy_problems,
    grace_period_problems,
    private_dir_problems,
    secret_retention_problems,
    tracing_problems,
)
from src.cli.audit.template import dockerfile_volumes, evaluate_conditions, load_template, resources
from src.cli.output import Output
from src.cli.region import resolve_region
from src.cli.render import CLOUD_ENVS, ROOT
from src.errors import ErrorCode, SecretsError

__all__ = [
    "ALARM_SUFFIXES",
    "FARGATE_SIZES",
    "OFFLINE",
    "READ",
    "READY_PARAMETER",
    "TASK",
    "TRUST",
    "add_parser",
    "alarm_problems",
    "cmd_audit",
    "dockerfile_volumes",
    "evaluate_conditions",
    "fargate_size_problems",
    "first_deploy_parameters",
    "first_deploy_problems",
    "grace_period_problems",
    "load_template",
    "private_dir_problems",
    "resources",
    "run_live",
    "run_offline",
    "secret_retention_problems",
    "tracing_problems",
]


def cmd_audit(args: argparse.Namespace, _client: object, out: Output) -> int:
    region = resolve_region(args.region, os.environ).name
    root = Path(args.root)
    subnets = tuple(s.strip() for s in (args.load_balancer_subnets or "").split(",") if s.strip())
    if subnets and not args.aws:
        raise SecretsError(
            ErrorCode.InvalidArgument,
            "--load-balancer-subnets is checked against the account",
            hint="Add --aws (it reads the subnets' Availability Zones with ec2:DescribeSubnets).",
        )
    results = run_offline(root, args.env, region)
    if args.aws:
        results += run_live(root, args.env, region, load_balancer_subnets=subnets)
    else:
        results.append(Result("aws-live", "SKIP", "live account checks need --aws"))
    for result in results:
        out.line(f"{result.status:<4}  {result.name:<24} {result.reason}")
    failed = [r for r in results if r.status == "FAIL"]
    counts = {s: sum(r.status == s for r in results) for s in ("PASS", "FAIL", "SKIP")}
    out.line("audit: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    out.set(checks=[r.__dict__ for r in results], ok=not failed)
    return 1 if failed else 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "audit",
        parents=[common],
        help="the guide's security checklist as automated checks",
        description="Offline checks of the repository's files; --aws adds checks of the live account. "
        "The Region is --region, else AWS_REGION, else AWS_DEFAULT_REGION.",
    )
    parser.add_argument("--env", default="prod", choices=CLOUD_ENVS, help="environment: prod, staging (default: prod)")
    parser.add_argument("--aws", action="store_true", help="also check the live account")
    parser.add_argument("--root", default=str(ROOT), help="the repository to audit (default: this checkout)")
    parser.add_argument(
        "--load-balancer-subnets",
        metavar="SUBNET,SUBNET",
        help="with --aws: check the subnets you will give the stack's load balancer (two or more, in different "
        "Availability Zones, one per zone) before deploying (default: not checked)",
    )
    parser.set_defaults(handler=cmd_audit)
