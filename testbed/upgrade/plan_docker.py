"""The Docker backend's steps of an upgrade plan (pure): a live roll node by node, a downtime
window (drain, stop, back up, migrate, check, start) and a rollback window. Which of them a
pair of versions gets is :mod:`testbed.upgrade.plan`'s verdict; the Kubernetes backend's steps
are :mod:`testbed.upgrade.plan_k8s`'s, the Airflow 2 -> 3 procedure
:mod:`testbed.upgrade.plan_major`'s.
"""

from __future__ import annotations

from typing import Literal

from testbed.upgrade.plan_local import Local, local_after, local_before
from testbed.upgrade.step import Step

Rollback = Literal["restore", "downgrade"]
MIGRATION_LOCK = 1  # Airflow's DBLocks.MIGRATIONS: `airflow db migrate` holds pg_advisory_lock(1)
STOP_GRACE = 30  # seconds a stopped node has after SIGTERM before SIGKILL (non-worker roles)


def roll(node: str, version: str, ready: str) -> list[Step]:
    return [
        Step("roll", "replace", node, f"stop, replace the image with {version}, start"),
        Step("roll", "wait_ready", node, f"wait until {ready}"),
    ]


# A load balancer's healthy threshold (HAProxy's `rise`, an ALB's healthy count): a replaced
# api-server takes traffic again only after this many health checks in a row, each answered
# within HEALTHY_TIMEOUT, HEALTHY_INTERVAL apart; only then is the next one stopped.
HEALTHY_THRESHOLD, HEALTHY_INTERVAL, HEALTHY_TIMEOUT = 3, 1.0, 1.0


def api_server_steps(nodes: list[str], version: str) -> list[Step]:
    """One api-server at a time; with two or more, each waits out the healthy threshold
    before the next one stops (the survivor must carry the traffic, not just have booted)."""
    healthy = (
        f"wait until {HEALTHY_THRESHOLD} health checks in a row (the public API's and the "
        f"Execution API's) answer within {HEALTHY_TIMEOUT:g} s, {HEALTHY_INTERVAL:g} s apart "
        "(a load balancer's healthy threshold), before the next api-server stops"
    )
    steps = []
    for n in nodes:
        steps += roll(n, version, READY["api-server"])
        if len(nodes) > 1:
            steps.append(Step("roll", "wait_healthy", n, healthy))
    return steps


def drain_worker(node: str) -> list[Step]:
    return [
        Step(
            "drain",
            "term",
            node,
            "one TERM: warm shutdown (stop consuming, finish running tasks); no second TERM",
        ),
        Step("drain", "wait_idle", node, "wait until it runs nothing and has exited"),
    ]


def worker_steps(node: str, version: str) -> list[Step]:
    return [
        *drain_worker(node),
        Step("roll", "replace", node, f"replace the image with {version}, start"),
        Step("roll", "wait_ready", node, "wait until `celery inspect ping` answers"),
    ]


READY = {
    "api-server": "/api/v2/monitor/health answers, then /execution/health (its routes built)",
    "triggerer": "its TriggererJob heartbeats (its row in the job table)",
    "scheduler": "its health server answers 200",
    "dag-processor": "its DagProcessorJob heartbeats (its row in the job table)",
}


def live_steps(
    version: str,
    head: str,
    by_role: dict[str, list[str]],
    *,
    reverse: bool = False,
    local: Local | None = None,
) -> list[Step]:
    groups: list[list[Step]] = [
        api_server_steps(by_role["api-server"], version),
        [s for n in by_role["triggerer"] for s in roll(n, version, READY["triggerer"])],
        [s for n in by_role["celery-worker"] for s in worker_steps(n, version)],
        scheduler_steps(by_role["scheduler"], version, local),
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


def scheduler_steps(schedulers: list[str], version: str, local: Local | None) -> list[Step]:
    """Each scheduler rolled; with the LocalExecutor, its tasks drained first or killed with it
    and cleared after (:mod:`testbed.upgrade.plan_local`)."""
    rolls = [s for n in schedulers for s in roll(n, version, READY["scheduler"])]
    return [*local_before(schedulers, local), *rolls, *local_after(schedulers, local)]


def stop_all_drained(by_role: dict[str, list[str]], local: Local | None = None) -> list[Step]:
    """Drain, then stop: schedulers first (nothing new is queued; with the LocalExecutor, its
    tasks drained or killed first), then the workers' warm shutdowns, then the rest of what
    talks to the database (:func:`stop_together`)."""
    steps = local_before(by_role["scheduler"], local)
    steps += [
        Step("drain", "stop", n, "stop: nothing new is scheduled or queued")
        for n in by_role["scheduler"]
    ]
    steps += drain_together(by_role["celery-worker"])
    rest = [n for r in ("dag-processor", "triggerer", "api-server") for n in by_role[r]]
    return steps + stop_together(rest)


def drain_together(workers: list[str]) -> list[Step]:
    """Every worker TERMed, then each waited for: their warm shutdowns overlap (in a downtime
    window nothing needs a worker to stay up), where one after another they would add up."""
    drains = [drain_worker(n) for n in workers]
    return [d[0] for d in drains] + [d[1] for d in drains]


def stop_together(nodes: list[str]) -> list[Step]:
    """Every node TERMed, then each waited for (SIGKILL after :data:`STOP_GRACE`, as ``docker
    stop`` would): their shutdowns overlap (a 3.3.2 triggerer stopped on its own takes ~10 s to
    exit, a 2.x one can take its whole grace; docs/findings.md), and each node's TERM-to-exit is
    in the record."""
    terms = [Step("stop", "term", n, "SIGTERM") for n in nodes]
    waits = [
        Step("stop", "wait_exit", n, f"wait until it exits (SIGKILL after {STOP_GRACE} s)")
        for n in nodes
    ]
    return terms + waits


def start_all(version: str, by_role: dict[str, list[str]]) -> list[Step]:
    """Start every node, then wait for each: the boots overlap (each is mostly Python imports
    on its own core share), where one-by-one they would add up."""
    order = [(r, n) for r in ("api-server", "scheduler", "dag-processor", "triggerer")
             for n in by_role[r]]  # fmt: skip
    order += [("celery-worker", n) for n in by_role["celery-worker"]]
    ready = {**READY, "celery-worker": "`celery inspect ping` answers"}
    starts = [Step("start", "replace", n, f"start on {version}") for _, n in order]
    waits = [Step("start", "wait_ready", n, f"wait until {ready[r]}") for r, n in order]
    return starts + waits


def downtime_steps(
    from_version: str, to_version: str, from_head: str, to_head: str, by_role, local: Local | None
) -> list[Step]:
    return [
        Step("check", "heads_differ", None, f"schema head {from_head} -> {to_head}"),
        *stop_all_drained(by_role, local),
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
        *start_all(to_version, by_role),
        *local_after(by_role["scheduler"], local),
        Step(
            "verify",
            "versions",
            None,
            f"every node runs {to_version}; in-flight runs resume; nothing lost",
        ),
    ]


def rollback_steps(
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
        *stop_all_drained(by_role, local),
        Step("backup", "pg_dump", "postgres", f"back up the DB as {from_version} left it"),
        *back,
        Step(
            "check",
            "check_migrations",
            "migrate",
            f"alembic_version = {to_head}; no migration lock left",
        ),
        *start_all(to_version, by_role),
        *local_after(by_role["scheduler"], local),
        Step(
            "verify",
            "versions",
            None,
            f"every node runs {to_version}; scheduler and triggerer stay up",
        ),
    ]
