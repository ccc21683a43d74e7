"""Disk faults: a node's filesystem filled (``disk_full``), as a log folder that grew until its
disk had no space left, or a neighbour's files, leave it. Every write then fails with
``ENOSPC`` ("No space left on device") until the fault is healed.

The filesystem must be one of the node's own, of bounded size (every Celery worker's log folder
is: :data:`LOG_DISK`, ``LOG_DISK_SIZE`` big): filling a container's root would fill the engine
host's disk. The fill is one file, written as root by a keeper process that takes again any
space freed meanwhile (a disk that stays full, as when something keeps writing to it); the
heal ends the keeper and deletes the fill. The fault records how big the filesystem is and how
much was left free.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from testbed import runtime
from testbed.airflow_config import LOGS_FOLDER
from testbed.core.errors import FaultError
from testbed.faults.base import Fault
from testbed.topology import role_is_worker

if TYPE_CHECKING:
    from testbed.cluster import Cluster

FILL = ".testbed-fill"  # the one file a fill writes, in the filled folder
PAGE = 4096  # tmpfs allocates whole pages: less than one free is full
LOG_DISK = LOGS_FOLDER  # on every Celery worker, a filesystem of its own (topology.log_disk)

# Refuses a folder that is not there or is on the node's root filesystem (the host's disk).
CHECK_SCRIPT = r"""
p="$1"
[ -d "$p" ] || { echo "no folder $p on this node"; exit 3; }
[ "$(stat -c %d /)" != "$(stat -c %d "$p")" ] || {
  echo "$p is on the node's root filesystem (the host's disk), not a filesystem of its own"
  exit 3; }
"""
# Keeps the filesystem full while the fault is in force (a disk that stays full: space another
# process frees is taken again within 0.2 s): zeros appended to the fill until ENOSPC, or until
# only `keep` bytes are left. Its pid goes to $4, for the heal.
KEEP_SCRIPT = r"""
p="$1"; keep="$2"; f="$1/$3"; echo $$ > "$4"
while :; do
  avail=$(df -B1 --output=avail "$p" | tail -n 1)
  if [ "$avail" -gt "$keep" ]; then
    if [ "$keep" -gt 0 ]; then head -c $(( avail - keep )) /dev/zero >> "$f" 2>/dev/null
    else cat /dev/zero >> "$f" 2>/dev/null; fi
  fi
  sleep 0.2
done
"""
# Ends the keeper (and the write it may be in), then deletes the fill.
EMPTY_SCRIPT = r"""
if [ -e "$3" ]; then pid=$(cat "$3"); pkill -P "$pid" 2>/dev/null; kill "$pid" 2>/dev/null; fi
rm -f "$3" "$1/$2"
"""
FILLED_WITHIN = 30.0  # seconds the keeper has to fill the filesystem

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
        check = _root(self.cluster, self.target, CHECK_SCRIPT, self.path)
        if check.exit_code != 0:
            raise FaultError(f"disk_full on {self.target}: {check.output.strip()}")
        args = [self.path, str(self.free), FILL, pid_file(self.path)]
        self.container.exec_run(["sh", "-c", KEEP_SCRIPT, "keep", *args], user="root", detach=True)
        size, avail = self._wait_filled()
        self.record("filled", size=size, free=avail)

    def _wait_filled(self) -> tuple[int, int]:
        """(size, bytes free) once the keeper filled the filesystem down to ``free``."""
        deadline = time.monotonic() + FILLED_WITHIN
        while True:
            df = _root(self.cluster, self.target, 'df -B1 --output=size,avail "$1"', self.path)
            size, _, avail = (df.output.strip().splitlines() or [""])[-1].partition(" ")
            if size.isdigit() and avail.strip().isdigit():
                if int(avail) <= max(self.free, PAGE) or time.monotonic() > deadline:
                    return int(size), int(avail)
            elif time.monotonic() > deadline:
                raise FaultError(f"disk_full on {self.target}: df said {df.output.strip()!r}")
            time.sleep(0.2)

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
    """End the keeper of ``path``'s fill and delete the fill."""
    result = _root(cluster, node, EMPTY_SCRIPT, path, FILL, pid_file(path))
    if result.exit_code != 0:
        raise FaultError(f"{node}: could not delete the fill in {path}: {result.output.strip()}")


def pid_file(path: str) -> str:
    """Where the keeper of ``path``'s fill writes its pid (on the node's root filesystem)."""
    return "/tmp/.testbed-fill" + path.replace("/", "_") + ".pid"


def _root(cluster: Cluster, node: str, script: str, *args: str) -> runtime.ExecResult:
    cmd = ["sh", "-c", script, "sh", *args]
    return runtime.exec_run(cluster.container(node), cmd, timeout=30, user="root", node=node)


def _filled(cluster: Cluster) -> list[tuple[str, str]]:
    """The (node, folder) pairs filled in this cluster and not yet emptied, on running nodes."""
    with _GUARD:
        pairs = list(_FILLED.get(cluster.run_id, {}).items())
    return [(n, p) for n, p in pairs if n in cluster.nodes and _running(cluster, n)]


def _running(cluster: Cluster, node: str) -> bool:
    return runtime.state(cluster.container(node)) == "running"
