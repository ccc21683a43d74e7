"""The actions of the chart's live upgrade on Kubernetes (:mod:`testbed.upgrade.plan_k8s`),
for the :class:`~testbed.upgrade.procedure.Procedure`: each takes the procedure and its step,
and carries it out with :mod:`testbed.k8s.roll`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from testbed.k8s import deploy, roll
from testbed.topology import role_is_worker
from testbed.upgrade.step import Step


class Procedure(Protocol):
    """What these actions use of :class:`testbed.upgrade.procedure.Procedure`."""

    cluster: Any
    version: str
    cancelled: threading.Event
    drain_timeout: float
    ready_timeout: float
    before_signal: Callable[[], object]


def load_image(proc: Procedure, step: Step) -> None:
    image = proc.cluster.image_of(proc.version)
    nodes = roll.load_image(proc.cluster, image)
    proc.cluster.history.append("k8s", phase="image_loaded", image=image, nodes=nodes)


def roll_config(proc: Procedure, step: Step) -> None:
    names = roll.apply_config(proc.cluster, proc.cluster.image_of(proc.version))
    proc.cluster.history.append("k8s", phase="config_applied", objects=names)


def migration_job(proc: Procedure, step: Step) -> None:
    roll.rerun_migration_job(proc.cluster, proc.cluster.image_of(proc.version))


def roll_pod(proc: Procedure, step: Step) -> None:
    """One Deployment rolled to the new image. A Celery worker's pod is deleted at once
    (Recreate): its TERM is recorded on the pod's name, the hostname its tasks record, so that
    ``drained_cleanly`` judges the warm shutdown."""
    cluster, role = proc.cluster, str(step.node)
    if role_is_worker(role):
        proc.before_signal()
        for pod in deploy.pod_names(cluster, role):
            cluster.history.append("signal", node=pod, signal="TERM", step="upgrade")
    cluster.set_version(role, proc.version)
    roll.set_image(cluster, role, cluster.image_for(role))
    timeout = proc.ready_timeout + (proc.drain_timeout if role_is_worker(role) else 0)
    roll.wait_rollout(cluster, role, timeout, proc.cancelled)


ACTIONS = {
    "load_image": load_image,
    "roll_config": roll_config,
    "migration_job": migration_job,
    "roll_pod": roll_pod,
}
