"""Faults injected the moment a condition holds (``when:``): the model refuses what cannot be
watched, a task-instance condition holds only on the row it names (null as null), the fault
goes in right after the condition is seen and the record says how long after, and a condition
that never holds, or a heal step first, fails the verdict. A fake cluster, scripted database
reads and a recording fault (no Docker)."""

from __future__ import annotations

import re
import time

import pytest

from testbed import engine, faults
from testbed.core.errors import ScenarioError
from testbed.core.history import History
from testbed.engine import execute as X
from testbed.engine import fault_book, when
from testbed.scenario import model as M
from testbed.scenario.load import from_data
from testbed.scenario.when import TaskCondition
from tests.unit.test_hangproof import FakeCluster, FrozenAPI, RecordingFault

QUEUED_NO_ID = {"run": "r", "task": "t", "state": "queued", "where": {"external_executor_id": None}}


def _task_state(rows: list[list[tuple]], cond: dict = QUEUED_NO_ID):
    """A TaskState whose database reads return ``rows``, one list per read (then the last)."""
    reads = iter(rows)
    last: list = []

    def query(cluster, sql, params, **kw):
        nonlocal last
        last = next(reads, last)
        assert params == ("dag", "run-1", "t")
        return last

    state = when.TaskState(object(), TaskCondition(**cond), lambda: {"r": ("dag", "run-1")})
    return state, query


def test_a_task_condition_holds_only_on_its_state_with_null_as_null(monkeypatch):
    state, query = _task_state(
        [
            [],  # not there yet
            [("scheduled", 1, None, None)],
            [("queued", 1, "celery-id-1", None)],  # queued, but the id is recorded: too late
            [("queued", 1, None, None)],
        ]
    )
    monkeypatch.setattr(when.postgres, "query", query)
    answers = [state() for _ in range(4)]
    held = {"state": "queued", "try_number": 1, "external_executor_id": None, "hostname": None}
    assert answers == [None, None, None, held]
    assert "state, try_number, external_executor_id, hostname from task_instance" in state.sql


def test_a_counted_condition_holds_only_when_that_many_instances_hold_at_one_look(monkeypatch):
    cond = {"run": "r", "task": "t", "state": "running", "count": 3}
    running, queued = ("running", 1, None, "w1"), ("queued", 1, None, None)
    state, query = _task_state(
        [[running, queued, running], [running, running, queued], [running, running, running]],
        cond,
    )
    monkeypatch.setattr(when.postgres, "query", query)
    answers = [state() for _ in range(3)]
    assert answers[:2] == [None, None]
    assert answers[2] == {
        "state": "running",
        "try_number": 1,
        "external_executor_id": None,
        "hostname": "w1",
        "instances": 3,
    }
    assert TaskCondition(**cond).describe() == "3 instances of task r.t state=running"


def _api(cluster, status: str | None, component: str = "dag_processor") -> None:
    value = None if status is None else {component: {"status": status}}
    error = "timeout" if status is None else None
    cluster.history.append(
        "observation", probe="api_health", target="api-server", value=value, error=error
    )


def test_a_probe_condition_holds_on_the_first_answer_recorded_after_the_watch_began(tmp_path):
    from testbed.scenario.when import ProbeCondition

    cluster = type("C", (), {"history": History(tmp_path / "h.jsonl")})()
    _api(cluster, "unhealthy")  # before the watch: never counts
    cond = ProbeCondition(probe="api_health", component="dag_processor", answer="unhealthy")
    answer = when.ProbeAnswer(cluster, cond)
    assert answer() is None
    _api(cluster, "healthy")
    _api(cluster, None)  # no answer is not unhealthy
    cluster.history.append("trigger", name="r")
    assert answer() is None
    _api(cluster, "unhealthy")
    _api(cluster, "unhealthy", component="scheduler")
    held = answer()
    assert held == {"probe": "api_health", "target": "api-server", "answer": "unhealthy"}
    silent = when.ProbeAnswer(cluster, cond.model_copy(update={"answer": "no answer"}))
    assert silent() is None  # the earlier silence was before this watch
    _api(cluster, None)
    assert silent() == {"probe": "api_health", "target": "api-server", "answer": "no answer"}
    assert "api_health of dag_processor answering unhealthy" in cond.describe()


def test_a_run_not_yet_triggered_does_not_hold():
    state = when.TaskState(object(), TaskCondition(run="r", task="t"), lambda: {})
    assert state() is None  # no read: there is nothing to read yet


def test_a_watch_fires_on_the_first_look_that_holds_and_says_when(monkeypatch):
    looks, seen = iter([None, None, {"x": 1}]), []
    watch = when.Watch(lambda: next(looks), 5, lambda m, t: seen.append((m, t)), seen.append, "f")
    t0 = time.monotonic()
    watch.start()
    watch.join(5)
    assert seen and seen[0][0] == {"x": 1} and t0 < seen[0][1] < t0 + 1


def test_a_watch_that_never_holds_times_out_and_names_the_last_failed_read():
    def failing():
        raise TimeoutError("postgres: no answer")

    out: list = []
    watch = when.Watch(failing, 0.3, lambda m, t: out.append(m), out.append, "f")
    watch.start()
    watch.join(5)
    assert len(out) == 1 and "did not hold within 0.3s" in out[0] and "no answer" in out[0]


