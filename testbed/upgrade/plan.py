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
from dataclasses import asdict, dataclass
from typing import Literal

from testbed.topology import Topology
from testbed.upgrade import plan_k8s
from testbed.upgrade import plan_major as major
from testbed.upgrade.plan_local import Local, local_after, local_before
from testbed.upgrade.step import Step
from testbed.upgrade.versions import (
    SchemaInfo,
    UnknownVersion,
    check_buildable,
    migration_path,
    version_key,
)

Kind = Literal["none", "live", "downtime", "rollback", "major"]
Rollback = Literal["restore", "downgrade"]
# the name each plan's own pg_dump saves under: a rollback's must not overwrite the backup taken
# before the upgrade, which is the one it restores
BACKUP_NAME = {"downtime": "upgrade", "rollback": "rollback"}
MIGRATION_LOCK = 1  # Airflow's DBLocks.MIGRATIONS: `airflow db migrate` holds pg_advisory_lock(1)


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
    direction = _direction(from_version, to_version)
    same = from_head == to_head
    heads = f"schema head {from_head}" if same else f"schema {from_head} -> {to_head}"
    if direction == "same":
        summary = "same version: nothing to do"
        return Plan(from_version, to_version, from_head, to_head, "none", summary, (), ())
    if major.is_major(from_version, to_version):  # Airflow 2 -> 3: the guide's own procedure
        return Plan(
            from_version,
            to_version,
            from_head,
            to_head,
            "major",
            major.summary(to_version, migrations),
            major.REASONS,
            tuple(
                major.steps(from_version, to_version, from_head, to_head, by_role["celery-worker"])
            ),  # fmt: skip
        )
    if direction == "upgrade" and same:
        return Plan(
            from_version,
            to_version,
            from_head,
            to_head,
            "live",
            f"live (rolling) upgrade allowed ({heads} unchanged)",
            _live_reasons(by_role),
            tuple(_live_steps(to_version, to_head, by_role, local=local)),
        )
    count = f"{migrations} migration(s)" if migrations is not None else "migrations"
    if direction == "upgrade":
        return Plan(
            from_version,
            to_version,
            from_head,
            to_head,
            "downtime",
            f"NO live upgrade: downtime window with migration ({heads}, {count})",
            (
                "the guide allows a live upgrade only when the metadata schema does not change; "
                f"{to_version} changes it ({from_head} -> {to_head})",
                "scheduler, dag-processor, triggerer and api-server refuse to start when their "
                "code and the schema differ, in both directions ([database] check_migrations)",
            ),
            tuple(_downtime_steps(from_version, to_version, from_head, to_head, by_role, local)),
        )
    if same:
        return Plan(
            from_version,
            to_version,
            from_head,
            to_head,
            "live",
            f"live (rolling) downgrade possible ({heads} unchanged), in reverse order",
            (
                "a downgrade without schema change is the same code swap as an upgrade; the guide "
                "does not describe it",
                "workers first, api-server last: Airflow promises only that older clients keep "
                "working against a newer Execution API, not the reverse",
            ),
            tuple(_live_steps(to_version, to_head, by_role, reverse=True, local=local)),
        )
    how = "restore the backup" if rollback == "restore" else "`airflow db downgrade`"
    return Plan(
        from_version,
        to_version,
        from_head,
        to_head,
        "rollback",
        f"NO live downgrade: rollback window ({heads}: {count} to take back; {how})",
        (
            f"{to_version} code refuses the newer schema {from_head} (it is not its head)",
            "restoring the backup taken before the upgrade is the dependable rollback "
            "(rows written since are lost)",
            f"`airflow db downgrade -r {to_head}` (run with the {from_version} image, the only "
            "one holding the migrations to reverse) reverses the schema, not the rows: "
            "apache/airflow#68317 reports a 3.2.1 -> 3.1.8 downgrade leaving the scheduler "
            "crash-looping",
        ),
        tuple(_rollback_steps(from_version, to_version, to_head, by_role, rollback, local)),
    )


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
    if why := major.refusal(from_version, to_version):
        raise UnknownVersion(why)
    for version in (from_version, to_version):
        if not major.is_major(from_version, to_version) or version == to_version:
            check_buildable(version)  # Airflow 2: from its wheel (no image is built)
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


