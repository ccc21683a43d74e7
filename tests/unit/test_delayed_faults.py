"""Faults injected later, in the background (``delay:``), e.g. in the middle of an upgrade step:
injected while the next steps run, drawn from a seed when asked, and a delayed fault that never
got injected fails the verdict. A fake cluster and a recording fault (no Docker)."""

from __future__ import annotations

import time

import pytest

from testbed import engine, faults
from testbed.core.history import History
from testbed.engine import execute as X
from testbed.scenario import model as M
from tests.unit.test_hangproof import FakeCluster, FrozenAPI, RecordingFault


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setattr(faults, "heal_audit", lambda cluster: [])
    monkeypatch.setitem(engine.FAULTS, "kill", RecordingFault)
    monkeypatch.setattr(
        X,
        "make_runner",
        lambda c: engine.Runner(c, api=FrozenAPI(), probes=[], observe_interval=0.1),
    )

    def go(steps: list[dict]):
        scenario = M.Scenario.model_validate({"name": "t", "steps": steps})
        verdict, folder = X.execute(scenario, FakeCluster(tmp_path))
        return verdict, History(folder / "history.jsonl").events()

    return go


def _at(events: list[dict], kind: str, **match) -> list[float]:
    return [e["mono"] for e in events if e["kind"] == kind and match.items() <= e.items()]


def test_a_delayed_fault_lands_while_the_next_step_runs(run):
    verdict, events = run(
        [
            {"fault": {"name": "mid", "kind": "kill", "target": "redis", "delay": "0.6s"}},
            {"sleep": "1.5s"},
        ]
    )
    (sleep_start,) = _at(events, "step", action="sleep", phase="start")
    (inject,) = _at(events, "fault", name="mid", phase="inject")
    (fault_end,) = _at(events, "step", action="fault", phase="end")
    assert fault_end < sleep_start < inject  # the step returned at once; the inject came later
    assert 0.5 < inject - fault_end < 1.3
    assert _at(events, "healed_for_real", name="mid")  # finish() healed it
    assert verdict.failed_steps == []


def test_a_heal_before_the_delay_fails_the_drill(run):
    verdict, events = run(
        [
            {"fault": {"name": "late", "kind": "kill", "target": "redis", "delay": "30s"}},
            {"heal": "late"},
        ]
    )
    assert not _at(events, "fault", name="late", phase="inject")
    assert [s["name"] for s in verdict.failed_steps] == ["late"]
    assert "heal step came before it was due" in verdict.failed_steps[0]["error"]
    assert not verdict.ok


def test_a_scenario_ending_first_fails_too(run):
    t0 = time.monotonic()
    verdict, _ = run(
        [{"fault": {"name": "never", "kind": "kill", "target": "redis", "delay": "1h"}}]
    )
    assert time.monotonic() - t0 < 30  # the pending timer does not hold the end
    assert "scenario ended before it was due" in verdict.failed_steps[0]["error"]


def test_a_seeded_delay_is_the_same_for_the_same_seed():
    def draw(seed: int) -> float | None:
        step = {"name": "r", "kind": "restart", "target": "redis"}
        step["delay"] = {"between": ["5s", "40s"], "seed": seed}
        return M.Fault.model_validate(step).delay_seconds()

    assert draw(7) == draw(7)
    assert all(5 <= draw(s) <= 40 for s in range(20))
    assert len({draw(s) for s in range(20)}) > 10


def test_a_delay_running_out_while_the_scenario_ends_is_recorded(tmp_path, monkeypatch):
    monkeypatch.setitem(engine.FAULTS, "kill", RecordingFault)
    cluster = FakeCluster(tmp_path)
    runner = engine.Runner(cluster, api=FrozenAPI(), probes=[], observe_interval=0.1)
    runner.fault("late", "kill", "redis", delay=0.2)
    runner.cancelled.set()  # what finish() does first, before it drops pending delays
    time.sleep(0.6)
    events = cluster.history.events()
    assert not _at(events, "fault", name="late", phase="inject")
    (failed,) = [e for e in events if e["kind"] == "fault" and e.get("phase") == "inject_failed"]
    assert "scenario was ending" in failed["error"]


def test_a_timeouts_abort_is_shown_beside_a_delayed_fault_that_never_came():
    from testbed.scenario.verdict import compute
    from tests.unit.test_checks import ev

    events = [
        ev("scenario", 0, phase="start"),
        ev("expectation", 1, name="x", check="healthy", ok=True, detail="ok", finding=False),
        ev("aborted", 2, error="ScenarioTimeout: no step starts after 900s"),
        ev("fault", 3, phase="inject_failed", name="late", error="never injected: ended"),
    ]
    v = compute("t", events)
    assert not v.ok
    assert [s["action"] for s in v.failed_steps] == ["aborted", "fault"]
