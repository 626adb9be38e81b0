"""A temporary copy of the files `audit` reads, for tests that break them on purpose."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.processes import ROOT

AUDITED = ("infra", "entrypoint.sh", ".gitignore", ".gitattributes", "Dockerfile")


def copy_audited_files(tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    target.mkdir()
    for name in AUDITED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        else:
            shutil.copy2(source, target / name)
    return target