def _roll(node: str, version: str, ready: str) -> list[Step]:
    return [
        Step("roll", "replace", node, f"stop, replace the image with {version}, start"),
        Step("roll", "wait_ready", node, f"wait until {ready}"),
    ]


# A load balancer's healthy threshold (HAProxy's `rise`, an ALB's healthy count): a replaced
# api-server takes traffic again only after this many health checks in a row, each answered
# within HEALTHY_TIMEOUT, HEALTHY_INTERVAL apart; only then is the next one stopped.
HEALTHY_THRESHOLD, HEALTHY_INTERVAL, HEALTHY_TIMEOUT = 3, 1.0, 1.0


def _api_server_steps(nodes: list[str], version: str) -> list[Step]:
    """One api-server at a time; with two or more, each waits out the healthy threshold
    before the next one stops (the survivor must carry the traffic, not just have booted)."""
    healthy = (
        f"wait until {HEALTHY_THRESHOLD} health checks in a row (the public API's and the "
        f"Execution API's) answer within {HEALTHY_TIMEOUT:g} s, {HEALTHY_INTERVAL:g} s apart "
        "(a load balancer's healthy threshold), before the next api-server stops"
    )
    steps = []
    for n in nodes:
        steps += _roll(n, version, READY["api-server"])
        if len(nodes) > 1:
            steps.append(Step("roll", "wait_healthy", n, healthy))
    return steps


def _drain_worker(node: str) -> list[Step]:
    return [
        Step(
            "drain",
            "term",
            node,
            "one TERM: warm shutdown (stop consuming, finish running tasks); no second TERM",
        ),
        Step("drain", "wait_idle", node, "wait until it runs nothing and has exited"),
    ]


def _worker_steps(node: str, version: str) -> list[Step]:
    return [
        *_drain_worker(node),
        Step("roll", "replace", node, f"replace the image with {version}, start"),
        Step("roll", "wait_ready", node, "wait until `celery inspect ping` answers"),
    ]


READY = {
    "api-server": "/api/v2/monitor/health answers, then /execution/health (its routes built)",
    "triggerer": "its TriggererJob heartbeats (its row in the job table)",
    "scheduler": "its health server answers 200",
    "dag-processor": "its DagProcessorJob heartbeats (its row in the job table)",
}


def _live_steps(
    version: str,
    head: str,
    by_role: dict[str, list[str]],
    *,
    reverse: bool = False,
    local: Local | None = None,
) -> list[Step]:
    groups: list[list[Step]] = [
        _api_server_steps(by_role["api-server"], version),
        [s for n in by_role["triggerer"] for s in _roll(n, version, READY["triggerer"])],
        [s for n in by_role["celery-worker"] for s in _worker_steps(n, version)],
        _scheduler_steps(by_role["scheduler"], version, local),
        [
            s
            for n in by_role["dag-processor"]
            for s in (
                Step("roll", "stop", n, "stop (not horizontally scaled: a short gap is fine)"),
                Step("roll", "start", n, f"start on {version}"),
                Step("roll", "wait_ready", n, f"wait until {READY['dag-processor']}"),
            )
        ],
    ]
    if reverse:  # workers, schedulers, dag-processor, then triggerer and api-server
        groups = [groups[2], groups[3], groups[4], groups[1], groups[0]]
    check = Step("check", "heads_equal", None, f"both versions have schema head {head}")
    verify = Step("verify", "versions", None, f"every node runs {version}; schema still at {head}")
    return [check, *(s for g in groups for s in g), verify]


