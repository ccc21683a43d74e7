"""The upgrade drills' DSL steps (validated before anything boots), the background workload,
and the checks the drills add (a node's exit, drains across workers). No Docker."""

from __future__ import annotations

import threading

import pytest

from testbed.checks import REGISTRY
from testbed.core.errors import ScenarioError
from testbed.scenario import from_data
from testbed.scenario.plan import plan
from testbed.workload import Workload

UP = {"expect": {"name": "up", "check": "healthy", "probe": "api_health"}}


def scenario(*steps: dict, version: str = "3.2.2") -> dict:
    return {"name": "up", "topology": {"airflow_version": version}, "steps": [*steps, UP]}


def error_of(data: dict) -> str:
    with pytest.raises(ScenarioError) as info:
        from_data(data, "up.yaml")
    return str(info.value)


def test_upgrade_steps_parse_and_name_their_versions():
    s = from_data(
        scenario(
            {"workload": {"name": "load", "dag": "smoke", "every": "5s"}},
            {"backup": "before"},
            {"migrate": {"name": "migrate-1", "to": "3.3.2", "wait": False}},
            {"fault": {"name": "k", "kind": "kill", "target": "migrate-1"}},
            {"wait_node": {"node": "migrate-1", "state": "exited", "timeout": "30s"}},
            {"upgrade": {"to": "3.3.1", "nodes": ["worker-1"], "strategy": "rolling"}},
            {"restore": "before"},
            {"stop_workload": "load"},
            {"expect": {"check": "exited", "node": "migrate-1", "code": None}},
        ),
        "up.yaml",
    )
    assert s.versions() == {"3.2.2", "3.3.2", "3.3.1"}
    text = "\n".join(plan(s))
    assert "airflow db migrate of 3.3.2 as node migrate-1 (and go on at once)" in text
    assert "upgrade worker-1 to Airflow 3.3.1 (rolling only" in text
    assert "restore the metadata DB from backup 'before'" in text
    assert [s.steps[i].bound() for i in (0, 2, 4, 5)] == [70.0, 300.0, 30.0, 900.0]


@pytest.mark.parametrize(
    ("step", "said"),
    [
        ({"upgrade": {"to": "2.9.0"}}, "steps.0.upgrade.to: Input should be '3.1.7'"),
        ({"upgrade": {"to": "3.3.2", "nodes": ["postgres"]}}, "unknown Airflow node 'postgres'"),
        ({"migrate": {"to": "3.3.2", "name": "db"}}, "steps.0.migrate.name"),
        ({"wait_node": {"node": "migrate-3"}}, "unknown node 'migrate-3'"),
        ({"restore": "nope"}, "unknown backup 'nope'"),
        ({"workload": {"name": "w", "dag": "no_such_dag"}}, "unknown DAG 'no_such_dag'"),
        ({"stop_workload": "w"}, "unknown workload 'w'"),
        ({"remove_node": "scheduler"}, "unknown node added by this scenario 'scheduler'"),
        ({"add_node": {"node": "scheduler-2", "version": "9.9.9"}}, "add_node.version"),
    ],
)
def test_bad_upgrade_steps_are_refused_before_anything_boots(step, said):
    assert said in error_of(scenario(step))


def test_workload_names_each_run_and_records_what_the_api_did_not_take():
    events, runs = [], {}
    answers = iter(["run-a", RuntimeError("api-server restarting"), "run-b"])
    done = threading.Event()

    def trigger(dag, conf):
        answer = next(answers, None)
        if answer is None:
            done.set()
            return "extra"
        if isinstance(answer, Exception):
            raise answer
        return answer

    w = Workload(
        "load", "smoke", 0.01, {}, trigger,
        lambda kind, **f: events.append((kind, f)), lambda n, d, r: runs.__setitem__(n, r),
    ).start()  # fmt: skip
    assert done.wait(5)
    w.stop()
    assert runs["load-1"] == "run-a" and runs["load-2"] == "run-b"  # a miss makes no run
    missed = [f for k, f in events if k == "workload" and f["phase"] == "missed"]
    assert missed and "api-server restarting" in missed[0]["error"]
    assert [f["name"] for k, f in events if k == "trigger"][:2] == ["load-1", "load-2"]
    assert events[-1][1]["phase"] == "stop"


def _ev(kind: str, mono: float, **f) -> dict:
    return {"kind": kind, "mono": mono, "wall": mono, **f}


def test_exited_reads_the_migrator_record_and_container_states():
    spec = REGISTRY["exited"]
    ev = [_ev("container", 1, node="migrate-1", state="exited(137)")]
    assert spec.evaluate(ev, spec.params(node="migrate-1", code=None)).ok
    r = spec.evaluate(ev, spec.params(node="migrate-1", code=0))
    assert not r.ok and r.detail == "migrate-1 exited 137, not 0"
    ev.append(_ev("migrate", 2, phase="end", node="migrate-2", exit_code=0))
    assert spec.evaluate(ev, spec.params(node="migrate-2")).ok
    assert not spec.evaluate(ev, spec.params(node="migrate-3")).ok


