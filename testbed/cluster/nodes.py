"""How a node of a cluster comes and goes: its spec from its role's service module, its
container created (ahead of its start, during the boot) and started, its readiness waited for,
its removal (its log kept first) and its names on the run network.

``cluster`` is the :class:`~testbed.cluster.Cluster` (typed loosely: the cluster imports this
module); its ``nodes`` maps each node to its container.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from docker.models.containers import Container

from testbed import runtime
from testbed.cluster import record
from testbed.core.errors import ClusterError
from testbed.dag_sync import GIT_SERVER
from testbed.k8s import client as k8s_client
from testbed.k8s import node as k8s_node
from testbed.readiness import wait_ready
from testbed.runtime import NodeSpec
from testbed.services import (
    airflow,
    git_server,
    kdc,
    kerberos,
    minio,
    pg_krb,
    postgres,
    redis,
    toxiproxy,
)
from testbed.topology import K8S_CLIENT, K8S_NODE, PG_KRB, SIDECAR_SUFFIX

DEFAULT_WEIGHT = 1024  # cgroup v1 cpu.shares of a container given none
SERVICE_MODULES = {
    "postgres": postgres,
    "redis": redis,
    "minio": minio,
    "toxiproxy": toxiproxy,
    "kdc": kdc,
    PG_KRB: pg_krb,
    K8S_NODE: k8s_node,
    K8S_CLIENT: k8s_client,
    GIT_SERVER: git_server,
}


def service_module(node: str):
    """The module that builds ``node``'s spec and readiness probe (testbed.services)."""
    if node.endswith(SIDECAR_SUFFIX):
        return kerberos
    if node.startswith(K8S_NODE):
        return k8s_node
    return SERVICE_MODULES.get(node, airflow)


def _quiet(_msg: str) -> None:
    pass


def spec(cluster: Any, node: str, env: dict[str, str] | None = None) -> NodeSpec:
    """``node``'s spec, ``env`` added to its environment."""
    s = service_module(node).spec(cluster, node)
    s.env.update(env or {})
    return s


def create(cluster: Any, node: str) -> None:
    """Create (not start) a node's container ahead of its start (the boot's first phase)."""
    if not cluster._cancel.is_set():
        c = runtime.create(spec(cluster, node), cluster.run_id, cluster.network, cluster.labels)
        cluster._created[node] = c


def start(cluster: Any, s: NodeSpec) -> Container:
    """Start the node of spec ``s`` (its container created ahead by the boot, or now)."""
    if cluster._cancel.is_set():
        raise ClusterError("boot cancelled")
    c = cluster._created.pop(s.name, None)
    if c is None:
        c = runtime.create(s, cluster.run_id, cluster.network, cluster.labels)
    cluster.nodes[s.name] = c
    if weight := cluster.boot_weight:
        c.update(cpu_shares=weight)
        if cluster.boot_weight is None:  # promoted meanwhile (Cluster.promote), maybe past it
            c.update(cpu_shares=DEFAULT_WEIGHT)
    c.start()
    cluster.history.append("container", node=s.name, state="started", image=s.image)
    return c


def wait(
    cluster: Any,
    node: str,
    timeout: float | None = None,
    update: Callable[[str], None] = _quiet,
) -> float:
    """Wait until a started node passes its readiness probe; return the seconds waited."""
    probe = service_module(node).probe(cluster, node)
    waited = wait_ready(
        node,
        cluster.nodes[node],
        probe,
        timeout=timeout or cluster.ready_timeout,
        cancel=cluster._cancel,
        on_wait=update,
    )
    cluster.history.append(
        "container", node=node, state="ready", probe=probe.what, waited=round(waited, 3)
    )
    return waited


def start_and_wait(
    cluster: Any,
    node: str,
    update: Callable[[str], None] = _quiet,
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> Container:
    """Create and start a node (``env`` added to its spec's environment), wait until it is
    ready, and return its container."""
    start(cluster, spec(cluster, node, env))
    wait(cluster, node, timeout, update)
    return cluster.nodes[node]


def remove(cluster: Any, node: str) -> None:
    """Remove a node's container (and with it everything on its local disk); its log stays."""
    old = cluster.nodes.pop(node, None)
    if old is not None:
        record.save_log(cluster, old, f"{node}-{old.short_id}.log")  # evidence outlives it
        old.remove(force=True)
        cluster.history.append("container", node=node, state="removed")


def aliases(cluster: Any, node: str) -> list[str]:
    """Every name ``node`` has on the run network (a reconnect must restore them all)."""
    try:
        return [node, *spec(cluster, node).aliases]
    except Exception:  # e.g. a migrator: its short name is all it has
        return [node]
