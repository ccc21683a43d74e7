"""Faults on the Kubernetes backend's pods.

``pod_delete``: delete a role's pod(s) the way an operator, an eviction or a node drain does —
``grace`` seconds between SIGTERM and SIGKILL (0: killed at once, ``--force``). The Deployment
makes a replacement pod (another name, another hostname: another SchedulerJob); the heal waits
until the role has its ready pod again. The deleted pods are recorded.
"""

from __future__ import annotations

from typing import Any

from testbed.faults import Fault, FaultError
from testbed.k8s import deploy
from testbed.k8s.node import kubectl


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
            if int(self.grace) == 0:
                args.append("--force")  # SIGKILL now, not the 1 s Kubernetes makes 0 into
        done = kubectl(self.cluster, *args, timeout=20)
        if done.returncode != 0:
            raise FaultError(f"kubectl delete pod: {done.stderr.strip()[:300]}")
        self.deleted = pods
        self.record("deleted", pods=pods)

    def _heal(self) -> None:
        deploy.settle(self.cluster, self.target, self.deleted, timeout=180)


K8S_FAULTS = {"pod_delete": PodDelete}
