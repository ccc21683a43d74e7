"""Disk faults: a node's filesystem filled (``disk_full``), as a log folder that grew until its
disk had no space left, or a neighbour's files, leave it. Every write then fails with
``ENOSPC`` ("No space left on device") until space is freed.

The filesystem must be one of the node's own, of bounded size (every Celery worker's log folder
is: :data:`LOG_DISK`, sized by the topology's ``log_disk``): filling a container's root would
fill the engine host's disk. The fill is one file, written as root; the heal deletes it. The
fault records how big the filesystem is and how much was left free.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from testbed import runtime
from testbed.airflow_config import LOGS_FOLDER
from testbed.core.errors import FaultError
from testbed.faults.base import Fault
from testbed.topology import role_is_worker

if TYPE_CHECKING:
    from testbed.cluster import Cluster

FILL = ".testbed-fill"  # the one file a fill writes, in the filled folder
LOG_DISK = LOGS_FOLDER  # on every Celery worker, a filesystem of its own (topology.log_disk)

# Refuses a folder on the node's root filesystem (the host's disk), then writes zeros into the
# fill until ENOSPC (or until only `keep` bytes are left), then prints "size avail" in bytes.
FILL_SCRIPT = r"""
p="$1"; keep="$2"  # $3: the fill's file name
[ -d "$p" ] || { echo "no folder $p on this node"; exit 3; }
[ "$(stat -c %d /)" != "$(stat -c %d "$p")" ] || {
  echo "$p is on the node's root filesystem (the host's disk), not a filesystem of its own"
  exit 3; }
avail=$(df -B1 --output=avail "$p" | tail -n 1)
if [ "$keep" -gt 0 ]; then head -c $(( avail > keep ? avail - keep : 0 )) /dev/zero >> "$p/$3"
else cat /dev/zero >> "$p/$3" 2>/dev/null; fi
[ -e "$p/$3" ] || { echo "could not write $p/$3"; exit 4; }
sync -f "$p" 2>/dev/null
df -B1 --output=size,avail "$p" | tail -n 1
"""

_FILLED: dict[str, dict[str, str]] = {}  # run id -> {node: folder} filled and not yet emptied
_GUARD = threading.Lock()


def default_path(target: str) -> str | None:
    """The folder a ``disk_full`` fills when the step names none: a worker's log disk."""
    return LOG_DISK if role_is_worker(target) else None


class DiskFull(Fault):
    """Fill the filesystem holding ``path`` on the node (a worker's log folder by default),
    leaving ``free`` bytes; the heal deletes the fill."""

    kind = "disk_full"

    def __init__(
        self, cluster: Cluster, target: str, path: str | None = None, free: int = 0, **kw
    ) -> None:
        path = path or default_path(target)
        if path is None:
            raise FaultError(
                f"disk_full on {target!r} needs 'path', a folder on a filesystem of the node's "
                f"own (every worker's log folder, {LOG_DISK}, is one)"
            )
        super().__init__(cluster, target, **kw)
        self.path, self.free = path.rstrip("/") or "/", free

    def describe(self) -> dict[str, Any]:
        return {"path": self.path, "free": self.free}

    def _inject(self) -> None:
        with _GUARD:
            _FILLED.setdefault(self.cluster.run_id, {})[self.target] = self.path
        cmd = ["sh", "-c", FILL_SCRIPT, "fill", self.path, str(self.free), FILL]
        result = runtime.exec_run(self.container, cmd, timeout=120, user="root", node=self.target)
        last = (result.output.strip().splitlines() or [""])[-1]
        if result.exit_code != 0:
            raise FaultError(f"disk_full on {self.target}: {last or result.exit_code}")
        size, _, avail = last.partition(" ")
        self.record("filled", size=int(size), free=int(avail))

    def _heal(self) -> None:
        if self.target in self.cluster.nodes:  # a node removed meanwhile took its disk along
            empty(self.cluster, self.target, self.path)
        with _GUARD:
            _FILLED.get(self.cluster.run_id, {}).pop(self.target, None)

    @classmethod
    def leftovers(cls, cluster: Cluster) -> list[str]:
        """For the heal audit: every folder a fill is still in."""
        out = []
        for node, path in _filled(cluster):
            found = runtime.exec_run(
                cluster.container(node), ["test", "-e", f"{path}/{FILL}"], timeout=10, node=node
            )
            if found.exit_code == 0:
                out.append(f"{node}: {path} is still filled")
        return out

    @classmethod
    def reset(cls, cluster: Cluster) -> None:
        """For a reset: empty every folder a failed heal left filled."""
        for node, path in _filled(cluster):
            empty(cluster, node, path)
        with _GUARD:
            _FILLED.pop(cluster.run_id, None)


def empty(cluster: Cluster, node: str, path: str) -> None:
    result = runtime.exec_run(
        cluster.container(node), ["rm", "-f", f"{path}/{FILL}"], timeout=30, user="root", node=node
    )
    if result.exit_code != 0:
        raise FaultError(f"{node}: could not delete the fill in {path}: {result.output.strip()}")


def _filled(cluster: Cluster) -> list[tuple[str, str]]:
    """The (node, folder) pairs filled in this cluster and not yet emptied, on running nodes."""
    with _GUARD:
        pairs = list(_FILLED.get(cluster.run_id, {}).items())
    return [(n, p) for n, p in pairs if n in cluster.nodes and _running(cluster, n)]


def _running(cluster: Cluster, node: str) -> bool:
    return runtime.state(cluster.container(node)) == "running"
