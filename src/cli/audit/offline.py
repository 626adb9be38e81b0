"""The offline audit: every check of the checklist and the deployment rules, run over the
repository's infra files rendered for a target environment and region."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from src.cli.audit.base import Failed, Result
from src.cli.audit.checklist import (
    check_gitignore,
    check_kms_condition,
    check_lf,
    check_log_group,
    check_region,
    check_required_keys,
    check_resource_scope,
    check_secret_name,
    check_task_role,
    check_trust_principal,
)
from src.cli.audit.context import Context
from src.cli.audit.stack_checks import (
    TRAP_CHECKS,
    check_fargate_size,
    check_first_deploy,
    check_grace_period,
    check_hardening,
    check_lambda_tracing,
    check_private_tmp,
    check_secret_retained,
)
from src.cli.render import render_all, values_for
from src.errors import SecretsError

AUDIT_IMAGE = "registry.invalid/short-cut-api:audit"
AUDIT_ACCOUNT = "123456789012"  # offline: any account id; the checks compare structure

OFFLINE: list[tuple[str, Callable[[Context], str]]] = [
    ("secret-name", check_secret_name),
    ("required-keys", check_required_keys),
    ("region", check_region),
    ("trust-policy-principal", check_trust_principal),
    ("read-policy-resource", check_resource_scope),
    ("kms-via-service", check_kms_condition),
    ("task-role-arn", check_task_role),
    ("log-group", check_log_group),
    ("env-gitignored", check_gitignore),
    ("entrypoint-lf", check_lf),
    ("fargate-size", check_fargate_size),
    ("private-tmp", check_private_tmp),
    ("grace-period", check_grace_period),
    ("secret-retained", check_secret_retained),
    ("first-deploy", check_first_deploy),
    ("lambda-tracing", check_lambda_tracing),
    ("hardening", check_hardening),
    *TRAP_CHECKS,
]


def run_offline(root: Path, env: str, region: str, account: str = AUDIT_ACCOUNT) -> list[Result]:
    try:
        values = values_for(account_id=account, region=region, env=env, image=AUDIT_IMAGE)
        docs = render_all(values, root)
    except (OSError, ValueError, SecretsError) as exc:
        return [Result("render", "FAIL", f"the infra files do not render: {exc}")]
    ctx = Context(root=root, env=env, region=region, account=account, docs=docs)
    results = []
    for name, check in OFFLINE:
        try:
            results.append(Result(name, "PASS", check(ctx)))
        except (Failed, KeyError, IndexError, TypeError, AttributeError, OSError, ValueError, SecretsError) as exc:
            results.append(
                Result(name, "FAIL", str(exc) if isinstance(exc, Failed) else f"{type(exc).__name__}: {exc}")
            )
    return results
