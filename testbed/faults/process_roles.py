"""The processes a ``hang`` or ``kill`` fault's ``process:`` names inside an Airflow node: per
name, the node roles that run it, how it is told apart from the node's other processes, and a
line saying what it is. Pure data: validation reads it; :mod:`testbed.faults.proc` finds the
processes in a running node from it.

Airflow 3 runs several processes in one node, and many reported hangs are about one of them
(the triggerer's TriggerRunner subprocess silent while its parent heartbeats, a Celery pool
child, a task's supervisor). The titles are Airflow's own ``setproctitle`` calls (3.1-3.3):
``airflow supervisor: <task>`` (the executor's ``supervise``, in the Celery pool child that
took the task), ``airflow worker -- <ti id>`` (the task's own process, forked by the
supervisor), ``airflow serve-logs``; the trigger runner is forked by the triggerer without a
title of its own, so it is the triggerer's child with the triggerer's command line.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.dag_sync import SYNC_SCRIPT_PATH


@dataclass(frozen=True)
class ProcessRole:
    name: str
    roles: tuple[str, ...]  # node roles that run it (a node's name without its -N)
    doc: str
    titles: tuple[str, ...] = ()  # prefixes of its command line (argv joined by spaces)
    child: bool = False  # a direct child of the node's main process ...
    same_title: bool = False  # ... with the main process's own command line (forked, no exec)
    not_titles: tuple[str, ...] = ()  # prefixes that rule a process out
    git_sync: bool = False  # runs only where the DAGs come from git (topology dag_sync: git)


SERVE_LOGS = "airflow serve-logs"
LOCAL_WORKER = "airflow worker -- LocalExecutor"  # a LocalExecutor's worker process (3.1-3.3)
# under the LocalExecutor the scheduler runs the tasks (and serves their logs): the processes a
# worker runs for a task are the scheduler's then
ON_SCHEDULER_WHEN_LOCAL = ("task", "serve-logs", "dag-sync")
AIRFLOW_PROCESSES: dict[str, ProcessRole] = {
    p.name: p
    for p in (
        ProcessRole(
            "trigger-runner",
            ("triggerer",),
            "the triggerer's TriggerRunner subprocess (runs the triggers' event loop)",
            child=True,
            same_title=True,
        ),
        ProcessRole(
            "celery-pool-child",
            ("worker",),
            "a Celery worker's pool process (idle, or supervising a task)",
            child=True,
            not_titles=(SERVE_LOGS, f"sh {SYNC_SCRIPT_PATH}"),  # the DAG sync job is one too
        ),
        ProcessRole(
            "task-supervisor",
            ("worker",),
            "the supervisor of a running task (its heartbeats and Execution API calls)",
            titles=("airflow supervisor:", "airflow task supervisor:"),
        ),
        ProcessRole(
            "task",
            ("worker",),
            "a running task's own process (the operator's code)",
            titles=("airflow worker -- ",),
            not_titles=(LOCAL_WORKER,),  # the LocalExecutor's worker supervises, it is no task
        ),
        ProcessRole(
            "serve-logs",
            ("worker", "triggerer"),  # a scheduler serves logs only for a LocalExecutor
            "the log server the api-server reads a running task's log from",
            titles=(SERVE_LOGS,),
        ),
        ProcessRole(
            "dag-sync",
            ("worker", "dag-processor"),  # and a LocalExecutor's scheduler
            "the node's DAG sync job (its cron: a git pull on a timer; testbed.dag_sync)",
            titles=(f"sh {SYNC_SCRIPT_PATH}",),
            git_sync=True,
        ),
    )
}


def role_of(node: str) -> str:
    """``worker-2`` -> ``worker``; ``scheduler`` -> ``scheduler``."""
    head, _, tail = node.rpartition("-")
    return head if head and tail.isdigit() else node


def runs_on(process: str, node: str, local: bool = False) -> bool:
    """Whether an Airflow node of this name runs the named process (``local``: the cluster runs
    the LocalExecutor, whose scheduler runs the tasks)."""
    spec = AIRFLOW_PROCESSES.get(process)
    if spec is None:
        return False
    on_scheduler = local and process in ON_SCHEDULER_WHEN_LOCAL and role_of(node) == "scheduler"
    return role_of(node) in spec.roles or on_scheduler
