"""Process faults on a node: hang (``docker pause`` of the node, or SIGSTOP of its main process
only, which leaves helper processes such as the scheduler's health server alive, or of every
process of a name inside it), kill (SIGKILL, or a gentler signal recorded for
``drained_cleanly``), stop (SIGTERM with a deadline) and restart; and the /proc helpers they and
the heal audit use (a node's processes by name, its main process, their states).
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING, Any

from testbed import runtime
from testbed.core.errors import FaultError
from testbed.faults.base import Fault

if TYPE_CHECKING:
    from testbed.cluster import Cluster

STOP_WAIT = 2.0  # seconds a SIGSTOP may take to stop its process on a busy machine


class Hang(Fault):
    """Freeze a node: ``mode="pause"`` (the whole container) or ``"sigstop"`` (main process);
    with ``process``, SIGSTOP every process of that name inside the node instead (e.g. the
    Kubernetes node's ``kube-apiserver``, ``etcd`` or ``kubelet``: one piece of the control
    plane or the node agent hangs, everything else runs on)."""

    kind = "hang"

    def __init__(
        self,
        cluster: Cluster,
        target: str,
        mode: str | None = None,
        process: str | None = None,
        **kw,
    ) -> None:
        mode = mode or ("sigstop" if process else "pause")
        if mode not in ("pause", "sigstop") or (process and mode != "sigstop"):
            raise FaultError(f"hang mode {mode!r}; allowed: pause, sigstop (sigstop with process)")
        super().__init__(cluster, target, **kw)
        self.mode, self.process = mode, process
        self.pids: list[int] = []

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, **({"process": self.process} if self.process else {})}

    def _inject(self) -> None:
        if self.mode == "pause":
            self.container.pause()
            return
        if self.process:
            self.pids = named_pids(self.container, self.process)
        else:
            self.pids = [main_pid(self.container)]
        for pid in self.pids:
            os.kill(pid, signal.SIGSTOP)
        if left := wait_stopped(self.pids):
            raise FaultError(f"SIGSTOP sent, but pid(s) {left} not stopped after {STOP_WAIT:g}s")
        if self.process:
            self.record("stopped", pids=self.pids)

    def _heal(self) -> None:
        if self.mode == "pause":
            if runtime.state(self.container) == "paused":
                self.container.unpause()
            return
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


def named_pids(container, name: str) -> list[int]:
    """Host pids of the node's processes whose program is ``name`` (argv[0]'s base name)."""
    container.reload()
    out = []
    for pid in descendants(container.attrs["State"]["Pid"]):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv0 = fh.read().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            continue
        if os.path.basename(argv0) == name:
            out.append(pid)
    if not out:
        raise FaultError(f"{container.name}: no process named {name!r}")
    return out


def main_pid(container) -> int:
    """Host pid of the node's main process: the child of the container's init (docker-init)."""
    container.reload()
    init_pid = container.attrs["State"]["Pid"]
    children = [int(p) for p in _children(init_pid)]
    if not children:
        raise FaultError(f"{container.name}: no main process under init pid {init_pid}")
    return children[0]


def _children(pid: int) -> list[str]:
    """The children of every thread of ``pid`` (a Go program, e.g. containerd's shim, forks
    from any of its threads, not only the main one)."""
    try:
        tasks = sorted(os.listdir(f"/proc/{pid}/task"), key=lambda t: t != str(pid))
        out: list[str] = []
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    out += fh.read().split()
            except FileNotFoundError:  # the thread ended meanwhile
                continue
        return out
    except OSError as exc:
        raise FaultError(f"cannot read the process tree of pid {pid}: {exc}") from None


class Kill(Fault):
    """Signal a node: SIGKILL (all its processes) by default; another ``signal`` (TERM, INT,
    QUIT, HUP) goes to its main process through the container's init and is recorded as a
    ``signal`` event (``drained_cleanly`` judges from it). The heal starts the node again unless
    it was replaced; after a gentler signal it first waits, up to ``exit_wait`` seconds, for
    the node to finish what the signal started (a warm shutdown drains its tasks)."""

    kind = "kill"

    def __init__(
        self, cluster: Cluster, target: str, signal: str = "KILL", exit_wait: float = 150, **kw
    ) -> None:
        super().__init__(cluster, target, **kw)
        self.signal, self.exit_wait = signal, exit_wait
        self._started = None  # the signalled container's StartedAt: its run the heal waits on

    def describe(self) -> dict[str, Any]:
        return {} if self.signal == "KILL" else {"signal": self.signal}

    def _inject(self) -> None:
        if self.signal != "KILL":
            self._started = runtime.started_at(self.container)
            self.record_signal(self.signal)
        self.container.kill(signal=f"SIG{self.signal}")

    def record_exit(self) -> None:
        """The node's state once it stopped, with Docker's ``FinishedAt`` (the engine's watcher
        may miss an exit that a heal follows at once, and a heal may look late): a drain's
        time is measured from the signal to ``finished``."""
        c = self.container
        state = runtime.state(c)  # reloads: FinishedAt is fresh
        finished = runtime.docker_time(c.attrs["State"].get("FinishedAt", ""))
        when = {"finished": finished.timestamp()} if finished else {}
        self.cluster.history.append("container", node=self.target, state=state, **when)

    def record_signal(self, sig: str) -> None:
        self.cluster.history.append("signal", node=self.target, signal=sig, fault=self.name)

    def _heal(self) -> None:
        if self.target.startswith("migrate"):
            return  # a one-shot migrator is not restarted: a drill re-runs it as a new node
        if runtime.state(self.container) == "paused":  # frozen by another fault meanwhile
            self.container.unpause()
        if self.signal != "KILL" and not self._exited_within(self.exit_wait):
            self.record("still_running", after_s=self.exit_wait)
            self.container.stop(timeout=10)
        if runtime.state(self.container) != "running":
            self.container.start()

    def _exited_within(self, seconds: float) -> bool:
        """The process the signal went to has exited (the container stopped, or was started
        again since: e.g. by the heal of an earlier signal to the same node)."""
        deadline = time.monotonic() + seconds
        c = self.container
        while runtime.state(c) == "running" and runtime.started_at(c) == self._started:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)
        if runtime.state(c).startswith("exited"):
            self.record_exit()
        return True


class Stop(Kill):
    """Graceful stop: SIGTERM, then SIGKILL after ``deadline`` seconds (docker stop); the
    TERM is recorded as a ``signal`` event like a kill's."""

    kind = "stop"

    def __init__(self, cluster: Cluster, target: str, deadline: float = 30, **kw) -> None:
        super().__init__(cluster, target, **kw)
        self.deadline = deadline

    def describe(self) -> dict[str, Any]:
        return {"deadline": self.deadline}

    def _inject(self) -> None:
        self.record_signal("TERM")
        self.container.stop(timeout=int(self.deadline))
        self.record_exit()


class Restart(Fault):
    kind = "restart"

    def _inject(self) -> None:
        self.container.restart(timeout=10)

    def _heal(self) -> None:
        if runtime.state(self.container) != "running":
            self.container.start()


def stopped_pids(container) -> list[int]:
    container.reload()
    init = container.attrs["State"].get("Pid") or 0
    return [pid for pid in descendants(init) if process_state(pid) == "T"]


def process_state(pid: int) -> str | None:
    """The state letter of ``/proc/<pid>/stat`` (R, S, T, t, Z, ...); None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def wait_stopped(pids: list[int], timeout: float = STOP_WAIT) -> list[int]:
    """The pids still not stopped after up to ``timeout`` seconds. SIGSTOP takes effect when
    the process next runs in the kernel, so on a busy machine /proc shows it running for a
    moment after the signal was sent (a trace stop, t, counts: the stop follows the detach;
    a pid that is gone counts as stopped: its node's state tells the rest)."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if process_state(p) not in ("T", "t", None)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.01)


def descendants(pid: int) -> list[int]:
    if pid <= 0:
        return []
    try:
        kids = [int(k) for k in _children(pid)]
    except FaultError:
        return []
    return kids + [d for k in kids for d in descendants(k)]
