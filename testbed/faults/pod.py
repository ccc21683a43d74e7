"""Faults on the Kubernetes backend's pods.

``pod_delete``: delete a role's pod(s) the way an operator, an eviction or a node drain does —
``grace`` seconds between SIGTERM and SIGKILL. ``grace: 0`` is a crash: every process of the
pod is SIGKILLed first (found by the pod's cgroup, inside the node containers; Kubernetes itself
would still send SIGTERM and wait at least 2 s, even with ``--force``), then the pod object is
deleted; on an existing cluster, whose nodes the testbed does not reach, a force delete
only. The Deployment
makes a replacement pod (another name, another hostname: another SchedulerJob); the heal waits
until the role has its ready pod again. The deleted pods are recorded, and the signal each got
(TERM, or KILL for a crash) as a ``signal`` event on the pod's name (its hostname).

``container_kill``: SIGKILL one container of a role's running pod (``container``: the role's own
by default, or ``kerberos``, a Celery worker's Kerberos sidecar), its processes found by the
container's cgroup, as the OOM killer or a crash ends it. The pod stays; the kubelet restarts the
container by its restart policy (a native sidecar's is Always), which the heal waits for: the
container running again, its restart count past the one at the kill.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from testbed.core.errors import FaultError
from testbed.faults.base import Fault
from testbed.faults.proc import descendants
from testbed.k8s import deploy, pod_state
from testbed.k8s.node import kubectl
from testbed.topology import K8S_NODE


class PodDelete(Fault):
    kind = "pod_delete"

    def __init__(self, cluster, target: str, grace: float | None = None, **kw) -> None:
        super().__init__(cluster, target, **kw)
        self.grace = grace
        self.deleted: list[str] = []

    def describe(self) -> dict[str, Any]:
        return {"grace": self.grace}

    def _inject(self) -> None:
        pods = deploy.pod_names(self.cluster, self.target)
        if not pods:
            raise FaultError(f"pod_delete: no running pod of {self.target}")
        args = ["delete", "pod", *pods, "--wait=false"]
        if self.grace is not None:
            args.append(f"--grace-period={int(self.grace)}")
        # a crash kills every process first, where the testbed reaches the nodes; on an
        # existing cluster (a namespace-scoped user) the force delete is all there is: the
        # kubelet stops the containers with its shortest grace
        crash = self.grace == 0 and not self.cluster.topology.existing
        if crash:
            self.record("killed", pids=self._kill(pods))
        if self.grace == 0:
            args.append("--force")
        done = kubectl(self.cluster, *args, timeout=20)
        if done.returncode != 0:
            raise FaultError(f"kubectl delete pod: {done.stderr.strip()[:300]}")
        self.deleted = pods
        self.record("deleted", pods=pods)
        # each pod's signal, on its name: the hostname its tasks record, which checks such as
        # drained_cleanly judge against
        signal = "KILL" if crash else "TERM"
        for pod in pods:
            self.cluster.history.append("signal", node=pod, signal=signal, fault=self.name)

    def _kill(self, pods: list[str]) -> list[int]:
        """SIGKILL every process in the pods' cgroups, on whichever node they run."""
        uids = []
        for pod in pods:  # one by one: a single name gets the object, not a list
            done = kubectl(self.cluster, "get", "pod", pod, "-o", "jsonpath={.metadata.uid}")
            if done.returncode != 0 or not done.stdout.strip():
                raise FaultError(f"pod_delete: no uid for {pod}: {done.stderr.strip()[:200]}")
            uids.append(done.stdout.strip())
        marks = [f"/pod{uid}/" for uid in uids]
        return kill_cgroups(self.cluster, marks, f"pod_delete: {', '.join(pods)}")

    def _heal(self) -> None:
        """The role's new pod ready and answering its probe as at boot (a replaced Celery
        worker has joined the broker)."""
        deploy.settle(self.cluster, self.target, self.deleted, timeout=180)
        deploy.wait_role(self.cluster, self.target)


RESTART_TIMEOUT = 120.0  # the kubelet's first restart is at once; a crash loop's back-off 10 s


class ContainerKill(Fault):
    kind = "container_kill"

    def __init__(self, cluster, target: str, container: str | None = None, **kw) -> None:
        super().__init__(cluster, target, **kw)
        self.container_name = container or target  # a role's own container bears its name
        self.pod: str | None = None
        self.restarts = 0

    def describe(self) -> dict[str, Any]:
        return {"container": self.container_name}

    def _inject(self) -> None:
        pod = pod_state.running_pod(self.cluster, self.target)
        self.pod = pod["metadata"]["name"]
        state = pod_state.container_states(pod).get(self.container_name)
        cid = _container_id(pod, self.container_name)
        if state is None or state["state"] != "running" or not cid:
            raise FaultError(f"container_kill: {self.container_name} of {self.pod} is not running")
        self.restarts = state["restarts"]
        marks = [f"/pod{pod['metadata']['uid']}/{cid}"]
        what = f"container_kill: {self.container_name} of {self.pod}"
        pids = kill_cgroups(self.cluster, marks, what)
        self.record("killed", pod=self.pod, pids=pids, restarts=self.restarts)

    def _heal(self) -> None:
        """The kubelet has restarted the container in the same pod, and it runs."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < RESTART_TIMEOUT:
            pod = pod_state.running_pod(self.cluster, self.target)
            state = pod_state.container_states(pod).get(self.container_name) or {}
            if state.get("state") == "running" and state.get("restarts", 0) > self.restarts:
                self.record(
                    "restarted", pod=pod["metadata"]["name"], restarts=state["restarts"],
                    seconds=round(time.monotonic() - t0, 1),
                )  # fmt: skip
                return
            time.sleep(1)
        raise FaultError(
            f"container_kill: {self.container_name} of {self.pod} not running again after "
            f"{RESTART_TIMEOUT:g}s (restart count {self.restarts})"
        )


def _container_id(pod: dict[str, Any], container: str) -> str | None:
    """The runtime's id of a container of the pod (``containerd://<id>`` in its status)."""
    for s in pod_state.statuses(pod):
        if s["name"] == container and s.get("containerID"):
            return s["containerID"].rpartition("://")[2]
    return None


def kill_cgroups(cluster, marks: list[str], what: str) -> list[int]:
    """SIGKILL every process, on whichever Kubernetes node, whose cgroup path holds one of
    ``marks`` (a pod's ``/pod<uid>/``, a container's ``/pod<uid>/<id>``); return their pids."""
    nodes = [c for n, c in cluster.nodes.items() if n.startswith(K8S_NODE)]
    pids = [pid for c in nodes for pid in pod_pids(c, marks)]
    if not pids:
        raise FaultError(f"{what}: no process found on the nodes")
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def pod_pids(container, marks: list[str]) -> list[int]:
    """Host pids under a node container whose cgroup path holds one of ``marks`` (the
    kubelet's cgroupfs layout: ``/kubepods/<qos>/pod<uid>/<container id>``)."""
    container.reload()
    out = []
    for pid in descendants(container.attrs["State"]["Pid"]):
        try:
            with open(f"/proc/{pid}/cgroup") as fh:
                cgroups = fh.read()
        except OSError:
            continue
        if any(m in cgroups for m in marks):
            out.append(pid)
    return out
