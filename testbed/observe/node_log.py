"""The node-log probe: the lines of a node's own output (its container's log) matching a
pattern, written since a fault went in (or since the scenario began), for the checks that judge
what a component said, or did not say, about a fault (``logged``). A role's pod on Kubernetes
is read like a node (its backend's ``output``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from testbed.checks.view import View
from testbed.observe.core import observe

if TYPE_CHECKING:
    from testbed.cluster import Cluster

KEPT = 5  # matching lines kept per look (the last ones)


def node_log(cluster: Cluster, node: str, pattern: str, since_wall: float) -> dict:
    """One ``node_log`` observation of ``node``: ``{"line", "since", "count", "read", "last"}``."""

    def fn() -> dict[str, Any]:
        lines = cluster.backend.output(cluster, node, since_wall).splitlines()
        hits = [ln for ln in lines if re.search(pattern, ln)]
        return {
            "line": pattern,
            "since": since_wall,
            "count": len(hits),
            "read": len(lines),
            "last": [h[-300:] for h in hits[-KEPT:]],
        }

    return observe(cluster, "node_log", node, fn, timeout=15)


def gather_node_log(cluster: Cluster, runs: dict, params: Any) -> None:
    if not cluster.has(params.node):
        return
    events = cluster.history.snapshot()
    fault = View(events).fault(params.after) if params.after else None
    since = fault["wall"] if fault else (events[0]["wall"] if events else 0.0)
    node_log(cluster, params.node, params.line, since)


GATHERERS = {"node_log": gather_node_log}
