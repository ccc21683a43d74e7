"""The upgrade drill's steps: ``upgrade`` (the guide's procedure, rolling or with downtime),
``migrate`` (``airflow db migrate`` as a one-shot node), ``wait_node``, and ``backup`` /
``restore`` of the metadata database. Run by :mod:`testbed.upgrade.runner`; each says what it
means like every step (:class:`~testbed.scenario.base.StepKind`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from testbed.core.values import Duration
from testbed.images.catalog import IMAGE_VERSIONS
from testbed.scenario.base import NAME, Bounded, StepKind, Version

LOCAL_HOW = {
    "drain": "; DAGs paused and tasks drained",
    "kill": "; tasks killed, then cleared",
    "term": "; one TERM, the scheduler drains its tasks",
}


class Upgrade(Bounded):
    """The guide's upgrade of ``nodes`` (default: every Airflow node) to ``to``, as
    ``testbed upgrade-plan`` prints it: rolling when both versions share a schema head, else the
    downtime window (drain, stop, backup, migrate, check, start). ``strategy: rolling`` refuses
    the downtime path (the step fails, saying why)."""

    action: Literal["upgrade"] = "upgrade"
    to: Literal[tuple(IMAGE_VERSIONS)]  # type: ignore[valid-type]  # 2.x: back from 3.x
    nodes: list[str] | None = None
    strategy: Literal["auto", "rolling"] = "auto"
    drain_timeout: Duration = 180.0
    # a downgrade across a schema change: restore the backup the upgrade took, or `airflow db
    # downgrade` run by the newer image
    rollback: Literal["restore", "downgrade"] = "restore"
    # the LocalExecutor's scheduler runs the tasks: pause every DAG and wait for them (drain,
    # the default there), kill them with it and clear them after (kill), or one TERM, on which
    # the scheduler waits for them before it exits (term: Airflow 3, beyond the guide)
    local: Literal["drain", "kill", "term"] | None = None
    # the drill expects the upgrade to be refused by this step of its plan: the 2 -> 3
    # pre-flight, before anything stops (a DAG that breaks on the target), or the migration (a
    # fault on the migrator: then the backup is restored and the old version started again,
    # testbed.upgrade.recover); the step fails if the upgrade goes through, or fails elsewhere
    refused_by: Literal["preflight", "db_migrate"] | None = None
    # Airflow 2 -> 3: the guide's optional `airflow db clean` before the backup, of the rows
    # older than this (the runs' start dates): none when left out
    db_clean: Duration | None = None

    def describe(self) -> str:
        nodes = ", ".join(self.nodes) if self.nodes else "every Airflow node"
        if self.refused_by == "db_migrate":
            return (
                f"upgrade {nodes} to Airflow {self.to}: expect its migration to fail midway, "
                "then restore the backup and start the old version again"
            )
        if self.refused_by:
            return f"upgrade {nodes} to Airflow {self.to}: expect its {self.refused_by} to refuse"
        how = "rolling only" if self.strategy == "rolling" else "as the guide says"
        how += "" if self.rollback == "restore" else "; a rollback by `airflow db downgrade`"
        how += LOCAL_HOW.get(self.local or "", "")
        if self.db_clean is not None:
            how += f"; `airflow db clean` of rows older than {self.db_clean:g}s"
        return f"upgrade {nodes} to Airflow {self.to} ({how}; see `testbed upgrade-plan`)"


class Migrate(Bounded):
    """``airflow db migrate`` of version ``to`` as the one-shot node ``name`` (a fault target
    while it runs); ``wait: false`` goes on at once (see ``wait_node``)."""

    action: Literal["migrate"] = "migrate"
    to: Version
    name: str = Field("migrate", pattern=r"^migrate(-\d+)?$")
    wait: bool = True

    def describe(self) -> str:
        tail = "and wait until it exits" if self.wait else "(and go on at once)"
        return f"airflow db migrate of {self.to} as node {self.name} {tail}"


class WaitNode(StepKind):
    action: Literal["wait_node"] = "wait_node"
    node: str
    state: Literal["exited", "running", "ready"] = "exited"
    timeout: Duration = 120.0

    def bound(self) -> float:
        return self.timeout

    def describe(self) -> str:
        return f"wait until node {self.node} is {self.state} (at most {self.timeout:g}s)"


class SeedHistory(Bounded):
    """A long-lived Airflow 2 deployment's history, written into its database: ``runs``
    finished runs of ``dag``, one an hour going back from ``age`` ago, each with ``tasks``
    task instances and an XCom for each (:mod:`testbed.upgrade.history_seed`)."""

    action: Literal["seed_history"] = "seed_history"
    dag: str
    runs: int = Field(ge=1, le=500_000)
    tasks: int = Field(4, ge=1, le=50)
    age: Duration = 0.0  # how old the newest seeded run is

    def describe(self) -> str:
        return (
            f"seed {self.runs} finished runs of {self.dag} ({self.tasks} task instance(s) and "
            f"XComs each, one run an hour), the newest {self.age:g}s old"
        )


class Backup(Bounded):
    """``pg_dump`` of the metadata database, kept in the Postgres node as ``name``."""

    action: Literal["backup"] = "backup"
    name: str = Field("before", pattern=NAME)

    def describe(self) -> str:
        return f"back up the metadata DB as {self.name!r} (pg_dump)"


class Restore(Bounded):
    """The metadata database replaced by backup ``name`` (stop the Airflow nodes first)."""

    action: Literal["restore"] = "restore"
    name: str = Field("before", pattern=NAME)

    def describe(self) -> str:
        return f"restore the metadata DB from backup {self.name!r}"
