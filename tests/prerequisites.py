"""What a test does when something it needs is not on this machine: outside CI it is skipped
with the reason; in CI (``CI`` set, as `.ci/run` sets it) it fails, because a skip there would
let a suite pass that never ran the test."""

from __future__ import annotations

import os

import pytest


def missing(reason: str) -> None:
    """Skip (or, in CI, fail) the current test because of ``reason``."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (in CI a missing prerequisite is a failure, never a skip)")
    pytest.skip(reason)
