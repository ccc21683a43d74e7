"""The LocalExecutor's part of an upgrade plan (pure): its scheduler runs the tasks as its
subprocesses, so before the schedulers stop the plan drains them (``drain``: pause every DAG,
wait until no task is queued or running), kills them with it (``kill``) or sends one TERM
(``term``: Airflow 3's LocalExecutor waits for its tasks before the scheduler exits); once
the schedulers run again, it unpauses the DAGs or clears the killed tasks. The actions are
:mod:`testbed.upgrade.local`'s.
"""

from __future__ import annotations

from typing import Literal

from testbed.upgrade.step import Step

Local = Literal["drain", "kill", "term"]  # how the LocalExecutor scheduler's tasks are handled


def local_before(schedulers: list[str], local: Local | None) -> list[Step]:
    """What the LocalExecutor's procedure does before its schedulers stop (the steps that are
    not one scheduler's own are the first scheduler's: a partial roll without it skips them)."""
    if not local or not schedulers:
        return []
    first = schedulers[0]
    if local == "drain":
        return [
            Step("drain", "pause_dags", first, "pause every DAG: no new run or task starts"),
            Step(
                "drain",
                "wait_tasks_done",
                first,
                "wait until no task instance is queued or running (the scheduler runs them as "
                "its subprocesses: stopping it would kill them)",
            ),
        ]
    if local == "term":
        return [
            step
            for n in schedulers
            for step in (
                Step(
                    "drain",
                    "term",
                    n,
                    "one TERM: it stops scheduling, and its LocalExecutor waits for the tasks it "
                    "runs before it exits",
                ),
                Step("drain", "wait_idle", n, "wait until its tasks are done and it has exited"),
            )
        ]
    return [
        Step("drain", "kill", n, "SIGKILL: the tasks it runs as its subprocesses die with it")
        for n in schedulers
    ]


def local_after(schedulers: list[str], local: Local | None) -> list[Step]:
    """What the LocalExecutor's procedure does once its schedulers run again."""
    if not local or not schedulers:
        return []
    first = schedulers[0]
    if local == "term":
        return []
    if local == "drain":
        return [Step("verify", "unpause_dags", first, "unpause the DAGs the drain paused")]
    return [
        Step(
            "verify",
            "clear_killed",
            first,
            "clear the task instances the kill ended, so they run again (the guide: clear them "
            "by hand, or rely on retries)",
        )
    ]
