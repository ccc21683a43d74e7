"""Upgrades on Kubernetes, as the official chart carries them out (pure: steps only).

A ``helm upgrade`` to a new image does, in order: the new image reaches the nodes (a pull; here
it is side-loaded), the configuration that names the image changes (the KubernetesExecutor's
``worker_container_tag``, the pod template), the migration Job runs again with the new image
(a hook of every upgrade; with the schema unchanged it migrates nothing), and every
Deployment rolls to the new image by its update strategy. The guide's order is kept: the
api-server and the triggerer first, then each Celery worker (its pod deleted: one TERM, the
warm shutdown within the chart's 600 s grace, then its replacement), then the scheduler, whose
replacement adopts the task pods the old one launched, then the dag-processor.

Across a schema change the guide asks for a downtime window, which ``helm upgrade`` alone does
not give (it would start new pods beside old ones on a schema being migrated): the scheduler
scaled to zero first (nothing new is scheduled or launched), the running task pods waited for,
each Celery worker scaled to zero (one TERM: its warm shutdown), then the rest; the database
backed up; the image, configuration and migration Job as in a live upgrade; the schema checked;
every Deployment started on the new image, then each waited for.

Downgrades and Airflow 2 -> 3 are not built for Kubernetes (:data:`NOT_BUILT`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from testbed.upgrade.step import Step
from testbed.upgrade.versions import version_key

REASONS = (
    "the guide allows a live upgrade when the metadata schema does not change",
    "each Deployment rolls by its update strategy, as `helm upgrade` leaves it to Kubernetes",
)
DOWNTIME_REASON = (
    "`helm upgrade` alone would start new pods beside the old ones while the Job migrates: "
    "every Deployment is scaled to 0 first"
)
NOT_BUILT = (
    "the testbed carries out no downgrade (no rollback window) and no Airflow 2 -> 3 upgrade "
    "on Kubernetes yet"
)

# the order the guide rolls the roles in (the chart's own order is alphabetical: unordered)
ORDER = ("api-server", "triggerer", "worker", "scheduler", "dag-processor")
STRATEGY = {
    "api-server": "RollingUpdate (Kubernetes' default; the chart sets none): the new pod "
    "answers its readiness probe before the old one is deleted, which serves on through its "
    "preStop sleep, so the API has no gap",
    "triggerer": "the old pod first (its TERM), then the new one, as the chart's triggerer "
    "StatefulSet rolls",
    "worker": "the old pod first, as the chart's worker StatefulSet rolls: one TERM, its warm "
    "shutdown finishes the running tasks (the pod's grace is 600 s; the step waits up to its "
    "drain_timeout), then the new pod starts",
    "scheduler": "RollingUpdate (Kubernetes' default; the chart sets none): the new pod "
    "answers /health before the old one gets its TERM; the new scheduler adopts the old one's "
    "running tasks",
    "dag-processor": "the chart's RollingUpdate (maxSurge 100 %, maxUnavailable 50 %): the new "
    "pod starts, then the old one gets its TERM",
}
READY = {
    "api-server": "/api/v2/monitor/health, then /execution/ answer through the Service",
    "triggerer": "its TriggererJob heartbeats",
    "worker": "its Celery worker answers `celery inspect ping`",
    "scheduler": "its health server answers 200 and its SchedulerJob heartbeats",
    "dag-processor": "its DagProcessorJob heartbeats",
}


def _kind(role: str) -> str:
    return "worker" if role.startswith("worker-") else role


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _ordered(pods: Sequence[str], order: Sequence[str]) -> list[str]:
    return [role for kind in order for role in pods if _kind(role) == kind]


def _new_image(version: str) -> list[Step]:
    """What every upgrade does before its Deployments change: the image on the nodes, the
    configuration naming it."""
    return [
        Step("check", "load_image", None, f"the {version} image on every node (what a pull does)"),
        Step(
            "roll",
            "roll_config",
            None,
            "the configuration Secrets and the pod template name the new image (read when a "
            "pod starts: the task pods a new scheduler launches run it)",
        ),
    ]


# the downtime window's order of stopping: nothing new first, then the running work drained
STOP_ORDER = ("scheduler", "worker", "dag-processor", "triggerer", "api-server")
START_ORDER = ("api-server", "scheduler", "dag-processor", "triggerer", "worker")
# stopped side by side once the work is drained: their shutdowns overlap (a triggerer stopped
# on its own takes ~10 s to exit), where one after another they would add up
TOGETHER = ("dag-processor", "triggerer", "api-server")


def downtime_steps(
    version: str, from_head: str, to_head: str, pods: Sequence[str], migrations: int | None
) -> list[Step]:
    """The guide's downtime window on the Deployments ``pods``."""
    count = f"{migrations} migration(s)" if migrations is not None else "the migrations"
    stops, together = [], []
    for role in _ordered(pods, STOP_ORDER):
        if _kind(role) in TOGETHER:
            together.append(role)
            continue
        if _kind(role) == "worker":
            detail = ("scale to 0: its pod gets one TERM (warm shutdown: it finishes its "
                      "running tasks within the 600 s grace); wait until it is gone")  # fmt: skip
        else:
            detail = "scale to 0; wait until its pod is gone"
        stops.append(Step("drain" if role == "scheduler" else "stop", "scale_down", role, detail))
        if role == "scheduler":
            stops.append(
                Step("drain", "wait_task_pods", None,
                     "wait until no task pod runs (the KubernetesExecutor's tasks finish)")
            )  # fmt: skip
    stops += [Step("stop", "scale_zero", r, "scale to 0: its pod gets TERM") for r in together]
    stops += [Step("stop", "wait_gone", r, "wait until its pod is gone") for r in together]
    starts = [
        Step("start", "start_pod", role, f"set the {version} image, scale to 1")
        for role in _ordered(pods, START_ORDER)
    ]
    waits = [
        Step("start", "wait_pod", role, f"wait until its pod is up and {READY[_kind(role)]}")
        for role in _ordered(pods, START_ORDER)
    ]
    return [
        Step("check", "heads_differ", None, f"schema head {from_head} -> {to_head}"),
        *stops,
        Step("backup", "pg_dump", "postgres", f"back up the metadata DB (schema {from_head})"),
        *_new_image(version),
        Step(
            "migrate",
            "migration_job",
            "run-airflow-migrations",
            f"the migration Job with the {version} image: `airflow db migrate`, {count}",
        ),
        Step(
            "check",
            "check_migrations",
            "run-airflow-migrations",
            f"alembic_version = {to_head}; no migration lock left",
        ),
        *starts,
        *waits,
        Step("verify", "versions", None, f"every pod runs {version}; nothing lost"),
    ]


