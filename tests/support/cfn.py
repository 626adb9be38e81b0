"""Reading the CloudFormation template in tests: `audit`'s own loader (short-form tags become
their long form), and a resolver of plain parameters for comparing documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from src.cli.audit import evaluate_conditions, load_template

__all__ = ["evaluate_conditions", "load", "resolve"]


def load(path: Path) -> dict[str, Any]:
    return load_template(path)


def resolve(value: Any, params: dict[str, str], conditions: dict[str, bool] | None = None) -> Any:
    """Substitute Ref/Sub of plain parameters and pseudo parameters, and Fn::If when conditions
    are given; other intrinsics are kept."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in params:
            return params[value["Ref"]]
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            text = value["Fn::Sub"]
            for name, replacement in params.items():
                text = text.replace("${" + name + "}", replacement)
            return text
        if set(value) == {"Fn::If"} and conditions is not None:
            name, if_true, if_false = value["Fn::If"]
            return resolve(if_true if conditions[name] else if_false, params, conditions)
        return {k: resolve(v, params, conditions) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, params, conditions) for v in value]
    return value
