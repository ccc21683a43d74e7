"""The fault kinds' parameter models: per kind, the fields of a ``fault`` step it takes beyond
the ones every fault has (name, kind, target, for, delay, when, timeout), with their types and
checks.

The registry (:mod:`testbed.faults.registry`) names each kind's model, and the scenario model
builds the ``fault`` step of each kind from it (:mod:`testbed.scenario.steps_fault`). Pure
(pydantic, the topology's names, the scenario value types): the fault classes import Docker and
HTTP clients, so the models live here rather than beside them, where the scenario model can
read them without those clients.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from testbed import timescale
from testbed.core.errors import TestbedError
from testbed.core.values import (
    ConfigKey,
    ConfigValue,
    Duration,
    Regex,
    SignedDuration,
    Size,
    nested_config,
)
from testbed.faults.process_roles import AIRFLOW_PROCESSES
from testbed.topology import K8S_PROCESSES

Signal = Literal["KILL", "TERM", "INT", "QUIT", "HUP"]
# a process inside a node: an Airflow process (process_roles) or a Kubernetes node's program
Process = Literal[(*AIRFLOW_PROCESSES, *K8S_PROCESSES)]  # type: ignore[valid-type]
Toxic = Literal["latency", "stall", "timeout", "bandwidth", "reset_peer", "down"]


class Params(BaseModel):
    """A kind's parameters (this one: none, e.g. restart, remove, rotate_key); a ``fault`` step
    of the kind derives from its model, so these methods are the step's too."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @classmethod
    def kwargs(cls, step: Any) -> dict[str, Any]:
        """The fault class's keyword arguments, from a ``fault`` step of this kind: each
        parameter the step gives (not None)."""
        values = {name: getattr(step, name) for name in cls.model_fields}
        return {name: value for name, value in values.items() if value is not None}

    def sends_term(self) -> bool:
        """Whether the fault sends its target a TERM-like signal (``drained_cleanly``)."""
        return False

    def inject_wait(self) -> float | None:
        """Seconds the inject itself waits beyond a step's usual bound (a stop's deadline)."""
        return None


class NamedProcesses(Params):
    """``process`` (a role, e.g. ``trigger-runner``; or a Kubernetes node's program, e.g.
    ``kubelet``) or ``cmdline`` (a regular expression searched in each process's command
    line): the fault hits those processes inside the node, not the node."""

    process: Process | None = None  # an Airflow process of the node (or a Kubernetes program)
    cmdline: Regex | None = None  # searched in each process's command line

    @model_validator(mode="after")
    def _one_way(self) -> NamedProcesses:
        if self.process and self.cmdline:
            raise ValueError("name the processes by 'process' or by 'cmdline', not both")
        if self.cmdline == "":
            raise ValueError("'cmdline' is empty: it would match every process")
        return self


class HangParams(NamedProcesses):
    mode: Literal["pause", "sigstop"] | None = None  # the whole node, or its main process

    @model_validator(mode="after")
    def _sigstop_only(self) -> HangParams:
        if (self.process or self.cmdline) and self.mode == "pause":
            raise ValueError("'process' hangs one process (SIGSTOP): leave 'mode' out")
        return self


class KillParams(NamedProcesses):
    # the signal (default KILL); TERM to a Celery worker is its warm shutdown
    signal: Signal | None = None

    def sends_term(self) -> bool:
        return self.signal not in (None, "KILL") and not (self.process or self.cmdline)


class StopParams(Params):
    deadline: Duration | None = None  # SIGTERM, then SIGKILL after this (the class's default)

    def sends_term(self) -> bool:
        return True

    def inject_wait(self) -> float | None:
        return self.deadline


# the secrets the testbed generates per run that a fresh node may get a value of its own for
DRIFTABLE_SECRETS = ("core.fernet_key", "api_auth.jwt_secret", "api.secret_key")


class ReplaceParams(Params):
    # the fresh node runs with these Airflow options (the heal restores the topology's)
    config: dict[ConfigKey, ConfigValue] | None = None
    # ... and with a fresh value of its own for these secrets (generated, never recorded): one
    # node's secret out of step with the others'
    secrets: list[Literal[DRIFTABLE_SECRETS]] | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _options(self) -> ReplaceParams:
        if self.config is not None and not self.config:
            raise ValueError("'config' is empty; give the Airflow options the node runs with")
        if self.secrets is not None and not self.secrets:
            raise ValueError(f"'secrets' is empty; name some of {', '.join(DRIFTABLE_SECRETS)}")
        overlap = sorted(set(self.secrets or ()) & set(self.config or {}))
        if overlap:
            raise ValueError(f"{', '.join(overlap)}: in both 'config' and 'secrets'; give one")
        if self.config:  # a timer is scaled by the timescale: it must be seconds
            try:
                timescale.check_timers(nested_config(self.config))
            except TestbedError as exc:
                raise ValueError(str(exc)) from None
        return self


