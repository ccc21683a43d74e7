"""Drift between nodes (``testbed audit``, the ``config_drift`` check): what counts as drift and
what does not (the per-node links, the workers' own Kerberos options, the nodes that hold no
DAGs), who the odd node out is, and the check over recorded snapshots. No Docker."""

from __future__ import annotations

import copy
import re

from testbed import drift
from testbed.checks.registry import REGISTRY

FERNET = "sha256:d6d087f0876a2ea0"
DAGS = {"long_task.py": "10f7f25a8bda043c", "smoke.py": "ed2be2cc871aa5c7"}
PACKAGES = {"apache-airflow": "3.3.2", "apache-airflow-providers-celery": "3.14.0"}


def _node(name: str) -> dict:
    config = {
        "core.executor": "CeleryExecutor",
        "core.fernet_key": FERNET,
        "core.parallelism": "32",
        # set per node by the testbed: never drift
        "database.sql_alchemy_conn": f"sha256:{name}",
        "core.execution_api_server_url": f"http://toxiproxy:{len(name)}/execution/",
    }
    holds = name.startswith(("worker", "dag-processor"))
    if name.startswith("worker"):
        config |= {"core.security": "kerberos", "kerberos.reinit_frequency": "30"}
    return {"config": config, "dags": dict(DAGS) if holds else {}, "packages": dict(PACKAGES)}


NODES = ["api-server", "scheduler", "dag-processor", "triggerer", "worker-1", "worker-2"]


def _cluster() -> dict[str, dict]:
    return {n: _node(n) for n in NODES}


def test_a_cluster_as_booted_has_no_drift():
    report = drift.compare(_cluster())
    assert report.clean and report.lines() == []
    assert report.nodes == sorted(NODES)


def test_one_nodes_fernet_key_is_drift_and_that_node_the_odd_one_out():
    nodes = _cluster()
    nodes["worker-2"]["config"]["core.fernet_key"] = "sha256:0000000000000000"
    (d,) = drift.compare(nodes).differences
    assert (d.kind, d.item, d.odd) == ("config", "core.fernet_key", ["worker-2"])
    assert "worker-2: sha256:0000000000000000" in d.line()


def test_an_option_set_on_one_node_only_shows_the_others_at_the_default():
    nodes = _cluster()
    nodes["scheduler"]["config"]["core.parallelism"] = "8"
    del nodes["triggerer"]["config"]["core.parallelism"]
    lines = drift.compare(nodes).lines()
    assert len(lines) == 1 and "triggerer: (default)" in lines[0] and "scheduler: 8" in lines[0]


def test_worker_options_are_compared_among_the_workers_only():
    nodes = _cluster()
    assert drift.compare(nodes).clean  # the scheduler has no [kerberos]: not drift
    nodes["worker-1"]["config"]["kerberos.reinit_frequency"] = "3600"
    (d,) = drift.compare(nodes).differences
    assert d.item == "kerberos.reinit_frequency"
    assert sorted(n for ns in d.values.values() for n in ns) == ["worker-1", "worker-2"]


def test_a_dag_file_missing_or_older_on_one_worker_is_drift_but_the_api_server_holds_none():
    nodes = _cluster()
    nodes["worker-1"]["dags"]["long_task.py"] = "0123456789abcdef"  # an older version
    del nodes["worker-2"]["dags"]["smoke.py"]
    lines = drift.compare(nodes).lines()
    assert lines == [
        "dag long_task.py: dag-processor, worker-2: 10f7f25a8bda043c; worker-1: 0123456789abcdef",
        "dag smoke.py: dag-processor, worker-1: ed2be2cc871aa5c7; worker-2: (absent)",
    ]


def test_an_empty_dag_folder_where_dags_must_be_is_drift():
    nodes = _cluster()
    nodes["dag-processor"]["dags"] = {}
    report = drift.compare(nodes)
    assert {d.item for d in report.differences} == set(DAGS)
    assert all(d.odd == ["dag-processor"] for d in report.differences)


