"""Network faults: partition (a node cut off the cluster network, or one link between two
nodes dropped with iptables), dns_failure (a node's name lookups fail), and the container
network helpers the heal audit uses.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from testbed import iptables, runtime
from testbed.core.errors import FaultError
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


RESOLV, SAVED = "/etc/resolv.conf", "/etc/resolv.conf.testbed"
# The node's resolver pointed at an address where nothing answers: every lookup of another
# node's name fails at once ("Temporary failure in name resolution"), as when a node's DNS
# server is down or unreachable. The node's own name (/etc/hosts) and open connections still
# work. The engine's resolver entry is kept beside it, and put back by the heal.
BROKEN_RESOLV = "# the testbed's dns_failure: no name server answers\nnameserver 127.0.0.1\n"
_BROKEN: dict[str, set[str]] = {}  # run id -> nodes whose resolver is broken
_GUARD = threading.Lock()


class DnsFailure(Fault):
    """Every name lookup on ``target`` fails (its resolver answers nothing); the heal restores
    the engine's resolver. Connections already open are not touched."""

    kind = "dns_failure"

    def _inject(self) -> None:
        with _GUARD:
            _BROKEN.setdefault(self.cluster.run_id, set()).add(self.target)
        script = f'[ -e {SAVED} ] || cp {RESOLV} {SAVED} && printf "%s" "$1" > {RESOLV}'
        _root_sh(self.cluster, self.target, script, BROKEN_RESOLV)

    def _heal(self) -> None:
        if self.target in self.cluster.nodes:  # a node removed meanwhile has a fresh resolver
            restore_resolver(self.cluster, self.target)
        with _GUARD:
            _BROKEN.get(self.cluster.run_id, set()).discard(self.target)

    @classmethod
    def leftovers(cls, cluster: Cluster) -> list[str]:
        """For the heal audit: every node whose resolver is still the broken one."""
        out = []
        for node in _broken(cluster):
            found = runtime.exec_run(cluster.container(node), ["test", "-e", SAVED], timeout=10)
            if found.exit_code == 0:
                out.append(f"{node}: name lookups still fail (dns_failure not healed)")
        return out

    @classmethod
    def reset(cls, cluster: Cluster) -> None:
        """For a reset: the engine's resolver back on every node a failed heal left broken (a
        running one; a stopped one is looked at again once it runs)."""
        for node in _broken(cluster):
            restore_resolver(cluster, node)
            with _GUARD:
                _BROKEN.get(cluster.run_id, set()).discard(node)


def restore_resolver(cluster: Cluster, node: str) -> None:
    _root_sh(cluster, node, f"[ ! -e {SAVED} ] || {{ cat {SAVED} > {RESOLV} && rm {SAVED}; }}")


def _root_sh(cluster: Cluster, node: str, script: str, *args: str) -> None:
    result = runtime.root_sh(cluster.container(node), script, *args, timeout=15, node=node)
    if result.exit_code != 0:
        raise FaultError(f"{node}: {RESOLV} could not be changed: {result.output.strip()}")


def _broken(cluster: Cluster) -> list[str]:
    with _GUARD:
        nodes = sorted(_BROKEN.get(cluster.run_id, set()))
    running = [n for n in nodes if n in cluster.nodes]
    return [n for n in running if runtime.state(cluster.container(n)) == "running"]
