"""The LocalExecutor's two upgrade procedures, as actions of an upgrade plan (see
:mod:`testbed.upgrade.plan`): its scheduler runs the tasks as its subprocesses, so the guide
says either to pause every DAG and wait for the running tasks (``pause_dags``,
``wait_tasks_done``, then ``unpause_dags`` once the new scheduler runs), or to kill the
scheduler with its tasks (``kill``) and clear them after (``clear_killed``). Each records what
it did (the DAGs paused, the task instances killed and what became of each).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from testbed import timescale
from testbed.core import bounded
from testbed.core.errors import UpgradeFailed
from testbed.services import postgres as pg
from testbed.smoke import api_for

if TYPE_CHECKING:
    from testbed.cluster import Cluster
    from testbed.upgrade.step import Step

LIVE_STATES = ("queued", "running", "restarting")  # a task instance the scheduler or a worker holds


class Procedure(Protocol):
    """What these actions use of the procedure carrying the plan out
    (:class:`testbed.upgrade.procedure.Procedure`), and the state they keep on it."""

    cluster: Cluster
    cancelled: threading.Event
    drain_timeout: float
    before_signal: Callable[[], object]
    paused: list[str]  # the DAGs the drain paused
    killed: list[dict]  # the task instances live at a kill


def kill(proc: Procedure, step: Step) -> None:
    """SIGKILL, with the task instances live at that moment recorded first (the
    LocalExecutor's scheduler: its tasks die with it)."""
    proc.before_signal()
    proc.killed = live_tasks(proc.cluster)
    c = proc.cluster.container(step.node)
    bounded.call(lambda: c.kill(), 20, f"kill {step.node}")
    proc.cluster.history.append("killed_tasks", node=step.node, tasks=proc.killed)


def pause_dags(proc: Procedure, step: Step) -> None:
    """Pause every DAG that is not paused, through the REST API (as an operator would)."""
    api = api_for(proc.cluster)
    try:
        for dag_id in api.dag_ids(paused=False):
            api.set_paused(dag_id, True)
            proc.paused.append(dag_id)  # only what really was paused is unpaused after
    finally:
        proc.cluster.history.append("dags_paused", dags=list(proc.paused))


def wait_tasks_done(proc: Procedure, step: Step) -> None:
    """No task instance is queued or running any more (bounded by the drain timeout)."""
    deadline = time.monotonic() + proc.drain_timeout
    while live := live_tasks(proc.cluster):
        if time.monotonic() > deadline or proc.cancelled.is_set():
            names = ", ".join(f"{t['dag_id']}.{t['task_id']} {t['state']}" for t in live[:5])
            raise UpgradeFailed(
                f"{len(live)} task instance(s) still live after {proc.drain_timeout:g}s: {names}"
            )
        proc.cancelled.wait(1.0)


def unpause_dags(proc: Procedure, step: Step) -> None:
    """Unpause exactly the DAGs the drain paused (also when a later step failed: see
    :meth:`testbed.upgrade.procedure.Procedure.run`)."""
    api = api_for(proc.cluster)
    done = []
    try:
        for dag_id in list(proc.paused):
            api.set_paused(dag_id, False)
            proc.paused.remove(dag_id)
            done.append(dag_id)
    finally:
        proc.cluster.history.append("dags_unpaused", dags=done, left_paused=list(proc.paused))


def clear_killed(proc: Procedure, step: Step) -> None:
    """Each task instance the kill ended, once Airflow has dealt with its killed try (it is no
    longer queued or running on that try; bounded by :func:`settle_bound`): cleared through
    the REST API if it ended failed (the guide's "clear and restart those tasks manually"),
    left alone otherwise (Airflow runs it again itself: a retry, or the new scheduler's reset
    of an orphaned task); the record says which."""
    bound = settle_bound(proc)
    deadline = time.monotonic() + bound
    pending, outcomes = list(proc.killed), []
    while pending:
        now = {_key(t): t for t in task_states(proc.cluster, pending)}
        for t in list(pending):
            outcome = outcome_of(t, now.get(_key(t)))
            if outcome is not None:
                outcomes.append(_settle(proc, t, now.get(_key(t)), outcome))
                pending.remove(t)
        if pending and (time.monotonic() > deadline or proc.cancelled.is_set()):
            names = ", ".join(f"{t['dag_id']}.{t['task_id']}" for t in pending[:5])
            raise UpgradeFailed(
                f"{len(pending)} killed task instance(s) still live on their killed try after "
                f"{bound:g}s: {names}"
            )
        if pending:
            proc.cancelled.wait(1.0)
    proc.cluster.history.append("killed_cleared", tasks=outcomes)


def outcome_of(killed: dict, after: dict | None) -> str | None:
    """What became of a killed task instance, from its row now; None: Airflow has not dealt
    with it yet (still queued or running on the try that was killed)."""
    if after is None:
        return "gone"  # its run was deleted, or the database restored
    if after["try_number"] > killed["try_number"]:
        return "run again by Airflow"
    state = after["state"]
    if state in LIVE_STATES:
        return None
    return {
        "failed": "cleared",
        None: "reset by Airflow (it runs again)",
        "scheduled": "reset by Airflow (it runs again)",
        "up_for_retry": "retried by Airflow",
        "success": "ended before the kill",
    }.get(state, f"ended {state}")


def _settle(proc: Procedure, killed: dict, after: dict | None, outcome: str) -> dict:
    """The record of one killed task instance; a failed one is cleared first."""
    seen = {k: after[k] for k in ("try_number", "state")} if after else None
    out = {**killed, "after": seen, "outcome": outcome}
    if outcome == "cleared":
        api = api_for(proc.cluster)
        out["cleared"] = api.clear_task(
            killed["dag_id"], killed["run_id"], killed["task_id"], killed["map_index"]
        )
    return out


def settle_bound(proc: Procedure) -> float:
    """How long Airflow may take to deal with a killed scheduler's tasks: the new scheduler
    resets them once the dead one's heartbeat is older than the health-check threshold, at its
    start or at its next orphaned-task check (its timers as the topology sets them), plus a
    minute; at least the drain timeout."""
    config = proc.cluster.topology.effective_config().get("scheduler", {})

    def timer(key: str) -> float:
        return float(config.get(key, timescale.TIMERS[f"scheduler.{key}"][0]))

    airflow_s = timer("scheduler_health_check_threshold") + timer("orphaned_tasks_check_interval")
    return max(proc.drain_timeout, airflow_s + 60)


def live_tasks(cluster: Cluster) -> list[dict]:
    """The task instances queued or running now (with their try), from the metadata DB."""
    rows = pg.query(
        cluster,
        "select dag_id, run_id, task_id, map_index, try_number, state, hostname "
        "from task_instance where state = any(%s) order by dag_id, run_id, task_id",
        (list(LIVE_STATES),),
        timeout=5,
    )
    keys = ("dag_id", "run_id", "task_id", "map_index", "try_number", "state", "hostname")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _key(t: dict) -> tuple:
    return (t["dag_id"], t["run_id"], t["task_id"], t["map_index"])


def task_states(cluster: Cluster, tasks: list[dict]) -> list[dict]:
    """The current try and state of each of ``tasks`` (dag_id, run_id, task_id, map_index)."""
    if not tasks:
        return []
    rows = pg.query(
        cluster,
        "select dag_id, run_id, task_id, map_index, try_number, state from task_instance "
        "where (dag_id, run_id, task_id, map_index) in (select * from unnest(%s::text[], "
        "%s::text[], %s::text[], %s::int[]))",
        tuple(list(col) for col in zip(*map(_key, tasks), strict=True)),
        timeout=5,
    )
    keys = ("dag_id", "run_id", "task_id", "map_index", "try_number", "state")
    return [dict(zip(keys, row, strict=True)) for row in rows]
