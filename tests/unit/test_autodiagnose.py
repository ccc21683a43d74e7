"""Hang diagnostics in a scenario: when a capture starts (health flips, failed steps), its
budget, the main-thread frames it records, and the check that reads them. No Docker."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

from testbed.autodiagnose import BUDGET, AutoDiagnose, flipped_nodes, node_states
from testbed.checks import REGISTRY
from testbed.core.history import History
from testbed.diagnose import main_frames

STACKS = """# py-spy dump of 1 Python process(es) on scheduler

===== pid 7 (ppid 1, Sl): /opt/airflow/bin/python /opt/airflow/bin/airflow scheduler
Thread 7 (idle): "MainThread"
    0x7ff7f546672e (libc.so.6)
    poll (libc.so.6)
    PQexec (libpq-a17e3caa.so.5.17)
    _pq_execute_sync (psycopg2/_psycopg.cpython-313-x86_64-linux-gnu.so)
    SchedulerJobRunner._run_scheduler_loop (airflow/jobs/scheduler_job_runner.py:1200)
Thread 20 (idle): "InProcessExecutionAPI-loop"
    select (selectors.py:1)
"""


def api(status: str | None, dag_processor: str = "healthy", error: str | None = None) -> dict:
    value = (
        None
        if error
        else {
            "metadatabase": {"status": "healthy"},
            "scheduler": {"status": status},
            "dag_processor": {"status": dag_processor},
        }
    )
    return {"kind": "observation", "probe": "api_health", "target": "api-server",
            "value": value, "error": error}  # fmt: skip


def test_only_a_flip_from_healthy_names_nodes():
    ok = node_states(api("healthy"))
    assert ok == {"api-server": "healthy", "scheduler": "healthy", "dag-processor": "healthy"}
    assert flipped_nodes({}, api("unhealthy")) == []  # no healthy baseline yet
    assert flipped_nodes(ok, api("healthy")) == []
    assert flipped_nodes(ok, api("unhealthy")) == ["scheduler"]
    assert flipped_nodes(ok, api("healthy", "unhealthy")) == ["dag-processor"]
    assert flipped_nodes(ok, api(None, error="timeout")) == ["api-server"]
    sched = {"probe": "scheduler_health", "target": "scheduler-2", "value": {"status": 503}}
    assert flipped_nodes({"scheduler-2": "healthy"}, sched) == ["scheduler-2"]


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.release = threading.Event()

    def __call__(self, cluster, node, reason, folder):
        self.calls.append((node, reason))
        self.release.wait(5)
        return {}


def _diag(tmp_path: Path, capture) -> AutoDiagnose:
    nodes = {"scheduler": 1, "dag-processor": 1, "api-server": 1}
    known = {*nodes, "triggerer"}  # the triggerer: a role of a pod, not a node
    cluster = SimpleNamespace(
        nodes=nodes, history=History(tmp_path / "h.jsonl"), has=known.__contains__
    )
    return AutoDiagnose(cluster, tmp_path, capture)


def test_a_flip_captures_once_per_node_at_a_time_within_the_budget(tmp_path):
    rec = Recorder()
    d = _diag(tmp_path, rec)
    d.saw(api("healthy"))
    d.saw(api("unhealthy"))
    d.saw(api("healthy"))
    d.saw(api("unhealthy"))  # the scheduler's capture is still under way: not another
    assert [n for n, _ in rec.calls] == ["scheduler"]
    assert "api_health of api-server: scheduler went unhealthy" in rec.calls[0][1]
    rec.release.set()
    d.join(2)
    for i in range(BUDGET + 2):
        d.request("api-server", f"step {i} failed")
        d.join(2)
    assert len(rec.calls) == BUDGET  # never more than the budget
    assert not d.request("no-such-node", "x")


def test_a_node_restarted_on_purpose_is_not_captured_and_the_budget_stays(tmp_path):
    rec = Recorder()
    rec.release.set()
    d = _diag(tmp_path, rec)
    d.saw(api("healthy"))
    with d.planned("scheduler"):  # an upgrade rolls it: its silence is explained
        d.saw(api("unhealthy"))
        d.saw(api(None, error="timeout"))  # the api-server's flip was not planned
    d.join(2)
    assert [n for n, _ in rec.calls] == ["api-server"] and d.taken == 1
    d.saw(api("healthy"))
    d.saw(api("unhealthy"))  # after its window, a flip nobody planned is captured
    d.join(2)
    assert [n for n, _ in rec.calls] == ["api-server", "scheduler"]


def test_a_capture_that_raises_is_recorded_not_raised(tmp_path):
    def broken(*_a):
        raise RuntimeError("docker went away")

    d = _diag(tmp_path, broken)
    assert d.request("scheduler", "step 3 failed")
    d.join(2)
    (event,) = d.cluster.history.events("diagnostics")
    assert event["error"] == "RuntimeError: docker went away" and event["node"] == "scheduler"


def test_main_frames_are_the_main_threads_named_frames_per_process():
    frames = main_frames(STACKS)
    (proc,) = frames
    assert proc.endswith("airflow scheduler")
    assert frames[proc] == [
        "poll (libc.so.6)",
        "PQexec (libpq-a17e3caa.so.5.17)",
        "_pq_execute_sync (psycopg2/_psycopg.cpython-313-x86_64-linux-gnu.so)",
        "SchedulerJobRunner._run_scheduler_loop (airflow/jobs/scheduler_job_runner.py:1200)",
    ]


def _events(frames: dict, node: str = "scheduler", t: float = 12.0) -> list[dict]:
    return [
        {"kind": "fault", "phase": "inject", "name": "stall", "mono": 10.0},
        {"kind": "diagnostics", "node": node, "mono": t, "path": "diagnostics/scheduler-1",
         "reason": "api_health went unhealthy", "main_frames": frames},
    ]  # fmt: skip


def test_stack_shows_finds_the_blocking_frame_and_its_delay():
    spec = REGISTRY["stack_shows"]
    params = spec.params(node="scheduler", frame="PQexec|PQgetResult", after="stall")
    r = spec.evaluate(_events(main_frames(STACKS)), params)
    assert r.ok and r.measurements["frame"].startswith("PQexec") and r.measurements["delay"] == 2.0
    idle = {"airflow scheduler": ["select (selectors.py:1)", "SchedulerJobRunner._execute"]}
    r = spec.evaluate(_events(idle), params)
    assert not r.ok and "select (selectors.py:1)" in r.detail
    r = spec.evaluate(_events(main_frames(STACKS), node="triggerer"), params)
    assert not r.ok and "no diagnostics of scheduler" in r.detail
    r = spec.evaluate(_events(main_frames(STACKS), t=9.0), params)  # before the fault
    assert not r.ok


def test_stack_shows_rejects_a_bad_regex():
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError, match="not a regular expression"):
        REGISTRY["stack_shows"].params(node="scheduler", frame="PQexec(")


def test_a_role_of_a_pod_is_captured_like_a_node_and_an_unknown_name_is_not(tmp_path):
    rec = Recorder()
    d = _diag(tmp_path, rec)
    assert d.request("triggerer", "its pod went unhealthy")
    assert not d.request("nowhere", "no such node or pod")
    rec.release.set()
    d.join(5)
    assert [node for node, _ in rec.calls] == ["triggerer"]