def _scheduler_steps(schedulers: list[str], version: str, local: Local | None) -> list[Step]:
    """Each scheduler rolled; with the LocalExecutor, its tasks drained first or killed with it
    and cleared after (:func:`_local_before`, :func:`_local_after`)."""
    rolls = [s for n in schedulers for s in _roll(n, version, READY["scheduler"])]
    return [*local_before(schedulers, local), *rolls, *local_after(schedulers, local)]


def _stop_all_drained(by_role: dict[str, list[str]], local: Local | None = None) -> list[Step]:
    """Drain, then stop: schedulers first (nothing new is queued; with the LocalExecutor, its
    tasks drained or killed first), each worker warm-shut down, then the rest of what talks to
    the database."""
    steps = local_before(by_role["scheduler"], local)
    steps += [
        Step("drain", "stop", n, "stop: nothing new is scheduled or queued")
        for n in by_role["scheduler"]
    ]
    steps += [s for n in by_role["celery-worker"] for s in _drain_worker(n)]
    steps += [
        Step("stop", "stop", n, "stop")
        for r in ("dag-processor", "triggerer", "api-server")
        for n in by_role[r]
    ]
    return steps


def _start_all(version: str, by_role: dict[str, list[str]]) -> list[Step]:
    """Start every node, then wait for each: the boots overlap (each is mostly Python imports
    on its own core share), where one-by-one they would add up."""
    order = [(r, n) for r in ("api-server", "scheduler", "dag-processor", "triggerer")
             for n in by_role[r]]  # fmt: skip
    order += [("celery-worker", n) for n in by_role["celery-worker"]]
    ready = {**READY, "celery-worker": "`celery inspect ping` answers"}
    starts = [Step("start", "replace", n, f"start on {version}") for _, n in order]
    waits = [Step("start", "wait_ready", n, f"wait until {ready[r]}") for r, n in order]
    return starts + waits


def _downtime_steps(
    from_version: str, to_version: str, from_head: str, to_head: str, by_role, local: Local | None
) -> list[Step]:
    return [
        Step("check", "heads_differ", None, f"schema head {from_head} -> {to_head}"),
        *_stop_all_drained(by_role, local),
        Step("backup", "pg_dump", "postgres", f"back up the metadata DB (schema {from_head})"),
        Step(
            "migrate",
            "db_migrate",
            "migrate",
            f"`airflow db migrate` with the {to_version} image as a one-shot node "
            f"(holds pg_advisory_lock({MIGRATION_LOCK}) meanwhile)",
        ),
        Step(
            "check",
            "check_migrations",
            "migrate",
            f"`airflow db check-migrations` on {to_version}; alembic_version = {to_head}; "
            "no migration lock left",
        ),
        *_start_all(to_version, by_role),
        *local_after(by_role["scheduler"], local),
        Step(
            "verify",
            "versions",
            None,
            f"every node runs {to_version}; in-flight runs resume; nothing lost",
        ),
    ]


def _rollback_steps(
    from_version: str, to_version: str, to_head: str, by_role, how: Rollback, local: Local | None
) -> list[Step]:
    if how == "restore":
        back = [
            Step(
                "restore",
                "pg_restore",
                "postgres",
                f"restore the backup taken before the upgrade to {from_version}",
            )
        ]
    else:
        back = [
            Step(
                "migrate",
                "db_downgrade",
                "migrate",
                f"`airflow db downgrade -r {to_head} -y` with the {from_version} image as a "
                "one-shot node (the only code holding the migrations to reverse)",
            )
        ]
    return [
        Step("check", "heads_differ", None, f"{to_version} needs schema head {to_head}"),
        *_stop_all_drained(by_role, local),
        Step("backup", "pg_dump", "postgres", f"back up the DB as {from_version} left it"),
        *back,
        Step(
            "check",
            "check_migrations",
            "migrate",
            f"alembic_version = {to_head}; no migration lock left",
        ),
        *_start_all(to_version, by_role),
        *local_after(by_role["scheduler"], local),
        Step(
            "verify",
            "versions",
            None,
            f"every node runs {to_version}; scheduler and triggerer stay up",
        ),
    ]
