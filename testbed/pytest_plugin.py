"""pytest plugin (entry point ``pytest11: testbed``): fixtures that boot real testbed clusters.

- ``testbed_cluster``: one default cluster per test session *per xdist worker* (each worker
  has its own run id, network and labels); removed at session end, also after Ctrl-C.
- Before the first boot, objects left by dead runs are garbage-collected (the "next run's
  clean-up" of a run that was killed).
Importing this module is cheap and needs no Docker; only requesting a fixture touches it.
"""

from __future__ import annotations

import warnings

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs a Docker engine and the testbed images")


@pytest.fixture(scope="session")
def testbed_gc() -> set[str]:
    """Remove what dead runs left behind; returns the run ids removed."""
    from testbed import runtime

    runs, failed = runtime.gc()
    if failed:
        warnings.warn(f"testbed gc could not remove: {failed}", stacklevel=1)
    return runs


@pytest.fixture(scope="session")
def testbed_cluster(testbed_gc):
    """A running default cluster (2 workers), booted once per session and worker."""
    from testbed.cluster import Cluster

    cluster = Cluster()
    cluster.up()
    yield cluster
    failed = cluster.down(reason="pytest session end")
    if failed:  # reported, but never replaces the tests' own verdicts
        warnings.warn(f"testbed teardown left objects behind: {failed}", stacklevel=1)
