"""Reading the CloudFormation template and the Dockerfile as the deployment rules need them:
the template with its short-form tags in long form, its resources by type, its conditions
evaluated for given parameter values, and the VOLUMEs of the Dockerfile's last stage.

Reading the template needs PyYAML (a dev dependency), imported only when a template is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from src.cli.audit.base import Failed, as_list

CFN_TAGS = ("Ref", "Sub", "GetAtt", "If", "Equals", "Not", "And", "Or", "Condition", "Join", "Select", "Split")


def load_template(path: Path) -> dict[str, Any]:
    """The template with short-form tags (!Ref, !If, ...) turned into their long form."""
    import yaml

    # libyaml's loader when PyYAML was built with it: ten times faster on this template.
    base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class CfnLoader(base):  # type: ignore[valid-type,misc]
        pass

    def constructor(tag: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
        def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
            value: Any
            if isinstance(node, yaml.ScalarNode):
                value = loader.construct_scalar(node)
                if tag == "GetAtt":
                    value = str(value).split(".")
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            elif isinstance(node, yaml.MappingNode):
                value = loader.construct_mapping(node, deep=True)
            else:
                raise Failed(f"unexpected YAML node {node!r}")
            # !Ref and !Condition are the two short forms whose long form has no "Fn::".
            return {tag if tag in ("Ref", "Condition") else f"Fn::{tag}": value}

        return construct

    for tag in CFN_TAGS:
        CfnLoader.add_constructor(f"!{tag}", constructor(tag))
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict):
        raise Failed(f"{path.name} is not a CloudFormation template")
    return document


def dockerfile_volumes(text: str) -> set[str]:
    """The paths the Dockerfile's last stage declares with VOLUME (JSON or plain form)."""
    logical = re.sub(r"\\\n", " ", text)
    stage: list[str] = []
    for line in logical.splitlines():
        words = line.strip().split(None, 1)
        if not words or words[0].startswith("#"):
            continue
        if words[0].upper() == "FROM":
            stage = []
        stage.append(line.strip())
    volumes: set[str] = set()
    for line in stage:
        words = line.split(None, 1)
        if words[0].upper() != "VOLUME" or len(words) < 2:
            continue
        argument = words[1].strip()
        try:
            parsed = json.loads(argument)
        except ValueError:
            parsed = argument.split()
        volumes.update(str(v) for v in as_list(parsed))
    return volumes


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template.get("Resources", {}).items() if r.get("Type") == kind}


def resolved(value: Any, params: dict[str, str], conditions: dict[str, bool]) -> Any:
    """A property with Ref to a parameter and Fn::If resolved; any other value as it is."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in params:
        return params[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        name, if_true, if_false = value["Fn::If"]
        return resolved(if_true if conditions[name] else if_false, params, conditions)
    return value


def evaluate_conditions(template: dict[str, Any], params: dict[str, str]) -> dict[str, bool]:
    """Fn::Equals/Not/And/Or/Condition over parameter values, as CloudFormation evaluates them."""
    definitions = template.get("Conditions", {})
    done: dict[str, bool] = {}

    def evaluate(node: Any) -> bool:
        if isinstance(node, dict) and set(node) == {"Condition"}:
            return condition(node["Condition"])
        (function, args), *_ = node.items()
        if function == "Fn::Equals":
            left, right = (str(resolved(a, params, done)) for a in args)
            return left == right
        if function == "Fn::Not":
            return not evaluate(args[0])
        if function == "Fn::And":
            return all(evaluate(a) for a in args)
        if function == "Fn::Or":
            return any(evaluate(a) for a in args)
        raise ValueError(f"condition function {function} is not understood")

    def condition(name: str) -> bool:
        if name not in done:
            done[name] = evaluate(definitions[name])
        return done[name]

    for name in definitions:
        condition(name)
    return done
