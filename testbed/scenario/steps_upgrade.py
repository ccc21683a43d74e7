"""The upgrade drill's steps: ``upgrade`` (the guide's procedure, rolling or with downtime),
``migrate`` (``airflow db migrate`` as a one-shot node), ``wait_node``, and ``backup`` /
``restore`` of the metadata database. Run by :mod:`testbed.upgrade.runner`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from testbed.scenario.base import NAME, Bounded, Strict, Version
from testbed.scenario.durations import Duration


class Upgrade(Bounded):
    """The guide's upgrade of ``nodes`` (default: every Airflow node) to ``to``, as
    ``testbed upgrade-plan`` prints it: rolling when both versions share a schema head, else the
    downtime window (drain, stop, backup, migrate, check, start). ``strategy: rolling`` refuses
    the downtime path (the step fails, saying why)."""

    action: Literal["upgrade"] = "upgrade"
    to: Version
    nodes: list[str] | None = None
    strategy: Literal["auto", "rolling"] = "auto"
    drain_timeout: Duration = 180.0
    # a downgrade across a schema change: restore the backup the upgrade took, or `airflow db
    # downgrade` run by the newer image
    rollback: Literal["restore", "downgrade"] = "restore"


class Migrate(Bounded):
    """``airflow db migrate`` of version ``to`` as the one-shot node ``name`` (a fault target
    while it runs); ``wait: false`` goes on at once (see ``wait_node``)."""

    action: Literal["migrate"] = "migrate"
    to: Version
    name: str = Field("migrate", pattern=r"^migrate(-\d+)?$")
    wait: bool = True


class WaitNode(Strict):
    action: Literal["wait_node"] = "wait_node"
    node: str
    state: Literal["exited", "running", "ready"] = "exited"
    timeout: Duration = 120.0

    def bound(self) -> float:
        return self.timeout


class Backup(Bounded):
    """``pg_dump`` of the metadata database, kept in the Postgres node as ``name``."""

    action: Literal["backup"] = "backup"
    name: str = Field("before", pattern=NAME)


class Restore(Bounded):
    """The metadata database replaced by backup ``name`` (stop the Airflow nodes first)."""

    action: Literal["restore"] = "restore"
    name: str = Field("before", pattern=NAME)
