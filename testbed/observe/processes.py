"""The processes probe: which of a node's processes match a command-line pattern now (read
from the host's /proc, like the process faults), for the checks that judge whether a process
outlived what should have ended it (``process_running``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testbed import runtime
from testbed.core.errors import FaultError
from testbed.faults.proc import command_line, matching_pids
from testbed.observe.core import observe

if TYPE_CHECKING:
    from testbed.cluster import Cluster


def processes(cluster: Cluster, node: str, cmdline: str) -> dict:
    """One ``processes`` observation of ``node``: ``{"cmdline", "pids", "lines"}``."""

    def fn() -> dict[str, Any]:
        container = cluster.container(node)
        state = runtime.state(container)
        if state != "running":  # no process tree to read: not evidence that none runs
            raise RuntimeError(f"{node} is {state}")
        try:
            pids = matching_pids(container, cmdline=cmdline)
        except FaultError:  # none matches: what the check hopes for
            pids = []
        return {"cmdline": cmdline, "pids": pids, "lines": [command_line(p) for p in pids]}

    return observe(cluster, "processes", node, fn)


def gather_processes(cluster: Cluster, runs: dict, params: Any) -> None:
    if params.node in cluster.nodes:
        processes(cluster, params.node, params.cmdline)


GATHERERS = {"processes": gather_processes}
