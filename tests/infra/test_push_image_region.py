"""`make push-image` with an account but no Region stops at once and names AWS_REGION (issue 28 item 9).

Before, it built `ECR_REPO_URI=<account>.dkr.ecr..amazonaws.com/short-cut-api`, read the Region
out of that host as "amazonaws", built the image and failed only at the login. Nothing may run
before the refusal: the container tool here is a script that records any call.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.processes import ROOT, clean_environment


def test_push_image_without_a_region_names_aws_region_and_builds_nothing(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    tool = tmp_path / "tool"
    tool.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    tool.chmod(0o755)
    env = clean_environment()
    env.pop("AWS_REGION", None)
    env.pop("AWS_DEFAULT_REGION", None)
    result = subprocess.run(
        ["make", "--no-print-directory", "push-image", "AWS_ACCOUNT_ID=123456789012", f"CONTAINER_TOOL={tool}",
         "IMAGE_TAG=1.0.0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "AWS_REGION is not set" in result.stderr
    assert ".dkr.ecr..amazonaws.com" not in result.stdout + result.stderr
    assert not calls.exists(), calls.read_text()
