"""Fixtures the unit tests share."""

from __future__ import annotations

import pytest

from tests.unit.browser import find_chromium


@pytest.fixture(scope="module")
def chromium() -> str:
    """Headless Chromium's path, for the tests that look at a rendered page."""
    return find_chromium()
