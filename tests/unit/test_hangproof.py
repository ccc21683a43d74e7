"""The runner cannot hang: probes, API calls, heals and audits that never return are cut off at
their bounds, the step fails with what it was waiting for, and Ctrl-C still heals and writes a
partial verdict. Fake probes that never return stand in for a frozen cluster (no Docker)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import psycopg
import pytest
import requests

from testbed import engine, faults, observe
from testbed.core import bounded
from testbed.core.history import History
from testbed.engine import dag_runs, fault_book, steps_bound
from testbed.engine import execute as X
from testbed.engine import runner as engine_runner
from testbed.scenario import model as M
from testbed.topology import Topology

FOREVER = threading.Event()  # never set: a call waiting on it never returns


def never(*_a, **_kw):
    FOREVER.wait()


class FakeCluster:
    """What the runner touches of a cluster, with no Docker behind it."""

    def __init__(self, folder: Path) -> None:
        self.dir, self.run_id = folder, f"unit-{time.monotonic_ns()}"
        self.history = History(folder / "history.jsonl")
        self.topology = Topology()
        self.nodes: dict = {}

    def has(self, name: str) -> bool:
        return name in self.nodes


class FrozenAPI:
    """An api-server that accepts calls and never answers."""

    wait_for_dag = trigger = run_state = staticmethod(never)


class BlockingFault(faults.Fault):
    """Injects at once; its heal never returns (a frozen node that its heal must talk to)."""

    kind = "blocking"

    def __init__(self, cluster, target, **kw) -> None:
        kw.pop("mode", None)
        super().__init__(cluster, target, **kw)

    def _inject(self) -> None:
        pass

    def _heal(self) -> None:
        FOREVER.wait()


class RecordingFault(BlockingFault):
    kind = "recording"

    def _heal(self) -> None:
        self.cluster.history.append("healed_for_real", name=self.name)


@pytest.fixture
def fast(monkeypatch):
    """Short bounds so each hang is cut off within a second or two."""
    monkeypatch.setattr(steps_bound, "GRACE", 0.5)
    monkeypatch.setattr(fault_book, "HEAL_BOUND", 0.5)
    monkeypatch.setattr(fault_book, "AUDIT_BOUND", 0.5)
    monkeypatch.setattr(engine_runner, "STEP_JOIN", 0.2)
    monkeypatch.setattr(dag_runs, "API_BOUND", 0.5)
    monkeypatch.setattr(faults, "heal_audit", never)
    monkeypatch.setattr(observe.core, "PROBE_TIMEOUT", 0.2)
    monkeypatch.setattr(observe.core, "DEADLINE_SLACK", 0.1)
    monkeypatch.setitem(engine.FAULTS, "hang", BlockingFault)
    monkeypatch.setitem(engine.FAULTS, "kill", RecordingFault)


@pytest.fixture
def run(tmp_path, monkeypatch, fast):
    """``run(steps, timeout=...) -> (verdict, seconds, events)`` on a frozen fake cluster."""

    def make(cluster):
        return engine.Runner(cluster, api=FrozenAPI(), probes=[never, never], observe_interval=0.1)

    monkeypatch.setattr(X, "make_runner", make)

    def go(steps: list[dict], timeout: float = 900):
        scenario = M.Scenario.model_validate({"name": "t", "steps": steps, "timeout": timeout})
        cluster = FakeCluster(tmp_path)
        t0 = time.monotonic()
        verdict, folder = X.execute(scenario, cluster)
        return verdict, time.monotonic() - t0, History(folder / "history.jsonl").events()

    return go


# -- bounded calls -------------------------------------------------------------------------
def test_bounded_call_returns_the_value_and_passes_errors_through():
    assert bounded.call(lambda: 41 + 1, 1, "sum") == 42
    with pytest.raises(ZeroDivisionError):
        bounded.call(lambda: 1 / 0, 1, "div")


def test_bounded_call_that_never_returns_is_no_answer_and_aborted():
    aborted = threading.Event()
    t0 = time.monotonic()
    with pytest.raises(bounded.NoAnswer) as err:
        bounded.call(never, 0.3, "frozen thing", abort=aborted.set)
    assert 0.25 < time.monotonic() - t0 < 1.5
    assert aborted.is_set() and "frozen thing" in str(err.value)
    assert isinstance(err.value, TimeoutError)  # probes record it as "timeout"
    assert any(p.startswith("frozen thing (for ") for p in bounded.pending())


def test_a_stuck_key_is_no_answer_at_once_instead_of_another_thread():
    release = threading.Event()
    with pytest.raises(bounded.NoAnswer):
        bounded.call(release.wait, 0.1, "first", key="k-stuck")
    t0 = time.monotonic()
    with pytest.raises(bounded.NoAnswer, match="previous call is still under way"):
        bounded.call(lambda: 1, 5, "second", key="k-stuck")
    assert time.monotonic() - t0 < 0.5
    release.set()  # the first call ends; the key is free again
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and any("first" in p for p in bounded.pending()):
        time.sleep(0.01)
    assert bounded.call(lambda: 1, 1, "third", key="k-stuck") == 1


def test_a_probe_that_never_returns_is_an_observation_of_timeout(tmp_path, monkeypatch):
    monkeypatch.setattr(observe.core, "DEADLINE_SLACK", 0.0)
    cluster = FakeCluster(tmp_path)
    t0 = time.monotonic()
    event = observe.observe(cluster, "api_health", "api-server", never, timeout=0.3)
    assert time.monotonic() - t0 < 1.5
    assert event["error"] == "timeout" and event["value"] is None
    assert cluster.history.events("observation")[-1]["error"] == "timeout"


# -- steps against a frozen cluster -------------------------------------------------------
def _failed_step(events, action):
    ends = [e for e in events if e["kind"] == "step" and e["phase"] == "end"]
    return next(e for e in ends if e["action"] == action and e["error"])


def test_trigger_on_a_frozen_api_ends_at_its_bound(run):
    verdict, took, events = run([{"trigger": {"name": "r", "dag": "smoke", "timeout": "1s"}}])
    assert not verdict.ok and took < 1 + 0.5 + 3
    err = _failed_step(events, "trigger")["error"]
    assert "api: is DAG smoke parsed yet: no answer within 1s" in err  # what it waited for


def test_wait_on_a_frozen_api_ends_at_its_timeout(run, monkeypatch):
    # the trigger answers; then the API freezes for the wait
    monkeypatch.setattr(FrozenAPI, "trigger", staticmethod(lambda dag, conf: "run-1"))
    monkeypatch.setattr(FrozenAPI, "wait_for_dag", staticmethod(lambda dag, timeout: None))
    steps = [{"trigger": {"name": "r", "dag": "smoke"}}, {"wait": {"run": "r", "timeout": "1s"}}]
    verdict, took, events = run(steps)
    assert took < 1 + 0.5 + 3
    assert "run r is None, not success, after 1s" in _failed_step(events, "wait")["error"]
    assert verdict.failed_steps and not verdict.ok


@pytest.mark.parametrize("form", ["within", "during"])
def test_expect_with_frozen_probes_ends_with_its_window(run, form):
    verdict, took, events = run([{"expect": {"check": "healthy", form: "1s"}}])
    assert took < 1 + M.EXPECT_SLACK
    (exp,) = [e for e in events if e["kind"] == "expectation"]
    assert exp["ok"] is False  # no answer is never "healthy"
    assert not verdict.ok


def test_an_overrun_names_what_the_step_was_waiting_for(tmp_path, fast):
    runner = engine.Runner(FakeCluster(tmp_path), api=FrozenAPI(), probes=[])

    def observer() -> None:  # another thread's call, still pending: not the step's
        with contextlib.suppress(bounded.NoAnswer):  # it ends (much later) with no answer
            bounded.call(never, 60, "an observer's call")

    other = threading.Thread(target=observer, daemon=True)
    other.start()
    t0 = time.monotonic()
    with pytest.raises(engine.StepOverrun) as err:
        runner.run_step(lambda: bounded.call(never, 60, "the frozen thing"), bound=0.5)
    assert time.monotonic() - t0 < 0.5 + 0.5 + 1
    assert "within its bound of 0.5s (+0.5s grace); waiting for: the frozen thing (for" in str(
        err.value
    )
    assert "an observer's call" not in str(err.value)
    assert any(p.startswith("an observer's call") for p in bounded.pending())  # it was pending
    assert runner.cancelled.is_set()  # the step's loops stop at their next look


def test_heal_that_never_returns_fails_the_step_and_finish_still_ends(run):
    steps = [
        {"fault": {"name": "f", "kind": "hang", "target": "postgres"}},
        {"heal": {"fault": "f", "timeout": "1s"}},
    ]
    verdict, took, events = run(steps)
    assert took < 1 + 0.5 + 0.2 + 2 * 0.5 + 0.5 + 3  # step + join + heals + audit + slack
    assert _failed_step(events, "heal")["error"] == "heal of f (blocking): no answer within 1s"
    assert any(e["kind"] == "fault" and e["phase"] == "heal_failed" for e in events)
    assert verdict.heal_problems and "heal audit failed" in verdict.heal_problems[0]


def test_the_scenario_timeout_is_enforced_by_the_main_thread(run):
    verdict, took, events = run([{"sleep": "60s"}], timeout="1s")
    assert took < 1 + 0.5 + 3
    assert "left of the scenario's 1s" in _failed_step(events, "sleep")["error"]
    assert not verdict.ok


def test_ctrl_c_heals_and_writes_a_partial_verdict(run):
    steps = [
        {"fault": {"name": "k", "kind": "kill", "target": "worker-1"}},
        {"sleep": "30s"},
    ]
    # Ctrl-C as a terminal delivers it, even to a runner started with SIGINT ignored (a CI
    # started in the background of a non-interactive shell)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()  # a real Ctrl-C
    t0 = time.monotonic()
    try:
        with pytest.raises(X.Interrupted) as stop:
            run(steps)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - t0 < 5
    verdict = stop.value.verdict
    assert verdict.interrupted == "at step 1 (during a step)" and not verdict.ok
    assert (stop.value.folder / "verdict.json").exists()
    events = History(stop.value.folder / "history.jsonl").events()
    assert [e["name"] for e in events if e["kind"] == "healed_for_real"] == ["k"]
    assert any(line.startswith("STOP  interrupted at step 1") for line in verdict.lines())


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (bounded.NoAnswer("x", 1), "timeout"),
        (psycopg.errors.ConnectionTimeout("connection timeout expired"), "timeout"),
        (requests.ReadTimeout("read timed out"), "timeout"),
        (requests.ConnectionError("refused"), "connection: ConnectionError"),
        (psycopg.OperationalError("server closed the connection"), "OperationalError: server"),
    ],
)
def test_no_answer_is_timeout_whichever_library_says_it(exc, said):
    assert observe.describe_error(exc).startswith(said)
