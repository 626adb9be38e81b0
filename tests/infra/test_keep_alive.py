"""The service keeps an idle connection longer than the load balancer does (issue 28, item 1).

The ALB keeps idle connections to its targets for its idle timeout, 60 s by default, and reuses
them. If the target closes one first (uvicorn's default keep-alive is 5 s), a request the ALB
sends on it as it closes fails, and the client gets a 502. The ELB guide, "Connection idle
timeout": "We also recommend that you configure the idle timeout of your application to be
larger than the idle timeout configured for the load balancer. Otherwise ... the load balancer
sends an HTTP 502 Bad Gateway error to the client." "By default, ELB sets the idle timeout value
for your load balancer to 60 seconds." The same trap with uvicorn: kserve/kserve#5446 (uvicorn's
5 s default behind a proxy whose pool keeps connections longer; fixed in kserve#5448 by a
configurable --timeout-keep-alive defaulting to 65 s). So: the stack sets the ALB's timeout
explicitly, and the keep-alive the task runs with (its environment, or entrypoint.sh's default)
is longer.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

from src.config import DEFAULT_KEEP_ALIVE_TIMEOUT, Settings
from tests.support import cfn
from tests.support.processes import ROOT, clean_environment

STACK = ROOT / "infra/cloudformation/short-cut.yaml"


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def alb_idle_timeout(template: dict[str, Any]) -> int:
    (balancer,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"
    ]
    attributes = {a["Key"]: a["Value"] for a in balancer["Properties"]["LoadBalancerAttributes"]}
    assert "idle_timeout.timeout_seconds" in attributes, "set the ALB's idle timeout explicitly"
    return int(attributes["idle_timeout.timeout_seconds"])


def entrypoint_default() -> int:
    found = re.findall(
        r'^KEEP_ALIVE_TIMEOUT="\$\{KEEP_ALIVE_TIMEOUT:-([0-9]+)\}"$', (ROOT / "entrypoint.sh").read_text(), re.M
    )
    assert len(found) == 1
    return int(found[0])


def task_keep_alive(template: dict[str, Any]) -> int:
    (task,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    given = [e["Value"] for e in _walk(task) if e.get("Name") == "KEEP_ALIVE_TIMEOUT"]
    return int(given[0]) if given else entrypoint_default()


def test_the_service_outlasts_the_load_balancers_idle_timeout() -> None:
    template = cfn.load(STACK)
    idle = alb_idle_timeout(template)
    assert 1 <= idle <= 4000  # the attribute's range (ELB API reference, LoadBalancerAttribute)
    assert task_keep_alive(template) > idle
    assert DEFAULT_KEEP_ALIVE_TIMEOUT == entrypoint_default() == Settings.model_fields["keep_alive_timeout"].default


def test_entrypoint_hands_the_keep_alive_to_uvicorn() -> None:
    # PYTHON=echo prints the command line entrypoint.sh would exec.
    for env, expected in (({}, DEFAULT_KEEP_ALIVE_TIMEOUT), ({"KEEP_ALIVE_TIMEOUT": "75"}, 75)):
        done = subprocess.run(
            [str(ROOT / "entrypoint.sh")],
            env=clean_environment(PYTHON="echo", ENV_FILE="/nonexistent.env", **env),
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        assert f"--timeout-keep-alive {expected} " in done.stdout, done.stdout
