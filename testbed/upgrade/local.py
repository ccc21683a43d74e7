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

from testbed.api import AirflowAPI
from testbed.core import bounded
from testbed.core.errors import UpgradeFailed
from testbed.services import airflow
from testbed.services import postgres as pg

if TYPE_CHECKING:
    from testbed.cluster import Cluster
    from testbed.upgrade.plan import Step

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
    api = _api(proc)
    proc.paused = api.dag_ids(paused=False)
    for dag_id in proc.paused:
        api.set_paused(dag_id, True)
    proc.cluster.history.append("dags_paused", dags=proc.paused)


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
    """Unpause exactly the DAGs the drain paused."""
    api = _api(proc)
    for dag_id in proc.paused:
        api.set_paused(dag_id, False)
    proc.cluster.history.append("dags_unpaused", dags=proc.paused)


def clear_killed(proc: Procedure, step: Step) -> None:
    """Each task instance the kill ended, once Airflow has dealt with its killed try (bounded
    by the drain timeout): cleared through the REST API if it ended failed (the guide's
    "clear and restart those tasks manually"), left alone if Airflow runs it again itself
    (a retry, or the new scheduler's reset of an orphaned task)."""
    deadline = time.monotonic() + proc.drain_timeout
    pending, outcomes = list(proc.killed), []
    while pending:
        now = {_key(t): t for t in task_states(proc.cluster, pending)}
        for t in list(pending):
            after = now.get(_key(t))
            if after and (after["try_number"] > t["try_number"] or after["state"] == "failed"):
                outcomes.append(_settle(proc, t, after))
                pending.remove(t)
        if pending and (time.monotonic() > deadline or proc.cancelled.is_set()):
            raise UpgradeFailed(
                f"{len(pending)} killed task instance(s) still in their killed try after "
                f"{proc.drain_timeout:g}s: "
                + ", ".join(f"{t['dag_id']}.{t['task_id']}" for t in pending[:5])
            )
        if pending:
            proc.cancelled.wait(1.0)
    proc.cluster.history.append("killed_cleared", tasks=outcomes)


def _settle(proc: Procedure, killed: dict, after: dict) -> dict:
    """Clear a killed task instance that ended failed; say what became of it."""
    seen = {"try_number": after["try_number"], "state": after["state"]}
    if after["try_number"] > killed["try_number"]:
        return {**killed, "after": seen, "outcome": "run again by Airflow"}
    n = _api(proc).clear_task(killed["dag_id"], killed["run_id"], killed["task_id"])
    return {**killed, "after": seen, "outcome": "cleared", "cleared": n}


def _api(proc: Procedure) -> AirflowAPI:
    return AirflowAPI(airflow.api_url(proc.cluster), proc.cluster.secrets.admin_password)


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