class DagDriftParams(Params):
    # a file of the DAG folder (relative to it), e.g. long_task.py
    file: str = Field(min_length=1, pattern=r"^[\w-][\w./-]*\.py$")
    # the older version that node holds (a file; relative to the scenario's folder); none: the
    # file is missing on that node
    stale_from: str | None = None

    @model_validator(mode="after")
    def _inside(self) -> DagDriftParams:
        if ".." in self.file.split("/"):
            raise ValueError(f"file {self.file!r}: a file inside the DAG folder (no '..')")
        return self


class PartitionParams(Params):
    peer: str | None = None  # drop only the link to this node (iptables); else the whole node


class LinkParams(Params):
    toxic: Toxic | None = None  # required (checked below, with the allowed ones named)
    attributes: dict[str, int] = {}  # the toxic's attributes (e.g. latency: 3000)

    @model_validator(mode="after")
    def _toxic_given(self) -> LinkParams:
        if self.toxic is None:
            raise ValueError("a link fault needs 'toxic' (latency, stall, timeout, bandwidth, ...)")
        return self

    @classmethod
    def kwargs(cls, step: Any) -> dict[str, Any]:
        """The toxic, and its attributes as keyword arguments of their own."""
        return {"toxic": step.toxic, **step.attributes}


class _Offset(Params):
    """A clock off the host's by ``offset`` (negative: behind)."""

    fault_kind: ClassVar[str] = ""  # for the message (a class attribute, not a step field)
    offset: SignedDuration | None = None  # e.g. 10m (ahead), -10m (behind), 600 (s)

    @model_validator(mode="after")
    def _offset_given(self) -> _Offset:
        if self.offset is None or abs(self.offset) < 1:
            raise ValueError(
                f"a {self.fault_kind} fault needs 'offset' of at least 1s (e.g. 5m, -5m)"
            )
        return self


class ClockSkewParams(_Offset):
    fault_kind: ClassVar[str] = "clock_skew"  # the node started with its clock off


class ClockJumpParams(_Offset):
    fault_kind: ClassVar[str] = "clock_jump"  # a running node's clock stepped


class ContainerKillParams(Params):
    # one container of the role's pod: the role's own (its name) by default, or `kerberos`
    container: str | None = None


class PodDeleteParams(Params):
    # seconds between SIGTERM and SIGKILL (0: at once); Kubernetes' default if absent
    grace: Duration | None = None

    @model_validator(mode="after")
    def _whole_seconds(self) -> PodDeleteParams:
        if self.grace is not None and self.grace != int(self.grace):
            raise ValueError("'grace' is whole seconds (Kubernetes' grace period), e.g. 0s, 30s")
        return self

    def sends_term(self) -> bool:
        return self.grace != 0  # 0: a crash (SIGKILL first)


class CpuThrottleParams(Params):
    # the node's CPU limit while the fault is in force: 0.1 is a tenth of one core
    cpus: float | None = Field(None, ge=0.01, le=4.0)


class MemoryLimitParams(Params):
    # the node's memory limit while the fault is in force (e.g. 300m): above it, the kernel's
    # OOM killer kills the biggest process of the node
    memory: Size | None = Field(None, ge=16 * 2**20)

    @model_validator(mode="after")
    def _memory_given(self) -> MemoryLimitParams:
        if self.memory is None:
            raise ValueError("a memory_limit fault needs 'memory', the limit (e.g. 300m, 1g)")
        return self


class DiskFullParams(Params):
    # the folder whose filesystem is filled (absolute; a worker's log folder when absent), and
    # the bytes left free (0: none, every write fails)
    path: str | None = Field(None, pattern=r"^/[A-Za-z0-9._/-]*$")
    free: Size | None = Field(None, ge=0)


class DbLockParams(Params):
    # the table whose rows are locked, and which rows ({column: value}; every row without it)
    table: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_]*$")
    where: dict[Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$")], str] | None = None

    @model_validator(mode="after")
    def _table_given(self) -> DbLockParams:
        if self.table is None:
            raise ValueError("a db_lock fault needs 'table', e.g. dag (and 'where': {dag_id: x})")
        return self
