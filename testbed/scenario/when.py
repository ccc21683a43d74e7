"""A fault's ``when:``: inject it the moment a condition holds, not after a duration. Reported
races need a fault inside a window that lasts a fraction of a second (a scheduler killed after
it sent a task to Celery but before it recorded the task's ``external_executor_id``); a delay
hits such a window by luck. Two conditions:

- ``task``: a task instance of a triggered run in a state, with column values (``where``), e.g.
  ``{run: r, task: load, state: queued, where: {external_executor_id: null}}``;
- ``log``: a line of a node's output matching a regular expression, e.g.
  ``{node: triggerer, line: "Triggerer's async thread was blocked"}``.

``within`` bounds the wait: a condition that never holds is a failed inject (the drill did not
do what it says). The engine polls (:mod:`testbed.engine.when`) and records how long after the
condition held the fault went in.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from testbed.core.values import Duration, Regex
from testbed.scenario.base import Strict

ANY_TI_STATE = (
    "scheduled",
    "queued",
    "running",
    "success",
    "failed",
    "up_for_retry",
    "up_for_reschedule",
    "deferred",
    "restarting",
    "upstream_failed",
    "skipped",
    "removed",
)
# task_instance columns a condition may compare (in every Airflow version the testbed builds)
TI_COLUMNS = (
    "external_executor_id",
    "hostname",
    "try_number",
    "queued_by_job_id",
    "pid",
    "executor",
    "queue",
    "pool",
    "map_index",
)
WITHIN = 120.0


class TaskCondition(Strict):
    """A task instance of a triggered run (by the trigger step's ``name``)."""

    run: str
    task: str
    state: Literal[ANY_TI_STATE] | None = None  # type: ignore[valid-type]
    where: dict[str, str | int | None] = Field(default_factory=dict)  # column: value (null)

    @field_validator("where")
    @classmethod
    def _columns(cls, where: dict) -> dict:
        unknown = sorted(set(where) - set(TI_COLUMNS))
        if unknown:
            raise ValueError(f"unknown column(s) {unknown}; allowed: {', '.join(TI_COLUMNS)}")
        return where

    def describe(self) -> str:
        parts = [f"{self.run}.{self.task}"] + [f"state={self.state}"] * bool(self.state)
        parts += [f"{k}={'null' if v is None else v}" for k, v in self.where.items()]
        return "task " + " ".join(parts)


class LogCondition(Strict):
    node: str
    line: Regex  # searched in each line the node writes from now on

    def describe(self) -> str:
        return f"a line of {self.node} matching {self.line!r}"


class When(Strict):
    task: TaskCondition | None = None
    log: LogCondition | None = None
    within: Duration = WITHIN  # the condition must hold by then, or the inject fails

    @model_validator(mode="after")
    def _one(self) -> When:
        if (self.task is None) == (self.log is None):
            raise ValueError("name one condition: 'task' or 'log'")
        return self

    def condition(self) -> TaskCondition | LogCondition:
        return self.task or self.log  # type: ignore[return-value]

    def describe(self) -> str:
        return f"; injected when {self.condition().describe()} (within {self.within:g}s)"
