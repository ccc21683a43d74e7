"""Headless Chromium for the tests that look at a rendered page (a report, the docs): find it
(a missing browser fails under CI, see tests.prerequisites) and run it once, bounded."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.prerequisites import missing

BROWSER_TIMEOUT = 90


def find_chromium() -> str:
    """The browser's path (the ``chromium`` fixture of tests/unit/conftest.py)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    missing("chromium is not installed: apt-get install -y chromium (or run `make test`)")


def browse(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--no-first-run", f"--user-data-dir={profile}", *args]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=BROWSER_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within {BROWSER_TIMEOUT}s: {' '.join(cmd)}")
    assert done.returncode == 0, done.stderr[-2000:]
    return done
