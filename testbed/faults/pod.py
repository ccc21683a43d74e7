"""Faults on the Kubernetes backend's pods.

``pod_delete``: delete a role's pod(s) the way an operator, an eviction or a node drain does —
``grace`` seconds between SIGTERM and SIGKILL. ``grace: 0`` is a crash: every process of the
pod is SIGKILLed first (found by the pod's cgroup, inside the node containers; Kubernetes itself
would still send SIGTERM and wait at least 2 s, even with ``--force``), then the pod object is
deleted. The Deployment
makes a replacement pod (another name, another hostname: another SchedulerJob); the heal waits
until the role has its ready pod again. The deleted pods are recorded, and the signal each got
(TERM, or KILL for a crash) as a ``signal`` event on the pod's name (its hostname).
"""

from __future__ import annotations

import os
import signal
from typing import Any

from testbed.core.errors import FaultError
from testbed.faults.base import Fault
from testbed.faults.proc import descendants
from testbed.k8s import deploy
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
        if self.grace == 0:
            self.record("killed", pids=self._kill(pods))
            args.append("--force")
        done = kubectl(self.cluster, *args, timeout=20)
        if done.returncode != 0:
            raise FaultError(f"kubectl delete pod: {done.stderr.strip()[:300]}")
        self.deleted = pods
        self.record("deleted", pods=pods)
        # each pod's signal, on its name: the hostname its tasks record, which checks such as
        # drained_cleanly judge against
        signal = "KILL" if self.grace == 0 else "TERM"
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
        nodes = [c for n, c in self.cluster.nodes.items() if n.startswith(K8S_NODE)]
        pids = [pid for c in nodes for pid in pod_pids(c, uids)]
        if not pids:
            raise FaultError(f"pod_delete: no process of {', '.join(pods)} found on the nodes")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pids

    def _heal(self) -> None:
        """The role's new pod ready and answering its probe as at boot (a replaced Celery
        worker has joined the broker)."""
        deploy.settle(self.cluster, self.target, self.deleted, timeout=180)
        deploy.wait_role(self.cluster, self.target)


def pod_pids(container, uids: list[str]) -> list[int]:
    """Host pids under a node container whose cgroup is one of the pods' (the kubelet's
    cgroupfs layout: ``/kubepods/<qos>/pod<uid>/<container>``)."""
    container.reload()
    marks = [f"/pod{uid}/" for uid in uids]
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


K8S_FAULTS = {"pod_delete": PodDelete}
