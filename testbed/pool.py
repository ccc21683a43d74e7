"""Reuse of one booted cluster across scenarios: the same topology gets the same cluster,
reset between scenarios (see :mod:`testbed.reset`); a different topology replaces it.

Used by ``testbed run`` with several files and by the pytest plugin (one pool per xdist
worker, so a worker never boots a cluster twice for the same topology).
"""

from __future__ import annotations

from testbed import progress
from testbed.cluster import Cluster
from testbed.reset import reset
from testbed.topology import Topology


class ClusterPool:
    def __init__(self, *, detached: bool = False) -> None:
        self.cluster: Cluster | None = None
        self.detached = detached
        self.used = False  # has a scenario run on the current cluster yet?
        self.reset_seconds: list[float] = []

    def get(self, topology: Topology, boot_weight: int | None = None) -> Cluster:
        """A ready cluster of ``topology``: the current one (reset) or a freshly booted one
        (at ``boot_weight``, see :class:`Cluster`)."""
        reusable = self.cluster is not None and self.cluster.reusable
        if reusable and self.cluster.topology == topology:
            if not self.used:
                self.used = True
                return self.cluster
            try:
                self.reset_seconds.append(reset(self.cluster))
                return self.cluster
            except Exception as exc:  # a cluster that cannot be reset is replaced, not reused
                progress.warn(f"reset of {self.cluster.run_id} failed ({exc}); booting anew")
        self.close()
        self.cluster = Cluster(topology, detached=self.detached, boot_weight=boot_weight).up()
        self.used = True
        return self.cluster

    def close(self, reason: str = "pool closed") -> list[str]:
        """Remove the current cluster; return what could not be removed."""
        failed: list[str] = []
        if self.cluster is not None:
            failed = self.cluster.down(reason=reason)
        self.cluster, self.used = None, False
        return failed