def _migrators(end_1: float, code_2, start_2: float = 1.0) -> list[dict]:
    return [
        _ev("migrate", 0.0, phase="start", node="migrate-1"),
        _ev("migrate", start_2, phase="start", node="migrate-2"),
        _ev("migrate", end_1, phase="end", node="migrate-1", exit_code=0),
        _ev("migrate", max(end_1, start_2) + 0.5, phase="end", node="migrate-2", exit_code=code_2),
    ]


def test_migrators_overlapped_needs_a_real_race_a_winner_and_both_ended():
    spec = REGISTRY["migrators_overlapped"]
    p = spec.params(nodes=["migrate-1", "migrate-2"])
    waited = spec.evaluate(_migrators(end_1=12.0, code_2=0), p)
    assert waited.ok and waited.measurements["overlap_s"] == 11.0
    assert spec.evaluate(_migrators(end_1=12.0, code_2=1), p).ok  # the second gave up
    one_after_the_other = spec.evaluate(_migrators(end_1=5.0, code_2=0, start_2=6.0), p)
    assert not one_after_the_other.ok and "no race" in one_after_the_other.detail
    never_exited = spec.evaluate(_migrators(end_1=12.0, code_2=None), p)
    assert not never_exited.ok and "exits" in never_exited.detail
    none_won = _migrators(end_1=12.0, code_2=1)
    none_won[2]["exit_code"] = 1
    assert not spec.evaluate(none_won, p).ok
    assert "migrate-2 was not seen" in spec.evaluate(_migrators(12.0, 0)[:3], p).detail


def _ti(mono, host, state, try_number=1, task="work", run="r1"):
    value = {"dag_id": "d", "run_id": run, "task_id": task, "map_index": -1,
             "try_number": try_number, "state": state, "hostname": host}  # fmt: skip
    return _ev("observation", mono, probe="task_instance", target="d", value=value, round=1)


def test_drained_cleanly_over_a_glob_judges_every_signalled_worker():
    spec = REGISTRY["drained_cleanly"]
    ev = [
        _ti(1, "worker-1", "running", task="a"),
        _ti(1, "worker-2", "running", task="b", run="r2"),
        _ev("signal", 2, node="worker-1", signal="TERM"),
        _ev("signal", 3, node="worker-2", signal="TERM"),
        _ti(5, "worker-1", "success", task="a"),
        _ti(6, "worker-2", "success", task="b", run="r2"),
    ]
    r = spec.evaluate(ev, spec.params(node="worker-*"))
    assert r.ok and r.measurements["running_at_signal"] == 2
    ev.append(_ti(7, "worker-2", "running", 2, task="b", run="r2"))  # b retried after all
    r = spec.evaluate(ev, spec.params(node="worker-*"))
    assert not r.ok and "worker-2" in r.detail and "retried" in r.detail
    assert not spec.evaluate(ev, spec.params(node="scheduler*")).ok


def test_a_node_added_on_another_version_can_be_removed_again():
    s = from_data(
        scenario(
            {"add_node": {"node": "scheduler-2", "version": "3.3.2", "wait": False}},
            {"wait_node": {"node": "scheduler-2", "state": "exited"}},
            {"remove_node": "scheduler-2"},
        ),
        "up.yaml",
    )
    assert s.versions() == {"3.2.2", "3.3.2"}
    assert "add node scheduler-2 on Airflow 3.3.2 (without waiting)" in "\n".join(plan(s))
    steps = [{"add_node": {"node": "scheduler-2"}}, {"remove_node": "scheduler-2"}]
    said = error_of(scenario(*steps, {"wait_node": {"node": "scheduler-2"}}))
    assert "steps.2.wait_node.node: unknown node 'scheduler-2'" in said


def test_a_workload_is_stopped_once():
    steps = [{"workload": {"name": "w", "dag": "smoke"}}, {"stop_workload": "w"}]
    assert "steps.2.stop_workload.name: unknown workload 'w'" in error_of(
        scenario(*steps, {"stop_workload": "w"})
    )


def test_rollback_is_refused_on_the_way_up_and_taken_on_the_way_back():
    """`rollback:` chooses how to go back across a schema change; on an upgrade it would be
    silently ignored, so it is refused there, naming the two versions."""
    up = {"upgrade": {"to": "3.3.2", "rollback": "downgrade"}}
    said = error_of(scenario(up))
    assert "steps.0.upgrade.rollback" in said and "from 3.2.2 to 3.3.2" in said
    back = {"upgrade": {"to": "3.2.2", "rollback": "downgrade"}}
    s = from_data(scenario({"upgrade": {"to": "3.3.2"}}, back), "up.yaml")
    assert s.steps[1].rollback == "downgrade"
    partial = {"upgrade": {"to": "3.3.2", "nodes": ["worker-1"]}}  # the cluster is still 3.2.2
    assert "from 3.2.2 to 3.3.2" in error_of(scenario(partial, up))
