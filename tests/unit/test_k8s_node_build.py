"""The Kubernetes node image is built once per machine: a build ahead in the background and a
drill that needs the image meanwhile share one build (a file lock); a failed build ahead is
built again by the caller, which reports its own failure (no Docker, no Go)."""

from __future__ import annotations

import threading

import pytest

from testbed.core.errors import ImageBuildError
from testbed.images import k8s_node


@pytest.fixture
def fake_build(monkeypatch, tmp_path):
    """A node build that takes a moment and succeeds (or fails while ``fail`` is set)."""
    monkeypatch.setenv("TESTBED_CACHE", str(tmp_path))
    state = {"built": False, "runs": [], "fail": False, "release": threading.Event()}

    def run(cmd, what, update, env=None):
        state["runs"].append(cmd[0].rsplit("/", 1)[-1])
        state["release"].wait(5)
        if state["fail"]:
            raise ImageBuildError(what, "boom", tail=[])
        if cmd[0].endswith("build-node.sh"):
            state["built"] = True

    monkeypatch.setattr(k8s_node.steps, "run", run)
    monkeypatch.setattr(k8s_node.steps, "exists_name", lambda name: state["built"])
    monkeypatch.setattr(k8s_node, "unavailable", lambda: None)
    return state


def test_a_drill_waits_for_the_build_ahead_and_does_not_build_again(fake_build):
    ahead = k8s_node.build_ahead()
    assert ahead is not None
    for _ in range(500):  # until the build ahead holds the lock (at most 5 s)
        if fake_build["runs"]:
            break
        ahead.join(0.01)
    assert fake_build["runs"] == ["build.sh"]
    waiter = threading.Thread(target=k8s_node.ensure_node_image)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive()  # waiting on the lock, not building
    fake_build["release"].set()
    waiter.join(5)
    ahead.join(5)
    assert fake_build["runs"] == ["build.sh", "build-node.sh"]  # one build in all
    assert k8s_node.build_ahead() is None  # the image is here now


def test_a_failed_build_ahead_is_built_again_by_the_drill_that_needs_it(fake_build):
    fake_build["fail"] = True
    fake_build["release"].set()
    ahead = k8s_node.build_ahead()
    ahead.join(5)
    assert fake_build["runs"] == ["build.sh"] and not ahead.is_alive()  # its error swallowed
    with pytest.raises(ImageBuildError, match="boom"):
        k8s_node.ensure_node_image()  # the foreground build meets the failure and reports it
    fake_build["fail"] = False
    assert k8s_node.ensure_node_image() == k8s_node.node_image()
    assert fake_build["runs"][-2:] == ["build.sh", "build-node.sh"]
