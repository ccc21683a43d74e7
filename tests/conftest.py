"""Shared test configuration: integration tests skip with a clear reason when no engine answers."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any(item.get_closest_marker("integration") for item in items):
        return
    from testbed import runtime
    from testbed.core.errors import DockerUnavailable

    try:
        runtime.client()
    except DockerUnavailable as exc:
        if os.environ.get("CI"):  # in CI a missing engine is a failure, never a skip
            raise pytest.UsageError(exc.one_line()) from None
        # Outside CI (e.g. a laptop without Docker), say why instead of erroring.
        skip = pytest.mark.skip(reason=f"integration: {exc.one_line()}")
        for item in items:
            if item.get_closest_marker("integration"):
                item.add_marker(skip)
