"""Applies to every test tier: under CI, a skipped test fails the run.

A tier that cannot run (Azurite missing, a dependency absent) must never be
reported as passing; locally a skip is shown but tolerated.
"""

from __future__ import annotations

import os

import pytest

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") == "true" and _skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"CI=true: {len(_skipped)} skipped test(s) fail the run: {_skipped[:5]}",
                red=True,
            )
