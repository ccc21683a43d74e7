"""The actions of an upgrade on Kubernetes (:mod:`testbed.upgrade.plan_k8s`: the chart's live
roll, the guide's downtime window on Deployments), for the
:class:`~testbed.upgrade.procedure.Procedure`: each takes the procedure and its step, and
carries it out with :mod:`testbed.k8s.roll`."""

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


def _term_recorded(proc: Procedure, role: str) -> None:
    """A Celery worker's pod about to be deleted: its TERM recorded on the pod's name, the
    hostname its tasks record, so that ``drained_cleanly`` judges the warm shutdown (the task
    instances read first)."""
    if role_is_worker(role):
        proc.before_signal()
        for pod in deploy.pod_names(proc.cluster, role):
            proc.cluster.history.append("signal", node=pod, signal="TERM", step="upgrade")


def roll_pod(proc: Procedure, step: Step) -> None:
    """One Deployment rolled to the new image (a Celery worker's pod is deleted at once:
    Recreate)."""
    cluster, role = proc.cluster, str(step.node)
    _term_recorded(proc, role)
    cluster.set_version(role, proc.version)
    roll.set_image(cluster, role, cluster.image_for(role))
    timeout = proc.ready_timeout + (proc.drain_timeout if role_is_worker(role) else 0)
    roll.wait_rollout(cluster, role, timeout, proc.cancelled)


def _stop_timeout(proc: Procedure, role: str) -> float:
    """A worker drains its tasks; any other pod stops within its grace (30 s; the api-server's
    preStop sleep inside it)."""
    return proc.drain_timeout if role_is_worker(role) else 60.0


def scale_down(proc: Procedure, step: Step) -> None:
    scale_zero(proc, step)
    wait_gone(proc, step)


def scale_zero(proc: Procedure, step: Step) -> None:
    """The first half of :func:`scale_down`: its pod told to go (TERM, recorded)."""
    _term_recorded(proc, str(step.node))
    roll.scale(proc.cluster, str(step.node), 0)


def wait_gone(proc: Procedure, step: Step) -> None:
    """The second half: its pod gone within the role's grace."""
    role = str(step.node)
    roll.wait_gone(proc.cluster, role, _stop_timeout(proc, role), proc.cancelled)


def wait_task_pods(proc: Procedure, step: Step) -> None:
    roll.wait_task_pods(proc.cluster, proc.drain_timeout, proc.cancelled)


def start_pod(proc: Procedure, step: Step) -> None:
    cluster, role = proc.cluster, str(step.node)
    cluster.set_version(role, proc.version)
    roll.set_image(cluster, role, cluster.image_for(role))
    roll.scale(cluster, role, 1)


def wait_pod(proc: Procedure, step: Step) -> None:
    roll.wait_rollout(proc.cluster, str(step.node), proc.ready_timeout, proc.cancelled)


ACTIONS = {
    "load_image": load_image,
    "roll_config": roll_config,
    "migration_job": migration_job,
    "roll_pod": roll_pod,
    "scale_down": scale_down,
    "scale_zero": scale_zero,
    "wait_gone": wait_gone,
    "wait_task_pods": wait_task_pods,
    "start_pod": start_pod,
    "wait_pod": wait_pod,
}
