"""The guide's upgrade procedure between two Airflow versions, as data (pure: heads passed in).

``production-deployment.rst`` ("Live-upgrading Airflow") allows a live (rolling) upgrade only
when the metadata schema does not change; the testbed decides that by comparing the two
versions' Alembic heads (read from the images, see :mod:`testbed.upgrade.versions`), never by
version numbers (3.1.7 -> 3.1.8 is a patch release that changes the schema).

- Same head, upgrade: **live**. api-server and triggerer rolled first; then each Celery
  worker in turn: one TERM (warm shutdown: stop consuming, finish running tasks), wait until
  it runs nothing, replace the image, start, wait ready; then the schedulers one by one; the
  dag-processor is stopped and started (not horizontally scaled; a short gap is fine).
- Different heads, upgrade: **downtime** window: drain, stop, backup, migrate, check, start.
- With the LocalExecutor the scheduler runs the tasks as its subprocesses, and the guide gives
  two ways to upgrade it (``local=``): ``drain`` pauses every DAG and waits until no task is
  queued or running before the scheduler is replaced (unpaused once it is back); ``kill``
  kills the scheduler with its tasks and clears the killed tasks once the new one runs (the
  guide: "or rely on retry being set"). A third, ``term``, is what Airflow 3 allows beyond the
  guide: one SIGTERM, on which the scheduler stops scheduling and its LocalExecutor waits for
  the running tasks before it exits (``LocalExecutor.end``), then the replacement.
- Same head, downgrade: live too, in the reverse order (workers first, api-server last), so
  that clients are never newer than the Execution API they talk to (Airflow promises only
  that older clients keep working against a newer server).
- Different heads, downgrade: **rollback**: older code refuses a newer schema; restore the
  backup taken before the upgrade (``rollback="restore"``, the default), or reverse the schema
  with ``airflow db downgrade`` run by the newer image (``rollback="downgrade"``: it reverses
  the schema, not the rows; apache/airflow#68317: a 3.2.1 -> 3.1.8 downgrade left the scheduler
  crash-looping).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, astuple, dataclass
from typing import Literal

from testbed.topology import Topology
from testbed.upgrade import plan_k8s
from testbed.upgrade import plan_major as major
from testbed.upgrade.plan_docker import (
    Rollback,
    downtime_steps,
    live_steps,
    rollback_steps,
)
from testbed.upgrade.plan_local import Local
from testbed.upgrade.step import Step
from testbed.upgrade.versions import (
    SchemaInfo,
    UnknownVersion,
    check_buildable,
    migration_path,
    version_key,
)

Kind = Literal["none", "live", "downtime", "rollback", "major"]
# the name each plan's own pg_dump saves under: a rollback's must not overwrite the backup taken
# before the upgrade, which is the one it restores
BACKUP_NAME = {"downtime": "upgrade", "major": "upgrade", "rollback": "rollback"}


@dataclass(frozen=True)
class Plan:
    from_version: str
    to_version: str
    from_head: str
    to_head: str
    kind: Kind
    summary: str
    reasons: tuple[str, ...]
    steps: tuple[Step, ...]

    @property
    def live(self) -> bool:
        return self.kind == "live"

    def to_json(self) -> dict:
        return {**asdict(self), "live": self.live, "steps": [asdict(s) for s in self.steps]}

    def lines(self) -> list[str]:
        out = [f"Airflow {self.from_version} -> {self.to_version}: {self.summary}"]
        out += [f"  why: {r}" for r in self.reasons]
        if self.steps:
            out.append("  steps:")
            out += ["  " + s.line(i) for i, s in enumerate(self.steps, 1)]
        return out


def role(node: str) -> str:
    """``worker-2`` -> celery-worker; ``scheduler-2`` -> scheduler (as the cluster names them)."""
    if node.startswith("worker-"):
        return "celery-worker"
    base, _, tail = node.rpartition("-")
    return base if tail.isdigit() and base else node


def make_plan(
    from_version: str,
    to_version: str,
    from_head: str,
    to_head: str,
    *,
    nodes: Sequence[str] | None = None,
    migrations: int | None = None,
    rollback: Rollback = "restore",
    local: Local | None = None,
    kubernetes: bool = False,
) -> Plan:
    """The plan from ``from_version`` to ``to_version`` on ``nodes`` (default: the testbed's
    default topology); ``migrations``: how many revisions lie between the heads, if known;
    ``rollback``: how a downgrade across a schema change takes the schema back; ``local``: the
    cluster runs the LocalExecutor, and this is how its scheduler's tasks are dealt with;
    ``kubernetes``: ``nodes`` are Deployments, rolled as the chart does (:mod:`plan_k8s`)."""
    if kubernetes:  # the plan's verdict, with the chart's steps
        docker = make_plan(from_version, to_version, from_head, to_head, nodes=nodes,
                           migrations=migrations, rollback=rollback)  # fmt: skip
        return plan_k8s.on_kubernetes(docker, list(nodes or ()), migrations)
    nodes = list(nodes if nodes is not None else Topology().airflow_nodes)
    by_role = {r: [n for n in nodes if role(n) == r] for r in _ROLES}
    plan = _Versions(from_version, to_version, from_head, to_head)
    direction = _direction(from_version, to_version)
    if direction == "same":
        return plan.of("none", "same version: nothing to do", (), ())
    if major.is_major(from_version, to_version):  # Airflow 2 -> 3: the guide's own procedure
        by_role["webserver"] = [n for n in nodes if role(n) == "webserver"]
        steps = major.steps(from_version, to_version, from_head, to_head, by_role)
        return plan.of("major", major.summary(to_version, migrations), major.REASONS, steps)
    if major.is_major_back(from_version, to_version):  # back to 2.x: the backup
        steps = major.back_steps(from_version, to_version, to_head, by_role)
        return plan.of("rollback", major.back_summary(to_version), major.BACK_REASONS, steps)
    if from_head == to_head:
        return _live(plan, direction, by_role, local)
    if direction == "upgrade":
        return _downtime(plan, migrations, by_role, local)
    return _rollback(plan, migrations, by_role, rollback, local)


@dataclass(frozen=True)
class _Versions:
    """The two versions and heads every plan between them carries."""

    from_version: str
    to_version: str
    from_head: str
    to_head: str

    def of(self, kind: Kind, summary: str, reasons: Sequence[str], steps: Sequence[Step]) -> Plan:
        return Plan(*astuple(self), kind, summary, tuple(reasons), tuple(steps))

    def heads(self) -> str:
        if self.from_head == self.to_head:
            return f"schema head {self.from_head}"
        return f"schema {self.from_head} -> {self.to_head}"


def _live(plan: _Versions, direction: str, by_role, local: Local | None) -> Plan:
    """Same head: a rolling upgrade, or a rolling downgrade in the reverse order."""
    steps = live_steps(plan.to_version, plan.to_head, by_role, local=local,
                       reverse=direction == "downgrade")  # fmt: skip
    if direction == "upgrade":
        summary = f"live (rolling) upgrade allowed ({plan.heads()} unchanged)"
        return plan.of("live", summary, _live_reasons(by_role), steps)
    summary = f"live (rolling) downgrade possible ({plan.heads()} unchanged), in reverse order"
    reasons = (
        "a downgrade without schema change is the same code swap as an upgrade; the guide "
        "does not describe it",
        "workers first, api-server last: Airflow promises only that older clients keep "
        "working against a newer Execution API, not the reverse",
    )
    return plan.of("live", summary, reasons, steps)


def _count(migrations: int | None) -> str:
    return f"{migrations} migration(s)" if migrations is not None else "migrations"


def _downtime(plan: _Versions, migrations: int | None, by_role, local: Local | None) -> Plan:
    """An upgrade across a schema change: a downtime window."""
    summary = (
        f"NO live upgrade: downtime window with migration ({plan.heads()}, {_count(migrations)})"
    )
    reasons = (
        "the guide allows a live upgrade only when the metadata schema does not change; "
        f"{plan.to_version} changes it ({plan.from_head} -> {plan.to_head})",
        "scheduler, dag-processor, triggerer and api-server refuse to start when their "
        "code and the schema differ, in both directions ([database] check_migrations)",
    )
    steps = downtime_steps(plan.from_version, plan.to_version, plan.from_head, plan.to_head,
                           by_role, local)  # fmt: skip
    return plan.of("downtime", summary, reasons, steps)


def _rollback(
    plan: _Versions, migrations: int | None, by_role, rollback: Rollback, local: Local | None
) -> Plan:
    """A downgrade across a schema change: a rollback window."""
    how = "restore the backup" if rollback == "restore" else "`airflow db downgrade`"
    summary = (
        f"NO live downgrade: rollback window ({plan.heads()}: {_count(migrations)} to take "
        f"back; {how})"
    )
    reasons = (
        f"{plan.to_version} code refuses the newer schema {plan.from_head} (it is not its head)",
        "restoring the backup taken before the upgrade is the dependable rollback "
        "(rows written since are lost)",
        f"`airflow db downgrade -r {plan.to_head}` (run with the {plan.from_version} image, the "
        "only one holding the migrations to reverse) reverses the schema, not the rows: "
        "apache/airflow#68317 reports a 3.2.1 -> 3.1.8 downgrade leaving the scheduler "
        "crash-looping",
    )
    steps = rollback_steps(plan.from_version, plan.to_version, plan.to_head, by_role, rollback,
                           local)  # fmt: skip
    return plan.of("rollback", summary, reasons, steps)


def plan_between(
    from_version: str,
    to_version: str,
    read: Callable[[str], SchemaInfo],
    *,
    nodes: Sequence[str] | None = None,
    rollback: Rollback = "restore",
    local: Local | None = None,
    kubernetes: bool = False,
) -> tuple[Plan, SchemaInfo, SchemaInfo]:
    """Read both versions' schemas with ``read`` (e.g. :func:`~testbed.upgrade.versions.
    schema_info`) and make the plan; raises UnknownVersion for a version with no lock file."""
    if why := major.refusal(from_version, to_version, rollback):
        raise UnknownVersion(why)
    crossing = major.is_major(from_version, to_version) or major.is_major_back(
        from_version, to_version
    )
    for version in (from_version, to_version):
        if not crossing or version_key(version)[0] != 2:
            check_buildable(version)  # Airflow 2: its image when built, else its wheel
    a, b = read(from_version), read(to_version)
    newer = b if version_key(to_version) >= version_key(from_version) else a
    older = a if newer is b else b
    try:
        count: int | None = len(migration_path(newer.revisions, older.head, newer.head))
    except ValueError:
        count = None  # the older head is not on the newer chain: said by the plan's numbers
    plan = make_plan(
        from_version,
        to_version,
        a.head,
        b.head,
        nodes=nodes,
        migrations=count,
        rollback=rollback,
        local=local,
        kubernetes=kubernetes,
    )
    return plan, a, b


_ROLES = ("api-server", "triggerer", "celery-worker", "scheduler", "dag-processor")


def _direction(a: str, b: str) -> str:
    ka, kb = version_key(a), version_key(b)
    return "same" if ka == kb else "upgrade" if kb > ka else "downgrade"


def _live_reasons(by_role: dict[str, list[str]]) -> tuple[str, ...]:
    reasons = ["the guide allows a live upgrade when the metadata schema does not change"]
    if len(by_role["api-server"]) == 1:
        reasons.append(
            "one api-server: the API has a gap while it is replaced (the guide's zero downtime "
            "needs more than one instance)"
        )
    return tuple(reasons)


__all__ = [
    "Local",
    "Plan",
    "Rollback",
    "make_plan",
    "plan_between",
    "role",
]