def test_a_tie_names_every_node_and_an_unread_node_is_not_clean():
    d = drift.Difference("package", "apache-airflow", {"3.3.1": ["a"], "3.3.2": ["b"]})
    assert d.odd == ["a", "b"]
    report = drift.compare({"scheduler": _node("scheduler")}, {"worker-1": "timeout"})
    assert not report.clean and report.lines() == ["worker-1: not read (timeout)"]


def test_the_snapshot_script_is_valid_python():
    compile(drift.SNAPSHOT_SCRIPT, "snapshot", "exec")


# -- the check over recorded snapshots ---------------------------------------------------------
def _history(nodes: dict[str, dict], mono: float = 100.0, errors: dict | None = None) -> list:
    events = [
        {"kind": "observation", "probe": "node_config", "target": n, "value": v, "mono": mono}
        for n, v in nodes.items()
    ]
    events += [
        {"kind": "observation", "probe": "node_config", "target": n, "error": e, "mono": mono}
        for n, e in (errors or {}).items()
    ]
    return events


def _judge(events: list, **params):
    spec = REGISTRY["config_drift"]
    return spec.evaluate(events, spec.params(**params))


def test_the_check_passes_on_agreeing_nodes_and_fails_on_drift():
    clean = _cluster()
    drifted = copy.deepcopy(clean)
    drifted["api-server"]["config"]["core.fernet_key"] = "sha256:ffffffffffffffff"
    assert _judge(_history(clean)).ok
    r = _judge(_history(drifted))
    assert not r.ok and "core.fernet_key" in r.detail
    assert _judge(_history(drifted), drift=True, item="core.fernet_key", odd=["api-server"]).ok
    wrong = _judge(_history(drifted), drift=True, item="core.fernet_key", odd=["worker-2"])
    assert not wrong.ok and "not on worker-2 alone" in wrong.detail
    assert not _judge(_history(clean), drift=True, item="core.fernet_key").ok


def test_the_check_judges_the_last_look_only():
    drifted = _cluster()
    drifted["worker-2"]["config"]["core.fernet_key"] = "sha256:ffffffffffffffff"
    healed = _history(drifted, mono=100.0) + _history(_cluster(), mono=200.0)
    assert _judge(healed).ok
    # a node gone since (its last snapshot long before the others') is not judged
    gone = _history({"worker-3": drifted["worker-2"]}, mono=10.0) + _history(_cluster(), 200.0)
    assert _judge(gone).ok


def test_the_check_fails_when_a_node_could_not_be_read():
    r = _judge(_history(_cluster(), errors={"worker-3": "timeout"}))
    assert not r.ok and "worker-3: not read (timeout)" in r.detail
    assert not _judge([]).ok


# -- how a run's task ended, where, and what its failed attempts' logs say ----------------------
def _outcome(states: dict[tuple[int, str], str], lines: dict[int, list[str]] | None = None):
    from tests.unit.test_checks import TRIGGER, ev, ti

    events = [TRIGGER]
    events += [ti(1.0, task="read", idx=i, state=s, host=h) for (i, h), s in states.items()]
    for i, text in (lines or {}).items():
        value = {"task_id": "read", "map_index": i, "try_number": 1, "lines": text}
        events.append(ev("observation", 2.0, probe="task_log", target="long", value=value))
    return events


def _task_outcome(events, **params):
    spec = REGISTRY["task_outcome"]
    return spec.evaluate(events, spec.params(run="long", task="read", **params))


def test_task_outcome_needs_every_instance_in_the_state_on_the_named_hosts():
    both = {(0, "worker-1"): "success", (1, "worker-2"): "success"}
    assert _task_outcome(_outcome(both), state="success", hosts=["worker-1", "worker-2"]).ok
    one_host = {(0, "worker-1"): "success", (1, "worker-1"): "success"}
    r = _task_outcome(_outcome(one_host), state="success", hosts=["worker-1", "worker-2"])
    assert not r.ok and "no instance ran on worker-2" in r.detail
    mixed = {(0, "worker-1"): "success", (1, "worker-2"): "failed"}
    r = _task_outcome(_outcome(mixed), state="success")
    assert not r.ok and "read[1] on worker-2 is failed" in r.detail


