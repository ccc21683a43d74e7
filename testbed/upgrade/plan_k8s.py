"""The live upgrade on Kubernetes, as the official chart carries it out (pure: steps only).

A ``helm upgrade`` to a new image does, in order: the new image reaches the nodes (a pull; here
it is side-loaded), the configuration that names the image changes (the KubernetesExecutor's
``worker_container_tag``, the pod template), the migration Job runs again with the new image
(a hook of every upgrade; with the schema unchanged it migrates nothing), and every
Deployment rolls to the new image by its update strategy. The guide's order is kept: the
api-server and the triggerer first, then each Celery worker (its pod deleted: one TERM, the
warm shutdown within the chart's 600 s grace, then its replacement), then the scheduler, whose
replacement adopts the task pods the old one launched, then the dag-processor.

Only a live upgrade (the schema head unchanged) is planned for Kubernetes; a downtime window
(scale to zero, back up, migrate, scale up) is not built for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from testbed.upgrade.step import Step

REASONS = (
    "the guide allows a live upgrade when the metadata schema does not change",
    "each Deployment rolls by its update strategy, as `helm upgrade` leaves it to Kubernetes",
)
NOT_BUILT = "the testbed carries out only live upgrades on Kubernetes (no downtime window yet)"

# the order the guide rolls the roles in (the chart's own order is alphabetical: unordered)
ORDER = ("api-server", "triggerer", "worker", "scheduler", "dag-processor")
STRATEGY = {
    "api-server": "RollingUpdate: the new pod answers its readiness probe before the old one "
    "gets its TERM, so the API has no gap",
    "triggerer": "RollingUpdate: the new pod starts, then the old one gets its TERM",
    "worker": "Recreate, as the chart's worker StatefulSet rolls: the old pod gets one TERM, "
    "its warm shutdown finishes the running tasks within the 600 s grace, then the new pod "
    "starts",
    "scheduler": "RollingUpdate: the new pod answers /health before the old one gets its TERM; "
    "the new scheduler adopts the old one's running tasks",
    "dag-processor": "RollingUpdate: the new pod starts, then the old one gets its TERM",
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


def live_steps(version: str, head: str, pods: Sequence[str]) -> list[Step]:
    """The chart's upgrade of the Deployments ``pods`` (roles) to ``version``'s image."""
    rolls = [
        Step(
            "roll",
            "roll_pod",
            role,
            f"kubectl set image. {STRATEGY[_kind(role)]}. Wait "
            f"until the rollout is done and {READY[_kind(role)]}",
        )
        for kind in ORDER
        for role in pods
        if _kind(role) == kind
    ]
    return [
        Step("check", "heads_equal", None, f"both versions have schema head {head}"),
        Step("check", "load_image", None, f"the {version} image on every node (what a pull does)"),
        Step(
            "roll",
            "roll_config",
            None,
            "the configuration Secrets and the pod template name the new image (task pods "
            "launched from now on run it)",
        ),
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
