"""Reliability fixtures: the e2e servers, a credentials endpoint, the report, and the canary hunt."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import create_secret, moto_url, proxy, secret_name, service, sm  # noqa: F401
from tests.reliability import report
from tests.support.credentials_endpoint import CredentialsEndpoint
from tests.support.processes import ROOT

# Every text the suite saw from the service: searched for canaries at the end.
SEEN: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--report-table", action="store_true", help="print the reliability report table")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if report.ROWS and config.getoption("--report-table"):
        terminalreporter.write_sep("=", "reliability report")
        terminalreporter.write_line(report.table())
        path = report.save(ROOT / "bench/results")
        terminalreporter.write_line(f"(also in {path.relative_to(ROOT)})")


@pytest.fixture
def credentials() -> Iterator[CredentialsEndpoint]:
    endpoint = CredentialsEndpoint().start()
    try:
        yield endpoint
    finally:
        with contextlib.suppress(OSError):
            endpoint.stop()
