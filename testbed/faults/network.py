"""Network faults: partition (a node cut off the cluster network, or one link between two
nodes dropped with iptables), and the container network helpers the heal audit uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testbed import iptables
from testbed.faults.base import Fault

if TYPE_CHECKING:
    from testbed.cluster import Cluster


class Partition(Fault):
    """Cut ``target`` off the cluster network, or (``peer=``) only its link to one other node."""

    kind = "partition"

    def __init__(self, cluster: Cluster, target: str, peer: str | None = None, **kw) -> None:
        super().__init__(cluster, target, **kw)
        self.peer = peer

    def describe(self) -> dict[str, Any]:
        return {"peer": self.peer} if self.peer else {}

    def _inject(self) -> None:
        if self.peer is None:
            self.cluster.network.disconnect(self.container, force=True)
        else:
            for rule in self._rules():
                iptables.apply("-I", rule)

    def _heal(self) -> None:
        if self.peer is None:
            if not on_network(self.container, self.cluster.network.name):
                aliases = self.cluster.aliases(self.target)
                self.cluster.network.connect(self.container, aliases=aliases)
        else:
            for rule in self._rules():
                while iptables.apply("-C", rule, check=False) == 0:
                    iptables.apply("-D", rule)

    def _rules(self) -> list[list[str]]:
        a, b = ip_of(self.container), ip_of(self.cluster.container(self.peer))
        tag = iptables.tag(self.cluster.run_id)
        return [
            ["DOCKER-USER", "-s", a, "-d", b, *tag, "-j", "DROP"],
            ["DOCKER-USER", "-s", b, "-d", a, *tag, "-j", "DROP"],
        ]


def ip_of(container) -> str:
    container.reload()
    nets = container.attrs["NetworkSettings"]["Networks"]
    return next(iter(nets.values()))["IPAddress"]


def on_network(container, network: str) -> bool:
    container.reload()
    return network in container.attrs["NetworkSettings"]["Networks"]
