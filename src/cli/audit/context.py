"""What an offline check reads: the infra files rendered for one environment, region and
account, and the CloudFormation template (parsed once, on first use)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.app_env import secret_name
from src.cli.audit.base import READ, TASK, TEMPLATE, Failed
from src.cli.audit.template import load_template


@dataclass
class Context:
    root: Path
    env: str
    region: str
    account: str
    docs: dict[str, Any]
    _template: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def secret(self) -> str:
        return secret_name(self.env)

    def template(self) -> dict[str, Any]:
        if self._template is not None:
            return self._template
        try:
            self._template = load_template(self.root / TEMPLATE)
            return self._template
        except ImportError as exc:
            raise Failed(f"reading {TEMPLATE} needs PyYAML: pip install -r requirements-dev.txt ({exc})") from exc

    def container(self) -> dict[str, Any]:
        return dict(self.docs[TASK]["containerDefinitions"][0])

    def environment(self) -> dict[str, str]:
        return {e["name"]: e["value"] for e in self.container().get("environment", [])}

    def statement(self, sid: str) -> dict[str, Any]:
        for stmt in self.docs[READ]["Statement"]:
            if stmt.get("Sid") == sid:
                return dict(stmt)
        raise Failed(f"{READ} has no statement {sid}")
