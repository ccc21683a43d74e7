"""A node's processes as the host's /proc shows them: by program name, by role (an Airflow
process of :mod:`testbed.faults.process_roles`) or by a command-line pattern; the node's main
process; their states (a SIGSTOP in force, or not yet). The process faults and the heal audit
read them; Docker's own API sees only the container.
"""

from __future__ import annotations

import os
import re
import time

from testbed.core.errors import FaultError
from testbed.faults.process_roles import AIRFLOW_PROCESSES

STOP_WAIT = 2.0  # seconds a SIGSTOP may take to stop its process on a busy machine


def matching_pids(container, process: str | None = None, cmdline: str | None = None) -> list[int]:
    """Host pids of the node's processes that ``process`` names (an Airflow process role, or a
    program's name, e.g. ``kubelet``) or whose command line ``cmdline`` matches (a regular
    expression, searched); a :class:`FaultError` naming what runs there when none does."""
    container.reload()
    init = container.attrs["State"]["Pid"]
    if process and process not in AIRFLOW_PROCESSES:
        return named_pids(container, process)
    if process:
        out = _role_pids(AIRFLOW_PROCESSES[process], init)
    else:
        pattern = re.compile(cmdline or "")
        out = [p for p in descendants(init) if pattern.search(command_line(p) or "")]
    if not out:
        what = f"process {process!r}" if process else f"process matching {cmdline!r}"
        running = sorted({c for p in descendants(init) if (c := command_line(p))})
        raise FaultError(f"{container.name}: no {what}; running: {'; '.join(running)[:400]}")
    return out


def _role_pids(role, init: int) -> list[int]:
    """The processes of an Airflow process role under the container's init (its main process
    is init's first child)."""
    kids = _children(init)
    if not kids:
        return []
    main = int(kids[0])
    pool = [int(k) for k in _children(main)] if role.child else descendants(init)
    out = []
    for pid in pool:
        title = command_line(pid)
        if title is None or (role.not_titles and title.startswith(role.not_titles)):
            continue
        if role.same_title and title != command_line(main):
            continue
        if role.titles and not title.startswith(role.titles):
            continue
        out.append(pid)
    return out


def command_line(pid: int) -> str | None:
    """A process's command line (argv joined by spaces, or its title if it set one); None if
    it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace").strip()


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


def start_time(pid: int) -> str | None:
    """When the process started (``/proc/<pid>/stat``'s field 22, in clock ticks since boot):
    with the pid, it names one process; a pid reused later has another. None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
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