def test_task_outcome_hosts_may_be_globs_of_pod_names():
    pods = {(0, "worker-1-5bf4bb46c8-pkcc6"): "success", (1, "hybrid-task-read-e7uz"): "success"}
    assert _task_outcome(_outcome(pods), state="success", hosts=["worker-1-*", "hybrid-*"]).ok
    r = _task_outcome(_outcome(pods), state="success", hosts=["worker-2-*"])
    assert not r.ok and "no instance ran on worker-2-*" in r.detail
    r = _task_outcome(_outcome(pods), state="success", host="worker-1-*", max_try=1)
    assert r.ok and r.measurements["hosts"] == ["worker-1-5bf4bb46c8-pkcc6"]


def test_task_outcome_failed_needs_the_error_in_each_failed_attempts_log():
    failed = {(0, "worker-1"): "failed", (1, "worker-2"): "failed"}
    said = "AirflowRuntimeError: VARIABLE_NOT_FOUND: Variable testbed_fernet not found"
    logs = {0: [said], 1: [said]}
    r = _task_outcome(_outcome(failed, logs), state="failed", error="not found")
    assert r.ok and "VARIABLE_NOT_FOUND" in r.detail
    r = _task_outcome(
        _outcome(failed, {0: [said], 1: ["Timeout"]}), state="failed", error="not found"
    )
    assert not r.ok and "no /not found/ in the log of read[1]" in r.detail
    r = _task_outcome(_outcome(failed, {0: [said]}), state="failed", error="not found")
    assert not r.ok and "the log of read[1] was not read" in r.detail


# -- one node's secret out of step (the replace fault's `secrets`) --------------------------------
def test_a_replaced_node_gets_a_fresh_secret_of_its_own_never_recorded():
    import base64

    from testbed.faults.node import Replace, config_env, fresh_secrets

    names = ["core.fernet_key", "api_auth.jwt_secret"]
    one, two = fresh_secrets(names), fresh_secrets(names)
    assert one["core.fernet_key"] != two["core.fernet_key"]
    assert len(base64.urlsafe_b64decode(one["core.fernet_key"])) == 32  # what Fernet wants
    env = config_env(one)
    assert set(env) == {"AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET"}
    fault = Replace(None, "worker-2", secrets=names)
    assert fault.describe() == {"secrets": names}  # the names, never a value


def test_task_outcome_on_one_host_judges_only_the_instances_that_ran_there():
    mixed = {(0, "worker-1"): "success", (1, "worker-2"): "failed", (2, "worker-2"): "failed"}
    logs = {1: ["ValueError: ran version 1 of drift_probe"], 2: ["ran version 1"]}
    events = _outcome(mixed, logs)
    assert _task_outcome(events, state="success", host="worker-1").ok
    r = _task_outcome(events, state="failed", host="worker-2", error="ran version 1")
    assert r.ok and "all 2 read ended failed on worker-2" in r.detail
    r = _task_outcome(events, state="success", host="worker-3")
    assert not r.ok and "no instance of read in run long on worker-3" in r.detail


# -- the dag_drift fault, refused before boot where it cannot apply ------------------------------
def _dag_drift(tmp_path, **fault) -> dict:
    step = {"name": "d", "kind": "dag_drift", "target": "worker-2", "file": "long_task.py"}
    return {
        "name": "drift",
        "topology": {"workers": 2},
        "steps": [{"fault": {**step, **fault}}, {"expect": {"check": "config_drift"}}],
    }


def test_a_dag_drift_fault_is_checked_against_the_dag_folder_and_its_target(tmp_path):
    import pytest

    from testbed.core.errors import ScenarioError
    from testbed.scenario.load import from_data

    older = tmp_path / "old_long_task.py"
    older.write_text("# an older version\n")
    good = from_data(_dag_drift(tmp_path, stale_from="old_long_task.py"), "d.yaml", base=tmp_path)
    assert good.steps[0].stale_from == str(older.resolve())  # relative to the scenario's folder
    cases = [
        ({"file": "nope.py"}, "steps.0.fault.file: no nope.py in the DAG folder"),
        ({"stale_from": "missing.py"}, "steps.0.fault.stale_from: "),
        ({"target": "api-server"}, "targets a node holding DAG files: dag-processor, worker-1"),
        ({"file": "/etc/passwd.py"}, "steps.0.fault.file: String should match pattern"),
        ({"file": "sub/../../x.py"}, "a file inside the DAG folder (no '..')"),
    ]
    for fault, message in cases:
        with pytest.raises(ScenarioError, match=re.escape(message)):
            from_data(_dag_drift(tmp_path, **fault), "d.yaml", base=tmp_path)


