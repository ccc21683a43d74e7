"""Fast reset of a reused cluster between scenarios: back to the shape it booted in.

Heals whatever a scenario may have left (paused nodes, stopped processes, toxics, disabled
proxies, iptables rules, nodes off the network, memory limits and CPU quotas, lock-holding
sessions of the testbed's, filled disks, broken resolvers), removes nodes the topology does not have
(e.g. a replacement ``scheduler-2``), boots nodes that are missing or stopped, waits for every
node started since the cluster was last known good, and fails DAG runs left unfinished so the
next scenario starts with idle workers. Records a ``reset`` event with its duration.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

from testbed import faults, iptables, runtime
from testbed.cluster import Cluster
from testbed.dag_sync import GIT_SERVER
from testbed.faults import database, kinds, resource
from testbed.services import git_server, postgres
from testbed.topology import holds_dags

UNFINISHED_SQL = (
    "update task_instance set state = 'failed' where state in "
    "('queued', 'running', 'scheduled', 'up_for_retry', 'up_for_reschedule', 'deferred', "
    "'restarting');"
    "update dag_run set state = 'failed' where state in ('queued', 'running')"
)
TERMINATE_LOCKS = (
    "select pg_terminate_backend(pid) from pg_stat_activity where application_name like %s"
)


def reset(cluster: Cluster) -> float:
    """Reset ``cluster`` (see the module docstring); return the seconds it took."""
    t0 = time.monotonic()
    _heal_everything(cluster)
    restarted = _restore_nodes(cluster)
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(cluster.wait_node, restarted))
    except BaseException:  # Ctrl-C or a node that never came back: stop the other waits
        cluster.cancel()
        raise
    postgres.query(cluster, UNFINISHED_SQL, timeout=10)
    cluster.backend.reset(cluster)  # on Kubernetes: the task pods left, every Deployment ready
    if GIT_SERVER in cluster.nodes:  # the DAGs back as booted, on the server and every node
        topo = cluster.topology
        holders = [n for n in topo.airflow_nodes if holds_dags(n, topo.local)]
        git_server.reset(cluster, holders if topo.dag_sync == "git" else [])
    seconds = time.monotonic() - t0
    cluster.history.append("reset", seconds=round(seconds, 3), restarted=restarted)
    cluster.mark_good()
    return seconds


def _heal_everything(cluster: Cluster) -> None:
    for node, c in list(cluster.nodes.items()):
        st = runtime.state(c)
        if st == "paused":
            c.unpause()
        if st in ("running", "paused"):
            for pid in faults.stopped_pids(c):
                os.kill(pid, signal.SIGCONT)
            if not faults.on_network(c, cluster.network.name):
                cluster.network.connect(c, aliases=cluster.aliases(node))
    for link in cluster.topology.links():
        faults.heal_proxy(cluster, link.name)
    iptables.delete_run_rules(cluster.run_id)
    _lift_limits(cluster)


def _lift_limits(cluster: Cluster) -> None:
    """What a failed heal of a resource or database fault left: a node's memory limit or CPU
    quota, a lock-holding session of the testbed's."""
    lifted = resource.host_memory()
    for c in list(cluster.nodes.values()):
        if runtime.state(c) not in ("running", "paused"):
            continue
        if 0 < (resource.memory_limit(c) or 0) < lifted:
            c.update(mem_limit=lifted, memswap_limit=lifted)
        if (resource.cpu_quota(c) or 0) > 0:
            c.update(cpu_quota=-1)
    if "postgres" in cluster.nodes:
        postgres.query(cluster, TERMINATE_LOCKS, (database.APP + "%",))
    for undo in kinds.hooks("reset"):  # what a kind undoes itself (e.g. a filled disk)
        undo(cluster)


def _restore_nodes(cluster: Cluster) -> list[str]:
    """Remove extra nodes, start stopped ones, create missing ones; return those to wait for."""
    wanted = cluster.topology.nodes
    for node in [n for n in cluster.nodes if n not in wanted]:
        cluster.remove_node(node)
    restarted = []
    for node in wanted:
        c = cluster.nodes.get(node)
        if c is None:
            cluster.start_node(node)
        elif runtime.state(c) != "running":
            c.start()
        elif not _started_after(c, cluster.good_since):
            continue
        restarted.append(node)
    return restarted


def _started_after(container, since: float) -> bool:
    started = runtime.started_at(container)
    return started is None or started.timestamp() > since
