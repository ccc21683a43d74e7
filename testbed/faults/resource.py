"""Resource faults: a node starved of CPU, as a noisy neighbour, a throttled pod limit or an
overcommitted host leaves it (``cpu_throttle``), or of memory (``memory_limit``). Starved of
CPU the node keeps running and answering, only slowly: heartbeats come late, parsing and
scheduling loops stretch, timeouts that assume a responsive process fire. Short of memory, the
kernel's OOM killer kills the node's biggest process the moment it needs more: typically a
task, as a pod's memory limit or an overcommitted host does it.

Both are the container's cgroup limits, set and lifted with the engine's update call, so they
apply to every process of the node at once and need nothing inside the image. A memory limit
cannot be removed once set, so the heal raises it to the host's memory (no limit in effect);
the kills are counted from the cgroup's own counter and recorded (``oom_kills``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import docker.errors

from testbed import runtime
from testbed.core.errors import FaultError
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


class MemoryLimit(Fault):
    """At most ``memory`` bytes for the node (its swap too); the heal lifts the limit to the
    host's memory and records how many processes the kernel killed meanwhile."""

    kind = "memory_limit"

    def __init__(self, cluster: Cluster, target: str, memory: int = 512 * 2**20, **kw) -> None:
        super().__init__(cluster, target, **kw)
        self.memory = memory
        self._kills_before = 0

    def describe(self) -> dict[str, Any]:
        return {"memory_mb": round(self.memory / 2**20, 1)}

    def _inject(self) -> None:
        self._kills_before = oom_kills(self.cluster, self.target)
        try:
            self.container.update(mem_limit=self.memory, memswap_limit=self.memory)
        except docker.errors.APIError as exc:  # cgroup v1: not below what the kernel can reclaim
            raise FaultError(
                f"{self.target}: the kernel refused a {self.memory / 2**20:g} MiB memory limit "
                f"(the node uses more than it can give back now; raise 'memory'): "
                f"{exc.explanation or exc}"
            ) from exc

    def _heal(self) -> None:
        if self.target not in self.cluster.nodes:  # a node removed meanwhile has no limit left
            return
        lifted = host_memory()
        self.container.update(mem_limit=lifted, memswap_limit=lifted)  # first: it must heal
        try:
            killed = oom_kills(self.cluster, self.target) - self._kills_before
        except Exception as exc:  # a node that cannot be read (paused, exited): say so
            self.record("oom_kills", error=f"{type(exc).__name__}: {exc}"[:300])
            return
        self.record("oom_kills", count=killed)

    @classmethod
    def leftovers(cls, cluster: Cluster) -> list[str]:
        """For the heal audit: every node still under a memory limit below the host's."""
        out, lifted = [], host_memory()
        for node, c in list(cluster.nodes.items()):
            limit = memory_limit(c)
            if limit and 0 < limit < lifted:
                out.append(f"{node} is memory-limited ({limit / 2**20:g} MiB)")
        return out


def memory_limit(container) -> int | None:
    """The container's memory limit in bytes as the engine has it now (0: none; None: gone)."""
    try:
        container.reload()
    except docker.errors.NotFound:
        return None
    return container.attrs["HostConfig"].get("Memory")


def host_memory() -> int:
    """The engine host's memory: the limit that is no limit."""
    return int(runtime.client().info()["MemTotal"])


def oom_kills(cluster: Cluster, node: str) -> int:
    """Processes the kernel's OOM killer killed in the node's cgroup so far (cgroup v2's
    ``memory.events`` or v1's ``memory.oom_control``; 0 where the kernel keeps no count)."""
    script = (
        "cat /sys/fs/cgroup/memory.events 2>/dev/null "
        "|| cat /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null"
    )
    result = cluster.exec_in(node, ["sh", "-c", script], timeout=10)
    for line in result.output.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return 0