# -- on a real record --------------------------------------------------------------------------
def test_on_a_real_record_the_drift_is_found_and_gone_once_the_node_agrees_again():
    """config_drift_fernet as recorded: the check that found worker-2's own fernet key fails
    once worker-2's snapshots are made to agree (and every recorded verdict is judged again in
    test_real_histories)."""
    from pathlib import Path

    from tests.unit.test_real_histories import events_of, judged_again

    events = events_of(Path(__file__).parent / "histories" / "config_drift_fernet.jsonl.gz")
    name = "the audit finds worker-2's fernet key out of step"
    found = next(e for e in events if e["kind"] == "expectation" and e["name"] == name)
    assert judged_again(events, found).ok
    shared = next(
        e["value"]["config"]["core.fernet_key"]
        for e in events
        if e.get("probe") == "node_config" and e["target"] == "scheduler"
    )
    agreeing = copy.deepcopy(events)
    for e in agreeing:
        if e.get("probe") == "node_config" and e["target"] == "worker-2":
            e["value"]["config"]["core.fernet_key"] = shared
    result = judged_again(agreeing, found)
    assert not result.ok and "no drift on core.fernet_key" in result.detail


def test_task_outcome_passed_through_a_state_on_the_way_and_within_a_try():
    from tests.unit.test_checks import TRIGGER, ti

    bounced = [
        TRIGGER,
        ti(1.0, task="read", idx=0, state="up_for_reschedule", host="worker-2"),
        ti(2.0, task="read", idx=0, state="success", host="worker-1"),
        ti(2.0, task="read", idx=1, state="success", host="worker-1", try_number=2),
    ]
    r = _task_outcome(bounced, passed_through="up_for_reschedule", host="worker-2")
    assert r.ok, r.detail
    r = _task_outcome(bounced, passed_through="up_for_reschedule", host="worker-1")
    assert not r.ok and "no instance on worker-1 was seen up_for_reschedule" in r.detail
    assert _task_outcome(bounced, state="success").ok
    r = _task_outcome(bounced, state="success", max_try=1)
    assert not r.ok and "read[1] needed try 2" in r.detail


def test_a_secret_for_a_node_without_airflow_and_params_that_judge_nothing_are_refused(tmp_path):
    import pytest

    from testbed.core.errors import ScenarioError
    from testbed.scenario.load import from_data

    def drill(fault: dict, expect: dict) -> dict:
        return {
            "name": "d",
            "topology": {"workers": 2},
            "steps": [{"fault": fault}, {"expect": expect}],
        }

    replace = {"name": "r", "kind": "replace", "target": "postgres", "secrets": ["core.fernet_key"]}
    ok = {"check": "config_drift"}
    cases = [
        (drill(replace, ok), "'postgres' holds no Airflow secret"),
        (
            drill({**replace, "target": "worker-1"}, {**ok, "odd": ["worker-1"]}),
            "give 'drift: true'",
        ),
        (
            drill(
                {**replace, "target": "worker-1"},
                {"check": "task_outcome", "run": "x", "error": "e", "state": "success"},
            ),
            "give 'state: failed'",
        ),
    ]
    for data, message in cases:
        with pytest.raises(ScenarioError, match=re.escape(message)):
            from_data(data, "d.yaml", base=tmp_path)


def test_a_local_executors_scheduler_must_hold_the_dags_a_celery_one_need_not():
    nodes = {n: _node(n) for n in ("scheduler", "dag-processor")}
    assert drift.compare(nodes).clean  # CeleryExecutor: the scheduler holds none
    for node in nodes.values():
        del node["config"]["core.executor"]  # Airflow's default: the LocalExecutor
    report = drift.compare(nodes)
    assert {d.item for d in report.differences} == set(DAGS)
    assert all(d.values["(absent)"] == ["scheduler"] for d in report.differences)
