"""In CI a skipped test proves nothing: with $CI set, a run that skipped any test fails, naming them.

The real-server fixtures (Dovecot, the SMTP sink, PostgreSQL, Chromium) never skip by design; this
plugin holds every test to the same rule, whatever skip a future test adds. Loaded by tests/conftest.py.
"""

from __future__ import annotations

import os

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; a skipped test proves nothing:", red=True)
        for report in skipped:
            reporter.write_line(f"  {report.nodeid}: {report.longrepr[2] if isinstance(report.longrepr, tuple) else ''}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