class SignalFault(RecordingFault):
    """Records the parameters it was made with (a `kill`'s signal)."""

    def __init__(self, cluster, target, signal: str = "KILL", **kw) -> None:
        super().__init__(cluster, target, **kw)
        cluster.history.append("made", name=self.name, signal=signal)


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setattr(faults, "heal_audit", lambda cluster: [])
    monkeypatch.setitem(engine.FAULTS, "kill", SignalFault)
    monkeypatch.setattr(
        X,
        "make_runner",
        lambda c: engine.Runner(c, api=FrozenAPI(), probes=[], observe_interval=0.1),
    )

    def go(steps: list[dict], holds_after: float):
        class Line:  # the node's output: the line comes ``holds_after`` s after the watch began
            def __init__(self, cluster, cond):
                self.at = time.monotonic() + holds_after

            def __call__(self):
                return {"line": "the line"} if time.monotonic() >= self.at else None

        monkeypatch.setattr(fault_book, "LogLine", Line)
        scenario = M.Scenario.model_validate({"name": "t", "steps": steps})
        verdict, folder = X.execute(scenario, FakeCluster(tmp_path))
        return verdict, History(folder / "history.jsonl").events()

    return go


def _fault(within: str = "5s", **extra) -> dict:
    cond = {"log": {"node": "scheduler", "line": "the line"}, "within": within}
    step = {"name": "w", "kind": "kill", "target": "redis", "when": cond, "signal": "HUP"}
    return {"fault": {**step, **extra}}


def _at(events: list[dict], kind: str, **match) -> list[dict]:
    return [e for e in events if e["kind"] == kind and match.items() <= e.items()]


def test_the_fault_goes_in_when_the_condition_holds_and_records_how_long_after(run):
    verdict, events = run([_fault(), {"sleep": "1.5s"}], holds_after=0.6)
    (step_end,) = _at(events, "step", action="fault", phase="end")
    (held,) = _at(events, "fault", name="w", phase="condition_held")
    (inject,) = _at(events, "fault", name="w", phase="inject")
    assert step_end["mono"] < held["mono"] <= inject["mono"]  # in the background, once held
    assert 0.5 < held["mono"] - step_end["mono"] < 1.3
    assert held["match"] == {"line": "the line"} and 0 <= held["after_s"] < 0.5
    assert "matching 'the line'" in held["condition"]
    assert _at(events, "made", name="w")[0]["signal"] == "HUP"  # its own parameters
    assert verdict.failed_steps == []


def test_a_delay_counts_from_the_moment_the_condition_held(run):
    verdict, events = run([_fault(delay="0.8s"), {"sleep": "2s"}], holds_after=0.3)
    (held,) = _at(events, "fault", name="w", phase="condition_held")
    (inject,) = _at(events, "fault", name="w", phase="inject")
    assert 0.8 <= held["after_s"] < 1.5 and inject["mono"] >= held["mono"]
    assert verdict.failed_steps == []


def test_a_condition_that_never_holds_fails_the_drill(run):
    verdict, events = run([_fault(within="0.5s"), {"sleep": "1.5s"}], holds_after=60)
    assert not _at(events, "fault", name="w", phase="inject")
    assert "did not hold within 0.5s" in verdict.failed_steps[0]["error"]
    assert not verdict.ok


def test_a_heal_step_before_the_condition_fails_the_drill(run):
    verdict, events = run([_fault(), {"heal": "w"}], holds_after=60)
    assert not _at(events, "fault", name="w", phase="inject")
    assert "heal step came before" in verdict.failed_steps[0]["error"]


def _drill(when_: dict, **fault) -> dict:
    step = {"name": "f", "kind": "kill", "target": "scheduler", "when": when_, **fault}
    return {
        "name": "d",
        "steps": [
            {"trigger": {"name": "r", "dag": "long_task"}},
            {"fault": step},
            {"expect": {"check": "no_task_lost"}},
        ],
    }


@pytest.mark.parametrize(
    ("when_", "extra", "message"),
    [
        ({"task": {"run": "nope", "task": "t"}}, {}, "when.task.run: unknown run 'nope'"),
        ({"log": {"node": "nowhere", "line": "x"}}, {}, "when.log.node: unknown node 'nowhere'"),
        ({"task": {"run": "r", "task": "t"}, "log": {"node": "redis", "line": "x"}}, {}, "one"),
        ({}, {}, "name one condition: 'task', 'log', 'probe' or 'schema'"),
        ({"probe": {"probe": "api_health", "answer": "sick"}}, {}, "answer: Input should be"),
        (
            {"probe": {"probe": "scheduler_health", "answer": "healthy", "target": "sched"}},
            {},
            "when.probe.target: unknown node 'sched'",
        ),
        ({"log": {"node": "redis", "line": "("}}, {}, "not a regular expression"),
        ({"task": {"run": "r", "task": "t", "where": {"pids": 1}}}, {}, "unknown column(s)"),
        ({"task": {"run": "r", "task": "t", "state": "waiting"}}, {}, "state: Input should be"),
        ({"task": {"run": "r", "task": "t", "count": 0}}, {}, "count: Input should be greater"),
    ],
)
def test_a_condition_that_cannot_be_watched_is_refused_before_boot(when_, extra, message):
    with pytest.raises(ScenarioError, match=re.escape(message)):
        from_data(_drill(when_, **extra), "drill.yaml")


def test_a_good_condition_validates_and_says_what_it_waits_for():
    scenario = from_data(_drill({"task": QUEUED_NO_ID, "within": "30s"}), "drill.yaml")
    fault = scenario.steps[1]
    assert fault.when.within == 30
    assert "injected when task r.t state=queued external_executor_id=null (within 30s)" in (
        fault.describe()
    )
