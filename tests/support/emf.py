"""A validator for CloudWatch Embedded Metric Format (EMF) documents, after the specification.

Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
(source text: awsdocs/amazon-cloudwatch-user-guide, doc_source/CloudWatch_Embedded_Metric_Format_Specification.md).
Rules checked, each quoted from it:
- "The LogEvent message MUST be a valid JSON object with no additional data at the beginning or end."
- The root MUST hold `_aws`, an object that MUST contain `CloudWatchMetrics` (an array of
  MetricDirective) and `Timestamp` ("the number of milliseconds after Jan 1, 1970 00:00:00 UTC";
  an integer in the spec's JSON schema).
- A MetricDirective MUST contain `Namespace` (a string, 1-255), `Dimensions` (an array of
  DimensionSet, at least one in the schema) and `Metrics` (at most 100 MetricDefinition).
- A DimensionSet is an array of strings, "MUST NOT contain more than 30 dimension keys" (the
  published schema still says 9; the limit became 30 in 2022: awslabs/aws-embedded-metrics-python
  PR #80 and the current specification page), and each key MUST be a root member with a string value.
- A MetricDefinition MUST contain `Name`, a reference to a root member that is a number or an
  array of at most 100 numbers; `Unit`, if present, is one of the CloudWatch units; a
  `StorageResolution`, if present, is 1 or 60.
- Target members are root members, not nested ("cannot be nested objects").
Also checked, because CloudWatch rejects it: a metric value must be finite (JSON has no NaN).
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_METRICS = 100
MAX_DIMENSIONS = 30
MAX_VALUES = 100
UNITS = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)


class EMFError(AssertionError):
    """The document breaks the EMF specification."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate_document(root: Any) -> dict[str, Any]:
    """Check one parsed document; returns it. Raises EMFError naming the broken rule."""
    if not isinstance(root, dict):
        raise EMFError("the root must be a JSON object")
    meta = root.get("_aws")
    if not isinstance(meta, dict):
        raise EMFError("_aws must be an object")
    timestamp = meta.get("Timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
        raise EMFError("_aws.Timestamp must be an integer of milliseconds since the epoch")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        raise EMFError("_aws.CloudWatchMetrics must be a non-empty array of MetricDirective")
    for index, directive in enumerate(directives):
        where = f"CloudWatchMetrics[{index}]"
        if not isinstance(directive, dict):
            raise EMFError(f"{where} must be an object")
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255:
            raise EMFError(f"{where}.Namespace must be a string of 1-255 characters")
        dimension_sets = directive.get("Dimensions")
        if not isinstance(dimension_sets, list) or not dimension_sets:
            raise EMFError(f"{where}.Dimensions must be a non-empty array of DimensionSet")
        for dimension_set in dimension_sets:
            if not isinstance(dimension_set, list) or not all(isinstance(k, str) and k for k in dimension_set):
                raise EMFError(f"{where}: a DimensionSet must be an array of dimension names")
            if len(dimension_set) > MAX_DIMENSIONS:
                raise EMFError(f"{where}: a DimensionSet holds at most {MAX_DIMENSIONS} dimension keys")
            for key in dimension_set:
                if not isinstance(root.get(key), str):
                    raise EMFError(f"{where}: dimension {key!r} must be a root member with a string value")
        metrics = directive.get("Metrics")
        if not isinstance(metrics, list):
            raise EMFError(f"{where}.Metrics must be an array")
        if len(metrics) > MAX_METRICS:
            raise EMFError(f"{where}.Metrics holds at most {MAX_METRICS} MetricDefinition")
        for definition in metrics:
            if not isinstance(definition, dict) or not isinstance(definition.get("Name"), str):
                raise EMFError(f"{where}: a MetricDefinition must have a string Name")
            name = definition["Name"]
            if "Unit" in definition and definition["Unit"] not in UNITS:
                raise EMFError(f"{where}: {name} has an invalid Unit {definition['Unit']!r}")
            if "StorageResolution" in definition and definition["StorageResolution"] not in (1, 60):
                raise EMFError(f"{where}: {name} StorageResolution must be 1 or 60")
            if name not in root:
                raise EMFError(f"{where}: metric {name!r} has no value at the root")
            value = root[name]
            if isinstance(value, list):
                if not value or len(value) > MAX_VALUES or not all(_number(v) for v in value):
                    raise EMFError(f"{name}: an array value holds 1-{MAX_VALUES} finite numbers")
            elif not _number(value):
                raise EMFError(f"{name}: the value must be a finite number or an array of them")
    return root


def parse_line(line: str) -> dict[str, Any]:
    """Parse one log line as an EMF document (the whole line must be the JSON object) and validate it."""
    try:
        document = json.loads(line)
    except ValueError as exc:
        raise EMFError(f"not one JSON object: {exc}") from None
    return validate_document(document)


def emf_lines(text: str) -> list[dict[str, Any]]:
    """Every line of `text` that is an EMF document (has `_aws`), each validated; other lines are skipped."""
    documents = []
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        documents.append(parse_line(line))
    return documents


def metric_names(document: dict[str, Any]) -> list[str]:
    return [m["Name"] for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
