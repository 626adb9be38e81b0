"""src/startup/gc_pause.py: the collector is off from src/main.py until the first load was tried."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from src.startup import gc_pause

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def restore_gc() -> Iterator[None]:
    yield
    gc_pause._paused = False
    gc.unfreeze()
    gc.enable()


def test_pause_then_settle_freezes_the_start_up_heap_and_collects_again() -> None:
    gc_pause.pause()
    assert not gc.isenabled() and gc_pause.paused()
    before = gc.get_freeze_count()
    gc_pause.settle()
    assert gc.isenabled() and not gc_pause.paused()
    assert gc.get_freeze_count() > before
    frozen = gc.get_freeze_count()
    gc_pause.settle()  # twice is harmless: nothing more is frozen
    assert gc.get_freeze_count() == frozen


def test_settle_without_a_pause_changes_nothing() -> None:
    gc_pause.settle()
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_collector_someone_else_turned_off_stays_off() -> None:
    gc.disable()
    gc_pause.pause()
    gc_pause.settle()
    assert not gc.isenabled() and gc.get_freeze_count() == 0


def test_importing_the_served_module_pauses_the_collector_and_imports_no_aws_sdk() -> None:
    # As uvicorn imports src.main in production, with the load in-process (no prefetch child):
    # botocore comes later, in the first load; the OpenAPI response models never (docs are off).
    script = (
        "import gc, json, sys; import src.main; "
        "print(json.dumps({'enabled': gc.isenabled(), 'modules': sorted(sys.modules)}))"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "APP_ENV": "production",
        "AWS_REGION": "us-east-1",
        "SECRET_NAME": "short-cut/prod/app",
        "SECRETS_PREFETCH": "0",
        "ENV_FILE": str(ROOT / "absent.env"),
    }
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    seen = json.loads(out)
    assert seen["enabled"] is False
    modules = set(seen["modules"])
    assert "src.startup.gc_pause" in modules and "src.web.health" in modules
    assert not modules & {"botocore", "boto3", "s3transfer", "src.web.health_models", "src.cli"}
