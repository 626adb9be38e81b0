"""Reading the CloudFormation template in tests: short-form tags become their long form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TAGS = ("Ref", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Condition", "Join", "Select", "Split")


class CfnLoader(yaml.SafeLoader):
    pass


def _constructor(tag: str) -> Any:
    def construct(loader: CfnLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".")
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            assert isinstance(node, yaml.MappingNode)
            value = loader.construct_mapping(node, deep=True)
        return {"Ref" if tag == "Ref" else f"Fn::{tag}": value}

    return construct


for _tag in TAGS:
    CfnLoader.add_constructor(f"!{_tag}", _constructor(_tag))


def load(path: Path) -> dict[str, Any]:
    return dict(yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader))  # noqa: S506 - SafeLoader subclass


def resolve(value: Any, params: dict[str, str]) -> Any:
    """Substitute Ref/Sub of plain parameters and pseudo parameters; other intrinsics are kept."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in params:
            return params[value["Ref"]]
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            text = value["Fn::Sub"]
            for name, replacement in params.items():
                text = text.replace("${" + name + "}", replacement)
            return text
        return {k: resolve(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, params) for v in value]
    return value
