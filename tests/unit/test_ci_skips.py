"""tests/no_skips_in_ci.py: with $CI set, a run that skipped a test fails and names it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_one.py").write_text("import pytest\n\ndef test_away():\n    pytest.skip('no server')\n\n"
                                          "def test_here():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(ROOT)} | ({"CI": "1"} if ci else {})
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.no_skips_in_ci",
                           "--rootdir", str(tmp_path), str(tmp_path)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)


def test_a_skip_fails_a_ci_run_and_is_named(tmp_path):
    proc = run(tmp_path, ci=True)
    assert proc.returncode == 1, proc.stdout
    assert "1 test(s) skipped" in proc.stdout and "test_one.py::test_away: Skipped: no server" in proc.stdout


def test_outside_ci_a_skip_is_only_reported(tmp_path):
    assert run(tmp_path, ci=False).returncode == 0
