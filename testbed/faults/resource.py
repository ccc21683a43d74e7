"""Resource faults: a node starved of CPU, as a noisy neighbour, a throttled pod limit or an
overcommitted host leaves it (``cpu_throttle``). The node keeps running and answering, only
slowly: heartbeats come late, parsing and scheduling loops stretch, timeouts that assume a
responsive process fire.

The throttle is the container's CFS quota (``cpu_quota`` over a 100 ms ``cpu_period``), set and
cleared with the engine's update call, so it applies to every process of the node at once and
needs nothing inside the image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import docker.errors

from testbed.faults.base import Fault

if TYPE_CHECKING:
    from testbed.cluster import Cluster

PERIOD_US = 100_000  # the CFS period the quota is a share of (Docker's default)


class CpuThrottle(Fault):
    """At most ``cpus`` CPUs for the node (0.1: a tenth of one core); the heal lifts the
    limit."""

    kind = "cpu_throttle"

    def __init__(self, cluster: Cluster, target: str, cpus: float = 0.1, **kw) -> None:
        super().__init__(cluster, target, **kw)
        self.cpus = cpus

    def describe(self) -> dict[str, Any]:
        return {"cpus": self.cpus}

    def _inject(self) -> None:
        quota = max(1000, round(self.cpus * PERIOD_US))  # the kernel's floor is 1 ms
        self.container.update(cpu_period=PERIOD_US, cpu_quota=quota)

    def _heal(self) -> None:
        if self.target in self.cluster.nodes:  # a node removed meanwhile has no limit left
            self.container.update(cpu_quota=-1)

    @classmethod
    def leftovers(cls, cluster: Cluster) -> list[str]:
        """For the heal audit: every node still under a CPU quota."""
        out = []
        for node, c in list(cluster.nodes.items()):
            quota = cpu_quota(c)
            if quota and quota > 0:
                out.append(f"{node} is CPU-throttled ({quota / PERIOD_US:g} CPUs)")
        return out


def cpu_quota(container) -> int | None:
    """The container's CFS quota in µs as the engine has it now (-1 or 0: no limit; None: the
    container is gone)."""
    try:
        container.reload()
    except docker.errors.NotFound:
        return None
    return container.attrs["HostConfig"].get("CpuQuota")
