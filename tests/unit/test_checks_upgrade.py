"""Upgrade checks on hand-written histories (no Docker), and the pure parts of their probes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from testbed.checks import REGISTRY
from testbed.upgrade import observe as O
from tests.unit.test_checks import TRIGGER, ev, ti

H322, H332 = "1d6611b6ab7c", "d2f4e1b3c5a7"
CHAIN_322 = ["base", "x1", H322]
CHAIN_332 = ["base", "x1", H322, "m1", "m2", H332]


def run(check: str, events: list[dict], **params):
    spec = REGISTRY[check]
    return spec.evaluate(events, spec.params(**params))


def info(mono: float, version: str, chain: list[str]) -> dict:
    return ev("schema_info", mono, version=version, head=chain[-1], revisions=chain, source="t")


def schema(mono: float, revision: str | None = None, error: str | None = None, **value) -> dict:
    val = None if error else {"revision": revision, **value}
    return ev("observation", mono, probe="schema", target="postgres", value=val, error=error)


INFOS = [info(0, "3.2.2", CHAIN_322), info(0, "3.3.2", CHAIN_332)]


# -- schema_head ------------------------------------------------------------------------------
def test_schema_at_a_versions_head_uses_the_latest_observation():
    h = [*INFOS, schema(1, H322), schema(5, H332)]
    r = run("schema_head", h, version="3.3.2")
    assert r.ok and r.measurements == {"revision": H332}
    r = run("schema_head", h, version="3.2.2")
    assert not r.ok and f"is {H332}, not the head of 3.2.2 ({H322})" in r.detail


def test_schema_head_needs_the_versions_schema_info_and_a_readable_schema():
    assert (
        "no schema_info of 3.3.2" in run("schema_head", [schema(1, H332)], version="3.3.2").detail
    )
    assert "no schema observation" in run("schema_head", INFOS, version="3.3.2").detail
    r = run("schema_head", [*INFOS, schema(1, H332), schema(2, error="timeout")], version="3.3.2")
    assert not r.ok and "could not be read: timeout" in r.detail
    r = run("schema_head", [*INFOS, schema(1, table=False)], version="3.3.2")
    assert not r.ok and "no alembic_version table" in r.detail
    r = run("schema_head", [*INFOS, schema(1, rows=["a", "b"])], version="3.3.2")
    assert not r.ok and "holds 2 rows" in r.detail


def test_schema_on_the_path_between_two_heads():
    mid = [*INFOS, schema(1, "m1")]
    r = run("schema_head", mid, version="3.3.2", from_version="3.2.2", strict=True)
    assert r.ok and r.measurements == {"revision": "m1", "steps": 3, "position": 1}
    assert "1 of 3 migrations applied" in r.detail
    at_end = [*INFOS, schema(1, H332)]
    assert run("schema_head", at_end, version="3.3.2", from_version="3.2.2").ok
    r = run("schema_head", at_end, version="3.3.2", from_version="3.2.2", strict=True)
    assert not r.ok and "head of 3.3.2, not between" in r.detail
    before = [*INFOS, schema(1, "x1")]  # older than the FROM head: not on the path
    r = run("schema_head", before, version="3.3.2", from_version="3.2.2")
    assert not r.ok and "not on the path" in r.detail


def test_schema_path_needs_from_head_on_the_newer_chain():
    h = [info(0, "3.2.2", CHAIN_322), info(0, "3.3.2", ["other", H332]), schema(1, H332)]
    r = run("schema_head", h, version="3.3.2", from_version="3.2.2")
    assert not r.ok and "not on 3.3.2's chain" in r.detail


@pytest.mark.parametrize(
    "params",
    [{}, {"version": "3.3.2", "strict": True}, {"version": "3.3.2", "head": H332}],
)
def test_schema_head_params_are_strict(params):
    with pytest.raises(ValidationError):
        REGISTRY["schema_head"].params(**params)


# -- no_migration_lock ------------------------------------------------------------------------
def locks(mono: float, *rows: tuple, error: str | None = None) -> dict:
    value = None if error else O.locks_value(list(rows))
    return ev("observation", mono, probe="pg_locks", target="postgres", value=value, error=error)


MIGRATOR = (0, 1, 1, True, 4242, "airflow db migrate", "10.0.0.9", "idle in transaction")
WAITER = (0, 1, 1, False, 4343, "", "10.0.0.8", "active")
OTHER = (0, 7, 1, True, 99, "psql", None, "idle")


def test_migration_lock_left_names_the_holder():
    r = run("no_migration_lock", [locks(1, MIGRATOR, WAITER, OTHER)])
    assert not r.ok and "pid 4242 holds it" in r.detail and "pid 4343 waits for it" in r.detail
    assert [x["pid"] for x in r.measurements["holders"]] == [4242, 4343]
    assert run("no_migration_lock", [locks(1, MIGRATOR), locks(2, OTHER)]).ok  # latest counts
    assert not run("no_migration_lock", [locks(2, OTHER)], key=None).ok  # any lock at all
    assert run("no_migration_lock", [locks(2)], key=None).ok


def test_no_lock_check_needs_an_answer():
    assert not run("no_migration_lock", []).ok
    r = run("no_migration_lock", [locks(1), locks(2, error="timeout")])
    assert not r.ok and "timeout" in r.detail


def test_advisory_key_from_pg_locks_columns():
    assert O.advisory_key(0, 1, 1) == 1
    assert O.advisory_key(1, 5, 1) == (1 << 32) + 5
    assert O.advisory_key(3, 4, 2) is None  # the two-int form has no bigint key
    assert O.locks_value([MIGRATOR])["advisory"][0] == {
        "classid": 0,
        "objid": 1,
        "objsubid": 1,
        "granted": True,
        "pid": 4242,
        "application_name": "airflow db migrate",
        "client_addr": "10.0.0.9",
        "state": "idle in transaction",
        "key": 1,
    }


def test_schema_value_from_rows():
    assert O.schema_value([(H332,)]) == {"revision": H332}
    assert O.schema_value([]) == {"revision": None, "rows": []}
    assert O.schema_value(None) == {"revision": None, "table": False}
    assert O.version_value("warning: x\n3.3.2\n") == {"airflow": "3.3.2"}
    with pytest.raises(RuntimeError):
        O.version_value("\n")


# -- versions_in_force ------------------------------------------------------------------------
def version(mono: float, node: str, v: str | None, error: str | None = None) -> dict:
    value = None if error else {"airflow": v}
    return ev("observation", mono, probe="version", target=node, value=value, error=error)


def test_every_selected_node_runs_the_version():
    h = [version(1, "worker-1", "3.3.1"), version(2, "worker-2", "3.3.2")]
    h += [version(3, "scheduler", "3.3.1"), version(4, "worker-1", "3.3.2")]
    r = run("versions_in_force", h, version="3.3.2", match="worker-*")
    assert r.ok and r.measurements["running"] == {"worker-1": "3.3.2", "worker-2": "3.3.2"}
    r = run("versions_in_force", h, version="3.3.2")
    assert not r.ok and "scheduler runs 3.3.1" in r.detail
    r = run("versions_in_force", h, version="3.3.2", nodes=["worker-1", "triggerer"])
    assert not r.ok and "triggerer not read" in r.detail


def test_a_node_removed_since_its_reading_is_not_judged():
    # a 2 -> 3 upgrade retires the webserver: its reading from 2.x is not a node on 2.x now
    h = [version(1, "webserver", "2.11.2"), version(2, "scheduler", "2.11.2")]
    h += [ev("container", 3, node="webserver", state="removed"), version(4, "scheduler", "3.3.2")]
    r = run("versions_in_force", h, version="3.3.2")
    assert r.ok and r.measurements["running"] == {"scheduler": "3.3.2"}
    # removed, then created again and read: judged on its new reading
    h += [version(5, "webserver", "2.11.2")]
    assert "webserver runs 2.11.2" in run("versions_in_force", h, version="3.3.2").detail


def test_versions_need_nodes_and_answers():
    assert not run("versions_in_force", [], version="3.3.2").ok
    h = [version(1, "worker-1", "3.3.2"), version(2, "worker-1", None, error="timeout")]
    r = run("versions_in_force", h, version="3.3.2")
    assert not r.ok and "worker-1 not read (timeout)" in r.detail
    h = [version(1, "worker-1", "3.3.2")]
    assert not run("versions_in_force", h, version="3.3.2", min_nodes=2).ok


# -- component_refused ------------------------------------------------------------------------
REFUSAL_31 = (
    "ERROR: You need to migrate the database. Please run `airflow db migrate`. "
    "Make sure the command is run using Airflow version 3.1.7."
)
REFUSAL_33 = (
    "2026-01-01T00:00:00Z [error] Database migration required. Please run `airflow db migrate`. "
    "Make sure the command is run using Airflow version 3.3.2."
)


def log(mono: float, node: str, state: str | None, *lines: str) -> dict:
    value = {"state": state, "lines": list(lines)} if state else {"lines": list(lines)}
    return ev("observation", mono, probe="container_log", target=node, value=value, error=None)


def container(mono: float, node: str, state: str) -> dict:
    return ev("container", mono, node=node, state=state)


@pytest.mark.parametrize("message", [REFUSAL_31, REFUSAL_33])
def test_refused_by_the_schema_guard_in_either_versions_words(message):
    h = [container(1, "scheduler", "running"), log(3, "scheduler", "exited(1)", "x", message)]
    r = run("component_refused", h, node="scheduler")
    assert r.ok and r.measurements["exit_code"] == 1 and r.measurements["message"] == message


def test_refusal_needs_an_exit_and_the_message():
    running = [log(3, "scheduler", "running", REFUSAL_33)]
    r = run("component_refused", running, node="scheduler")
    assert not r.ok and "did not exit (state running)" in r.detail
    other = [log(3, "scheduler", "exited(1)", "Traceback", "KeyError: 'x'")]
    r = run("component_refused", other, node="scheduler")
    assert not r.ok and "without the refusal message; last line: KeyError" in r.detail
    clean = [log(3, "scheduler", "exited(0)", REFUSAL_33)]
    assert "exited 0, not non-zero" in run("component_refused", clean, node="scheduler").detail
    assert not run("component_refused", clean[:0], node="scheduler").ok
    # the exit from the engine's container events, the words from the log observation
    h = [container(4, "triggerer", "exited(1)"), log(5, "triggerer", None, REFUSAL_31)]
    assert run("component_refused", h, node="triggerer", exit_code=1).ok
    assert not run("component_refused", h, node="triggerer", exit_code=2).ok
    unread = [container(4, "triggerer", "exited(1)")]
    assert "log was never read" in run("component_refused", unread, node="triggerer").detail


# -- drained_cleanly --------------------------------------------------------------------------
def signal(mono: float, node: str = "worker-1", sig: str = "TERM", **kw) -> dict:
    return ev("signal", mono, node=node, signal=sig, **kw)


def test_warm_shutdown_drains_the_running_tasks():
    h = [
        TRIGGER,
        ti(1, task="a"),
        ti(1, task="b", host="worker-2"),
        ti(1, task="c", state="queued"),
    ]
    h += [signal(2), ti(3, task="a"), ti(9, task="a", state="success")]
    h += [container(10, "worker-1", "exited(0)")]
    r = run("drained_cleanly", h, node="worker-1")
    assert r.ok, r.detail
    assert r.measurements == {
        "node": "worker-1",
        "running_at_signal": 1,
        "drained_s": 7.0,
        "exited_s": 8.0,
        "exit_state": "exited(0)",
    }


def test_a_retry_or_a_failure_is_not_a_drain():
    base = [TRIGGER, ti(1, task="a"), ti(1, task="b"), signal(2)]
    retried = base + [ti(5, task="a", state="queued", try_number=2, host=None)]
    retried += [ti(8, task="a", state="success", try_number=2, host="worker-2")]
    retried += [ti(8, task="b", state="success")]
    r = run("drained_cleanly", retried, node="worker-1")
    assert not r.ok and "long_task/r1/a retried (try 1 -> 2, success)" in r.detail
    assert "1 of 2 not drained" in r.detail
    failed = base + [ti(5, task="a", state="failed"), ti(5, task="b", state="running")]
    r = run("drained_cleanly", failed, node="worker-1")
    assert "a ended failed on try 1" in r.detail and "b still running on try 1" in r.detail


def test_a_drain_of_nothing_proves_nothing():
    h = [TRIGGER, ti(1, task="a", host="worker-2"), signal(2), ti(3, task="a", state="success")]
    r = run("drained_cleanly", h, node="worker-1")
    assert not r.ok and "0 task instance(s) were running on worker-1" in r.detail
    assert "never sent TERM" in run("drained_cleanly", h[:2], node="worker-1").detail
    assert "never sent QUIT" in run("drained_cleanly", h, node="worker-1", signal="QUIT").detail


def test_a_faults_signal_is_judged_from_that_signal_on_its_node():
    # worker-2 drained task a at fault t1's TERM; later fault t2 TERMed it again mid-task b
    h = [TRIGGER, ti(1, task="a", host="worker-2"), signal(2, "worker-2", fault="t1")]
    h += [ti(5, task="a", state="success", host="worker-2")]
    h += [ti(20, task="b", host="worker-2"), signal(21, "worker-2", fault="t2")]
    h += [ti(40, task="b", state="queued", try_number=2, host=None)]
    first = run("drained_cleanly", h, fault="t1")
    assert first.ok and first.measurements["node"] == "worker-2", first.detail
    assert first.measurements["drained_s"] == 3.0
    second = run("drained_cleanly", h, fault="t2")
    assert not second.ok and "b retried (try 1 -> 2" in second.detail
    assert "never sent TERM" in run("drained_cleanly", h, fault="t3").detail


@pytest.mark.parametrize("params", [{}, {"node": "worker-1", "fault": "t1"}])
def test_drained_needs_a_node_or_a_fault(params):
    with pytest.raises(ValidationError, match="either 'node'"):
        REGISTRY["drained_cleanly"].params.model_validate(params)


# -- no_task_lost across an upgrade: a retry is a loss when max_try is given -----------------
def test_no_task_lost_can_refuse_retries():
    h = [TRIGGER, ti(1, task="a", state="success"), ti(1, task="b", state="success", try_number=2)]
    assert run("no_task_lost", h).ok
    r = run("no_task_lost", h, max_try=1)
    assert not r.ok and "long.b retried: try 2" in r.detail
