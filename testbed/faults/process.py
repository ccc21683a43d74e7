"""Process faults on a node: hang (``docker pause`` of the node, or SIGSTOP of its main process
only, which leaves helper processes such as the scheduler's health server alive, or of the
processes a ``process`` or ``cmdline`` names inside it), kill (SIGKILL, or a gentler signal
recorded for ``drained_cleanly``; or a signal to the named processes only), stop (SIGTERM with
a deadline) and restart. The /proc helpers they use are :mod:`testbed.faults.proc`.
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING, Any

from testbed import runtime
from testbed.core.errors import FaultError
from testbed.faults.base import Fault
from testbed.faults.proc import (
    STOP_WAIT,
    command_line,
    main_pid,
    matching_pids,
    process_state,
    start_time,
    wait_stopped,
)

if TYPE_CHECKING:
    from testbed.cluster import Cluster


class Hang(Fault):
    """Freeze a node: ``mode="pause"`` (the whole container) or ``"sigstop"`` (main process);
    with ``process`` or ``cmdline``, SIGSTOP only the processes they name inside the node (an
    Airflow process such as the triggerer's ``trigger-runner``, a Kubernetes node's
    ``kube-apiserver``, or a command-line pattern): one piece hangs, everything else runs on.
    The heal resumes exactly the processes it stopped."""

    kind = "hang"

    def __init__(
        self,
        cluster: Cluster,
        target: str,
        mode: str | None = None,
        process: str | None = None,
        cmdline: str | None = None,
        **kw,
    ) -> None:
        named = process or cmdline
        mode = mode or ("sigstop" if named else "pause")
        if mode not in ("pause", "sigstop") or (named and mode != "sigstop"):
            raise FaultError(f"hang mode {mode!r}; allowed: pause, sigstop (sigstop with process)")
        super().__init__(cluster, target, **kw)
        self.mode, self.process, self.cmdline = mode, process, cmdline
        self.pids: list[int] = []
        self._starts: dict[int, str | None] = {}

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode, **_named(self.process, self.cmdline)}

    def _inject(self) -> None:
        if self.mode == "pause":
            self.container.pause()
            return
        named = self.process or self.cmdline
        if named:
            self.pids = matching_pids(self.container, self.process, self.cmdline)
            titles = [command_line(p) for p in self.pids]
        else:
            self.pids = [main_pid(self.container)]
        self.pids = [p for p in self.pids if process_state(p) not in ("T", "t")]  # not another's
        self.pids = [p for p in self.pids if _signal(p, signal.SIGSTOP)]  # gone meanwhile: not ours
        self._starts = {p: start_time(p) for p in self.pids}  # the heal resumes these, no other
        if left := wait_stopped(self.pids):
            raise FaultError(f"SIGSTOP sent, but pid(s) {left} not stopped after {STOP_WAIT:g}s")
        if named:
            self.record("stopped", pids=self.pids, processes=titles)

    def _heal(self) -> None:
        if self.mode == "pause":
            if runtime.state(self.container) == "paused":
                self.container.unpause()
            return
        for pid in self.pids:
            if start_time(pid) != self._starts.get(pid):
                continue  # gone (e.g. its node restarted), the pid maybe reused: not ours
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


class Kill(Fault):
    """Signal a node: SIGKILL (all its processes) by default; another ``signal`` (TERM, INT,
    QUIT, HUP) goes to its main process through the container's init and is recorded as a
    ``signal`` event (``drained_cleanly`` judges from it). The heal starts the node again unless
    it was replaced; after a gentler signal it first waits, up to ``exit_wait`` seconds, for
    the node to finish what the signal started (a warm shutdown drains its tasks). With
    ``process`` or ``cmdline`` the signal goes to those processes only (recorded as
    ``signalled``) and the node runs on; the heal starts it only if it stopped."""

    kind = "kill"

    def __init__(
        self,
        cluster: Cluster,
        target: str,
        signal: str = "KILL",
        exit_wait: float = 150,
        process: str | None = None,
        cmdline: str | None = None,
        **kw,
    ) -> None:
        super().__init__(cluster, target, **kw)
        self.signal, self.exit_wait = signal, exit_wait
        self.process, self.cmdline = process, cmdline
        self._started = None  # the signalled container's StartedAt: its run the heal waits on

    def describe(self) -> dict[str, Any]:
        sig = {} if self.signal == "KILL" else {"signal": self.signal}
        return {**sig, **_named(self.process, self.cmdline)}

    def _inject(self) -> None:
        if self.process or self.cmdline:
            self._signal_processes()
            return
        if self.signal != "KILL":
            self._started = runtime.started_at(self.container)
            self.record_signal(self.signal)
        self.container.kill(signal=f"SIG{self.signal}")

    def _signal_processes(self) -> None:
        """The signal to the named processes only (the node runs on; what their parent does
        about it, e.g. Celery replacing a pool child, is the drill's to judge)."""
        pids = matching_pids(self.container, self.process, self.cmdline)
        titles = [command_line(p) for p in pids]
        for pid in pids:
            _signal(pid, getattr(signal, f"SIG{self.signal}"))
        self.record("signalled", signal=self.signal, pids=pids, processes=titles)

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
        if (self.process or self.cmdline) and runtime.state(self.container) in (
            "running",
            "paused",
        ):
            return  # the processes signalled are gone; their node runs on (or another froze it)
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


def _signal(pid: int, sig: int) -> bool:
    """Send ``sig``; False if the process is gone (it ended between being found and now)."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def _named(process: str | None, cmdline: str | None) -> dict[str, str]:
    return {"process": process} if process else {"cmdline": cmdline} if cmdline else {}
