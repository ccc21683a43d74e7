"""A fault's ``when:``: inject it the moment a condition holds, not after a duration. Reported
races need a fault inside a window that lasts a fraction of a second (a scheduler killed after
it sent a task to Celery but before it recorded the task's ``external_executor_id``); a delay
hits such a window by luck. Four conditions:

- ``task``: a task instance of a triggered run in a state, with column values (``where``), e.g.
  ``{run: r, task: load, state: queued, where: {external_executor_id: null}}``; with ``count``,
  that many of a mapped task's instances at once (``count: 4``: all four running);
- ``log``: a line of a node's output matching a regular expression, e.g.
  ``{node: triggerer, line: "Triggerer's async thread was blocked"}``;
- ``probe``: a health probe's answer, as the testbed's observer records it from then on
  (``healthy``, ``unhealthy``, ``no answer``), e.g. ``{probe: api_health, component:
  dag_processor, answer: unhealthy}``: a fault that goes in once a component is seen failing;
- ``schema``: the metadata schema has left a version's head (a migration under way), e.g.
  ``{left: 2.11.2}``: a migrator killed, or its link cut, midway through its revisions.

``within`` bounds the wait: a condition that never holds is a failed inject (the drill did not
do what it says). The engine polls (:mod:`testbed.engine.when`) and records how long after the
condition held the fault went in.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from testbed.core.values import Duration, Regex
from testbed.images.catalog import IMAGE_VERSIONS
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
    count: int = Field(default=1, ge=1)  # instances (of a mapped task) that hold at the same look

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
        return f"{self.count} instances of " * (self.count > 1) + "task " + " ".join(parts)


class LogCondition(Strict):
    node: str
    line: Regex  # searched in each line the node writes from now on

    def describe(self) -> str:
        return f"a line of {self.node} matching {self.line!r}"


class ProbeCondition(Strict):
    """An answer of a health probe (:mod:`testbed.checks.health` classifies it)."""

    probe: Literal["api_health", "scheduler_health", "jobs_check"]
    answer: Literal["healthy", "unhealthy", "no answer"]
    component: str = "scheduler"  # which component of the api-server's answer (api_health)
    target: str | None = None  # the node probed (scheduler_health, jobs_check); None: any

    def describe(self) -> str:
        what = f"{self.probe} of {self.component}" if self.probe == "api_health" else self.probe
        return f"{what}{f' on {self.target}' if self.target else ''} answering {self.answer}"


class SchemaCondition(Strict):
    """The schema's revision (``alembic_version``) is no longer ``left``'s head, and there is
    one: a migration from that version has applied its first revision."""

    left: Literal[tuple(IMAGE_VERSIONS)]  # type: ignore[valid-type]

    def describe(self) -> str:
        return f"the schema leaving the {self.left} head"


class When(Strict):
    task: TaskCondition | None = None
    log: LogCondition | None = None
    probe: ProbeCondition | None = None
    schema_: SchemaCondition | None = Field(default=None, alias="schema")
    within: Duration = WITHIN  # the condition must hold by then, or the inject fails

    @model_validator(mode="after")
    def _one(self) -> When:
        if sum(c is not None for c in self.conditions()) != 1:
            raise ValueError("name one condition: 'task', 'log', 'probe' or 'schema'")
        return self

    def conditions(self) -> tuple:
        return (self.task, self.log, self.probe, self.schema_)

    def condition(self) -> TaskCondition | LogCondition | ProbeCondition | SchemaCondition:
        return next(c for c in self.conditions() if c is not None)

    def describe(self) -> str:
        return f"; injected when {self.condition().describe()} (within {self.within:g}s)"
