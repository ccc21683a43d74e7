"""CLI input handling that needs no Docker."""

from __future__ import annotations

import pytest

from testbed.cli import parse_overrides
from testbed.errors import TestbedError


def test_parse_overrides():
    got = parse_overrides(["scheduler.scheduler_health_check_threshold=10", "core.x=a=b"])
    assert got == {"scheduler": {"scheduler_health_check_threshold": "10"}, "core": {"x": "a=b"}}


@pytest.mark.parametrize("bad", ["scheduler=1", "scheduler.threshold", ".x=1"])
def test_bad_override_says_the_format(bad):
    with pytest.raises(TestbedError, match="SECTION.KEY=VALUE"):
        parse_overrides([bad])
