"""A kill with a gentler signal (TERM: Celery's warm shutdown) and its heal: the heal waits for
the run it signalled to end — not for a run started since (a second TERM's heal after the
first's restarted the node) — and stops a node that ignores the signal. A fake container."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from testbed import faults, runtime
from testbed.core.history import History


class FakeContainer:
    def __init__(self) -> None:
        self.state, self.started = "running", datetime(2026, 1, 1, tzinfo=UTC)
        self.calls: list[str] = []
        self.attrs = {"State": {"FinishedAt": "2026-01-01T00:00:09.5Z"}}

    def kill(self, signal: str) -> None:
        self.calls.append(signal)

    def stop(self, timeout: int) -> None:
        self.calls.append("stop")
        self.state = "exited(0)"

    def start(self) -> None:
        self.calls.append("start")
        self.state, self.started = "running", datetime.now(UTC)


class FakeCluster:
    def __init__(self, folder: Path) -> None:
        self.history = History(folder / "h.jsonl")
        self.box = FakeContainer()

    def container(self, name: str) -> FakeContainer:
        return self.box


def _fake_runtime(monkeypatch) -> None:
    monkeypatch.setattr(runtime, "state", lambda c: c.state)
    monkeypatch.setattr(runtime, "started_at", lambda c: c.started)


def test_a_term_is_recorded_and_its_heal_starts_the_drained_node(tmp_path, monkeypatch):
    _fake_runtime(monkeypatch)
    cluster = FakeCluster(tmp_path)
    term = faults.Kill(cluster, "worker-1", signal="TERM", name="t1").inject()
    cluster.box.state = "exited(0)"  # drained and gone
    assert term.heal()
    assert cluster.box.calls == ["SIGTERM", "start"]
    kinds = [(e["kind"], e.get("phase") or e.get("state")) for e in cluster.history.events()]
    assert ("signal", None) in kinds and ("container", "exited(0)") in kinds


def test_a_second_terms_heal_does_not_wait_on_the_restarted_node(tmp_path, monkeypatch):
    _fake_runtime(monkeypatch)
    cluster = FakeCluster(tmp_path)
    first = faults.Kill(cluster, "worker-1", signal="TERM", name="t1").inject()
    second = faults.Kill(cluster, "worker-1", signal="TERM", name="t2", exit_wait=30).inject()
    cluster.box.state = "exited(0)"
    first.heal()  # starts the node again: a new run
    assert second.heal()  # returns at once: its run is over
    assert cluster.box.calls == ["SIGTERM", "SIGTERM", "start"]


def test_a_node_that_ignores_the_signal_is_stopped_then_started(tmp_path, monkeypatch):
    _fake_runtime(monkeypatch)
    cluster = FakeCluster(tmp_path)
    term = faults.Kill(cluster, "worker-1", signal="TERM", name="t", exit_wait=0.2).inject()
    assert term.heal()
    assert cluster.box.calls == ["SIGTERM", "stop", "start"]
    phases = [e.get("phase") for e in cluster.history.events() if e["kind"] == "fault"]
    assert phases == ["inject", "still_running", "heal"]
