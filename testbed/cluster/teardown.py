"""A cluster's teardown: its logs kept, then every object of its run removed (containers,
network, volumes, and host firewall rules a partition left), the run record marked removed.

``cluster`` is the :class:`~testbed.cluster.Cluster` (typed loosely: the cluster imports this
module).
"""

from __future__ import annotations

from typing import Any

from testbed import iptables, runtime
from testbed.cluster import record


def down(cluster: Any, reason: str = "teardown") -> list[str]:
    """Save container logs, remove every object of this run; return what could not go."""
    cluster._cancel.set()
    record.save_logs(cluster)
    failed = runtime.remove_run(cluster.run_id)
    try:  # a peer partition whose heal never ran (a second Ctrl-C) leaves host rules
        iptables.delete_run_rules(cluster.run_id)
    except Exception as exc:
        failed.append(f"iptables rules of {cluster.run_id}: {exc}")
    cluster.history.append("cluster", phase="down", reason=reason, failed=failed)
    if cluster.dir.exists():
        record.write(cluster, state="removed")
    cluster.nodes.clear()
    return failed
