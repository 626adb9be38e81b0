"""Every id and number is ASCII digits (issue 29, item 4): \\d, str.isdigit() and int() take any
script's digits ("٥١٢", fullwidth digits, "²"), which AWS and the typed settings refuse."""

from __future__ import annotations

import pytest

from src.cli.audit.rules import fargate_size_problems
from src.cli.fleet.reports import parse_timestamp
from src.startup import prefetch


@pytest.mark.parametrize(
    ("cpu", "memory"), [("٥١٢", "1024"), ("512", "١٠٢٤"), ("５１２", "1024"), ("512", "1024²"), ("٠.5 vCPU", "1GB")]
)
def test_a_fargate_size_in_other_digits_is_not_a_number(cpu: str, memory: str) -> None:
    (problem,) = fargate_size_problems(cpu, memory)
    assert "is not a number" in problem
    assert fargate_size_problems("512", "1024") == [] and fargate_size_problems("0.5 vCPU", "1GB") == []


@pytest.mark.parametrize("name", ["SECRETS_MAX_ATTEMPTS", "SECRETS_READ_TIMEOUT", "SECRETS_CONNECT_TIMEOUT"])
def test_the_prefetch_child_reads_ascii_numbers_only(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv(name, "٣")  # int("٣") == 3; Settings refuses it, so the child must too
    with pytest.raises(ValueError):
        prefetch._settings_from_env()
    monkeypatch.setenv(name, "3")
    assert prefetch._settings_from_env()[2]


def test_a_report_timestamp_is_ascii_digits() -> None:
    assert parse_timestamp("1700000000000").year == 2023
    with pytest.raises(ValueError):
        parse_timestamp("١٧٠٠٠٠٠٠٠٠٠٠٠")
