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
from collections.abc import Sequence
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
KEEPER = "testbed-fill-keeper"  # the keeper's $0: what the heal checks before it kills a pid
# Keeps the filesystem full while the fault is in force (a disk that stays full: space another
# process frees is taken again within 0.2 s): zeros appended to the fill until ENOSPC, or until
# only `keep` bytes are left. Its pid goes to the fill's pid file first (while there is space).
KEEP_SCRIPT = r"""
p="$1"; keep="$2"; f="$1/$3"; echo $$ > "$f.pid"
while :; do
  avail=$(df -B1 --output=avail "$p" | tail -n 1)
  if [ "$avail" -gt "$keep" ]; then
    if [ "$keep" -gt 0 ]; then head -c $(( avail - keep )) /dev/zero >> "$f" 2>/dev/null
    else cat /dev/zero >> "$f" 2>/dev/null; fi
  fi
  sleep 0.2
done
"""
# Ends the keeper (stopped first, so it starts no other write; then its write and itself),
# if the pid is still a keeper (a restarted node reuses pids), then deletes the fill.
EMPTY_SCRIPT = r"""
f="$1/$2"
if [ -e "$f.pid" ]; then
  pid=$(cat "$f.pid")
  if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "$3"; then
    kill -STOP "$pid"; pkill -KILL -P "$pid"; kill -KILL "$pid"
  fi
fi
rm -f "$f.pid" "$f"
"""
FILLED_WITHIN = 30.0  # seconds the keeper has to fill the filesystem

# run id -> the (node, folder) pairs filled and not yet emptied
_FILLED: dict[str, set[tuple[str, str]]] = {}
_GUARD = threading.Lock()


def default_path(target: str, task_hosts: Sequence[str] = ()) -> str | None:
    """The folder a ``disk_full`` fills when the step names none: the log disk of a node that
    runs tasks (a worker, or the LocalExecutor's scheduler: ``task_hosts``)."""
    return LOG_DISK if role_is_worker(target) or target in task_hosts else None


class DiskFull(Fault):
    """Fill the filesystem holding ``path`` on the node (a worker's log folder by default),
    leaving ``free`` bytes; the heal deletes the fill."""

    kind = "disk_full"

    def __init__(
        self, cluster: Cluster, target: str, path: str | None = None, free: int = 0, **kw
    ) -> None:
        path = path or default_path(target, cluster.topology.task_hosts)
        if path is None:
            raise FaultError(
                f"disk_full on {target!r} needs 'path', a folder on a filesystem of the node's "
                f"own (the log folder of a node that runs tasks, {LOG_DISK}, is one)"
            )
        super().__init__(cluster, target, **kw)
        self.path, self.free = path.rstrip("/") or "/", free

    def describe(self) -> dict[str, Any]:
        return {"path": self.path, "free": self.free}

    def _inject(self) -> None:
        _note(self.cluster, (self.target, self.path), filled=True)
        check = _root(self.cluster, self.target, CHECK_SCRIPT, self.path)
        if check.exit_code != 0:
            raise FaultError(f"disk_full on {self.target}: {check.output.strip()}")
        args = [self.path, str(self.free), FILL]
        self.container.exec_run(["sh", "-c", KEEP_SCRIPT, KEEPER, *args], user="root", detach=True)
        size, avail = self._wait_filled()
        self.record("filled", size=size, free=avail)

    def _wait_filled(self) -> tuple[int, int]:
        """(size, bytes free) once the keeper filled the filesystem down to ``free``."""
        deadline, df = time.monotonic() + FILLED_WITHIN, None
        while time.monotonic() < deadline:
            df = _root(self.cluster, self.target, 'df -B1 --output=size,avail "$1"', self.path)
            numbers = (df.output.strip().splitlines() or [""])[-1].split()
            if len(numbers) == 2 and all(n.isdigit() for n in numbers):
                size, avail = int(numbers[0]), int(numbers[1])
                if avail <= max(self.free, PAGE):
                    return size, avail
            time.sleep(0.2)
        said = df.output.strip() if df else "nothing"
        raise FaultError(f"disk_full on {self.target}: not full after {FILLED_WITHIN:g}s ({said})")

    def _heal(self) -> None:
        if self.target in self.cluster.nodes:  # a node removed meanwhile took its disk along
            empty(self.cluster, self.target, self.path)
        _note(self.cluster, (self.target, self.path), filled=False)

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
        """For a reset: empty every folder a failed heal left filled (on a running node; a
        stopped one is looked at again once it runs)."""
        for pair in _filled(cluster):
            empty(cluster, *pair)
            _note(cluster, pair, filled=False)


def empty(cluster: Cluster, node: str, path: str) -> None:
    """End the keeper of ``path``'s fill and delete the fill."""
    result = _root(cluster, node, EMPTY_SCRIPT, path, FILL, KEEPER)
    if result.exit_code != 0:
        raise FaultError(f"{node}: could not delete the fill in {path}: {result.output.strip()}")


def _note(cluster: Cluster, pair: tuple[str, str], filled: bool) -> None:
    with _GUARD:
        pairs = _FILLED.setdefault(cluster.run_id, set())
        (pairs.add if filled else pairs.discard)(pair)


def _root(cluster: Cluster, node: str, script: str, *args: str) -> runtime.ExecResult:
    return runtime.root_sh(cluster.container(node), script, *args, timeout=30, node=node)


def _filled(cluster: Cluster) -> list[tuple[str, str]]:
    """The (node, folder) pairs filled in this cluster and not yet emptied, on running nodes."""
    with _GUARD:
        pairs = sorted(_FILLED.get(cluster.run_id, set()))
    return [(n, p) for n, p in pairs if n in cluster.nodes and _running(cluster, n)]


def _running(cluster: Cluster, node: str) -> bool:
    return runtime.state(cluster.container(node)) == "running"