def live_steps(version: str, head: str, pods: Sequence[str]) -> list[Step]:
    """The chart's upgrade of the Deployments ``pods`` (roles) to ``version``'s image."""
    rolls = [
        Step(
            "roll",
            "roll_pod",
            role,
            f"kubectl set image. {_capital(STRATEGY[_kind(role)])}. Wait until the rollout is "
            f"done and {READY[_kind(role)]}",
        )
        for role in _ordered(pods, ORDER)
    ]
    return [
        Step("check", "heads_equal", None, f"both versions have schema head {head}"),
        *_new_image(version),
        Step(
            "migrate",
            "migration_job",
            "run-airflow-migrations",
            f"the migration Job again with the {version} image (the chart's upgrade hook; "
            "nothing to migrate with the schema unchanged)",
        ),
        *rolls,
        Step("verify", "versions", None, f"every pod runs {version}; schema still at {head}"),
    ]


def on_kubernetes(plan: Any, pods: list[str], migrations: int | None) -> Any:
    """A :class:`~testbed.upgrade.plan.Plan`'s verdict with the chart's steps: a live roll, or
    the downtime window on Deployments; a downgrade's (or Airflow 2 -> 3's) verdict and
    reasons with no steps (not built for Kubernetes)."""
    if plan.kind == "none":
        return plan
    downgrade = version_key(plan.to_version) < version_key(plan.from_version)
    if downgrade or plan.kind not in ("live", "downtime"):
        return replace(plan, reasons=(*plan.reasons, NOT_BUILT), steps=())
    if plan.kind == "live":
        steps = live_steps(plan.to_version, plan.to_head, pods)
        return replace(plan, reasons=REASONS, steps=tuple(steps))
    steps = downtime_steps(plan.to_version, plan.from_head, plan.to_head, pods, migrations)
    return replace(plan, reasons=(*plan.reasons, DOWNTIME_REASON), steps=tuple(steps))
