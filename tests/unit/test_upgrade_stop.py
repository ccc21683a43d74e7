"""The downtime window's TERM and wait_exit (testbed.upgrade.procedure), on a fake cluster: the
grace counts from each node's TERM, a node that has exited gets no signal, only a drain reads
the task instances first, and the SIGKILL at the end of the grace is recorded as such."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import docker.errors
import pytest

from testbed.upgrade import procedure as P


class FakeCluster:
    def __init__(self, states: dict[str, str]):
        self.states, self.signals, self.events = states, [], []
        self.history = SimpleNamespace(append=lambda kind, **f: self.events.append((kind, f)))

    def container(self, node):
        return node


@pytest.fixture
def fake(monkeypatch):
    cluster = FakeCluster({"triggerer": "running", "api-server": "running"})

    def send(c, node, signal, timeout=10, **fields):
        if c.states[node].startswith("exited"):
            raise docker.errors.APIError("is not running", SimpleNamespace(status_code=409))
        c.signals.append((node, signal, fields))
        if signal == "KILL":
            c.states[node] = "exited(137)"

    monkeypatch.setattr(P.uobs, "send_signal", send)
    monkeypatch.setattr(P.runtime, "state", lambda node: cluster.states[node])
    reads: list[str] = []
    proc = P.Procedure(
        cluster=cluster,
        version="3.3.2",
        cancelled=threading.Event(),
        before_signal=lambda: reads.append("read"),
    )
    return proc, cluster, reads


def test_a_stop_terms_without_reading_tasks_and_a_drain_reads_them_first(fake):
    proc, cluster, reads = fake
    proc.term(P.Step("stop", "term", "triggerer", ""))
    assert reads == [] and cluster.signals == [("triggerer", "TERM", {})]
    proc.term(P.Step("drain", "term", "api-server", ""))
    assert reads == ["read"] and cluster.signals[-1] == ("api-server", "TERM", {})


def test_a_node_that_has_exited_gets_no_signal(fake):
    proc, cluster, reads = fake
    cluster.states["triggerer"] = "exited(0)"
    proc.term(P.Step("drain", "term", "triggerer", ""))
    assert cluster.signals == [] and reads == [] and "triggerer" not in proc.termed_at
    proc._signal("triggerer", "KILL")  # exited meanwhile: Docker's 409 is not an error
    assert cluster.signals == []


def test_the_grace_counts_from_the_term_and_ends_in_a_recorded_kill(fake):
    proc, cluster, _ = fake
    proc.term(P.Step("stop", "term", "triggerer", ""))
    proc.termed_at["triggerer"] = time.monotonic() - P.STOP_GRACE - 1  # its grace is over
    started = time.monotonic()
    proc.wait_exit(P.Step("stop", "wait_exit", "triggerer", ""))
    assert time.monotonic() - started < 2  # no fresh 30 s for a node waited for later
    assert cluster.signals[-1] == ("triggerer", "KILL", {"escalation": True})
    assert ("container", {"node": "triggerer", "state": "exited(137)"}) in cluster.events


def test_a_node_that_exits_within_its_grace_is_not_killed(fake):
    proc, cluster, _ = fake
    proc.term(P.Step("stop", "term", "api-server", ""))
    cluster.states["api-server"] = "exited(0)"
    proc.wait_exit(P.Step("stop", "wait_exit", "api-server", ""))
    assert [s for _, s, _ in cluster.signals] == ["TERM"]
