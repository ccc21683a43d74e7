"""Hang diagnostics: one bounded snapshot of where a node and the database are stuck.

:func:`capture` writes ``<folder>/diagnostics/<node>-<n>/``:

- ``stacks.txt``: ``py-spy dump`` of every Python process of the node (run inside the node as
  the ``airflow`` user, which needs no extra capability), with native frames when py-spy can
  unwind them; ``processes.txt``: the node's ``ps`` listing;
- ``pg_stat_activity.txt`` and ``pg_locks.txt``: every database session and lock, read over a
  host-side connection with connect and statement timeouts (so the DB answers even when one
  component's Toxiproxy link is stalled);
- ``celery_active.txt`` and ``celery_reserved.txt``: ``celery inspect`` run on a worker node;
- ``logs.txt``: the node's last 200 log lines;
- ``summary.json``: what :func:`capture` returns.

Every part runs in its own thread against one deadline: a part that fails or gets no answer is
written as such (``"error: ..."`` or ``"timeout"``) and the others still finish. A paused node
cannot be exec'd into: its state is recorded and the database, Celery and log parts still run.
Captured text never carries the run's secrets (they are replaced by ``***``).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testbed import runtime
from testbed.core.errors import ExecTimeout
from testbed.services import SECRETS_DIR, postgres
from testbed.services.airflow import role_of

if TYPE_CHECKING:
    from testbed.cluster import Cluster

LOG_LINES = 200
GRACE = 1.0  # seconds past the deadline before a part still running is written as "timeout"
PYSPY_TIMEOUT = 8.0  # one process's dump
CELERY_REPLY_TIMEOUT = 4  # seconds `celery inspect` waits for the workers' replies
PYTHON_EXE = re.compile(r"(^|/)python[0-9.]*$")

PS_SCRIPT = (
    "ps -eww -o pid=,ppid=,user=,stat=,etimes=,args=; echo '@@exe'; "
    'for d in /proc/[0-9]*; do echo "${d#/proc/} $(readlink "$d/exe" 2>/dev/null)"; done'
)
# -d names every worker: the command returns as soon as they all replied (else after -t)
CELERY_INSPECT = 'BROKER_URL="$(cat {dir}/broker_url)" celery inspect {what} -t {t} -d {dest}'

ACTIVITY_SQL = (
    "select pid, application_name, client_addr, backend_type, state, wait_event_type, "
    "wait_event, xact_start, query_start, now() - query_start as running_for, "
    "pg_blocking_pids(pid) as blocked_by, left(query, 300) as query "
    "from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() "
    "order by pid"
)
LOCKS_SQL = (
    "select l.pid, l.locktype, l.mode, l.granted, l.relation::regclass::text as relation, "
    "l.transactionid, a.application_name, a.client_addr, a.state, a.wait_event, "
    "now() - a.query_start as running_for, left(a.query, 300) as query "
    "from pg_locks l left join pg_stat_activity a on a.pid = l.pid "
    "where l.pid <> pg_backend_pid() order by l.granted, l.pid"
)


@dataclass(frozen=True)
class Proc:
    """One process of a node, as ``ps`` lists it."""

    pid: int
    ppid: int
    user: str
    stat: str
    etimes: int  # seconds since it started
    args: str
    exe: str = ""  # the executable (/proc/PID/exe), empty when unreadable

    @property
    def is_python(self) -> bool:
        if self.exe:
            return bool(PYTHON_EXE.search(self.exe))
        # exe is unreadable for other users' processes: fall back on the command line
        first = self.args.split(" ", 1)[0]
        return bool(PYTHON_EXE.search(first)) or first.endswith(("/airflow", "/celery"))


def parse_processes(text: str) -> list[Proc]:
    """Parse the output of :data:`PS_SCRIPT` (``ps`` rows, ``@@exe``, then ``pid exe`` rows)."""
    ps_part, _, exe_part = text.partition("@@exe")
    exes: dict[int, str] = {}
    for line in exe_part.splitlines():
        pid, _, exe = line.strip().partition(" ")
        if pid.isdigit():
            exes[int(pid)] = exe.strip()
    procs = []
    for line in ps_part.splitlines():
        cols = line.split(None, 5)
        if len(cols) < 6 or not cols[0].isdigit():
            continue
        pid, ppid, user, stat, etimes, args = cols
        procs.append(
            Proc(int(pid), int(ppid), user, stat, int(etimes or 0), args, exes.get(int(pid), ""))
        )
    return procs


def python_processes(procs: Iterable[Proc], user: str = "airflow") -> list[Proc]:
    """The Python processes py-spy can dump as ``user`` (oldest first: the main one leads)."""
    found = [p for p in procs if p.is_python and p.user in (user, "50000")]
    return sorted(found, key=lambda p: (-p.etimes, p.pid))


def next_folder(base: Path, node: str) -> Path:
    """Create and return ``base/diagnostics/<node>-<n>`` with the next free ``n`` (from 1)."""
    root = base / "diagnostics"
    root.mkdir(parents=True, exist_ok=True)
    taken = [
        int(m.group(1))
        for p in root.iterdir()
        if (m := re.fullmatch(re.escape(node) + r"-(\d+)", p.name))
    ]
    n = max(taken, default=0) + 1
    while True:
        try:
            (root / f"{node}-{n}").mkdir()
            return root / f"{node}-{n}"
        except FileExistsError:  # a concurrent capture took it
            n += 1


def format_table(columns: list[str], rows: Iterable[Iterable[Any]]) -> str:
    """Rows as aligned text (``-`` for NULL), one line each, for a human reading the folder."""
    cells = [columns, *([("-" if v is None else str(v)) for v in row] for row in rows)]
    cells = [[c.replace("\n", " ") for c in row] for row in cells]
    widths = [min(40, max(len(r[i]) for r in cells)) for i in range(len(columns))]
    lines = []
    for row in cells:
        head = [c.ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True)]
        lines.append("  ".join([*head, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"


def redact(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        if value and len(value) >= 6:
            text = text.replace(value, "***")
    return text


def celery_workers(cluster: Cluster) -> list[str]:
    """The Celery workers: nodes on Docker, the Deployments of their pods on Kubernetes."""
    return [n for n in (*cluster.nodes, *cluster.topology.pods) if role_of(n) == "celery-worker"]


def inspect_command(what: str, workers: list[str], *, pods: bool) -> str:
    """``celery inspect WHAT`` addressed to every worker by name, so that it returns as soon as
    they all replied; a worker pod's Celery name is its pod's (``worker-1-<hash>``), which only
    the Kubernetes API knows (and it may be what hangs): there every worker is asked, and the
    command waits out the reply timeout."""
    cmd = CELERY_INSPECT.format(dir=SECRETS_DIR, what=what, t=CELERY_REPLY_TIMEOUT, dest="")
    if pods:
        return cmd.removesuffix(" -d ")
    return cmd + ",".join(f"celery@{n}" for n in workers)


def pick_celery_node(nodes: dict[str, str], target: str) -> str | None:
    """A running worker to run ``celery inspect`` from ({node: state}); the target last."""
    workers = sorted(n for n, st in nodes.items() if role_of(n) == "celery-worker")
    running = [n for n in workers if nodes[n] == "running"]
    running.sort(key=lambda n: n == target)
    return running[0] if running else None


# -- the parts ------------------------------------------------------------------------------


@dataclass
class Part:
    """One sub-capture: a function filling ``out`` (file name -> text) before ``deadline``."""

    name: str
    fn: Callable[[Part], None]
    deadline: float
    out: dict[str, str] = field(default_factory=dict)
    status: str = "timeout"  # until fn returns
    done: threading.Event = field(default_factory=threading.Event)

    def remaining(self, cap: float) -> float:
        return max(0.5, min(cap, self.deadline - time.monotonic()))

    def run(self) -> None:
        try:
            self.fn(self)
            self.status = "ok"
        except (ExecTimeout, TimeoutError):
            self.status = "timeout"
        except Exception as exc:  # every failure is an observation, never a crash
            if "timeout" in str(exc).lower() or "timed out" in str(exc).lower():
                self.status = "timeout"
            else:
                self.status = f"error: {type(exc).__name__}: {exc}"[:300]
        finally:
            self.done.set()


class _Capture:
    def __init__(self, cluster: Cluster, node: str, deadline: float, native: bool) -> None:
        self.cluster, self.node, self.deadline, self.native = cluster, node, deadline, native
        self.state = "unknown"

    # stacks: ps, then py-spy for each Python process, written as far as it got
    def stacks(self, part: Part) -> None:
        if self.state != "running":
            raise RuntimeError(f"node is {self.state}: cannot exec into it, no stacks")
        r = self._exec(["sh", "-c", PS_SCRIPT], part.remaining(5))
        procs = parse_processes(r.output)
        part.out["processes.txt"] = r.output.partition("@@exe")[0]
        targets = python_processes(procs)
        chunks = [f"# py-spy dump of {len(targets)} Python process(es) on {self.node}\n"]
        part.out["stacks.txt"] = "".join(chunks)
        failures = 0
        for p in targets:
            text, ok = self._dump(p, part)
            failures += not ok
            chunks.append(f"\n===== pid {p.pid} (ppid {p.ppid}, {p.stat}): {p.args}\n{text}")
            part.out["stacks.txt"] = "".join(chunks)
        if not targets:
            raise RuntimeError("no Python process found in the node")
        if failures == len(targets):
            raise RuntimeError(f"py-spy could not dump any of {len(targets)} processes")

    def _exec(self, cmd: list[str], timeout: float) -> runtime.ExecResult:
        """As the ``airflow`` user, which needs no extra capability to ptrace its processes."""
        backend = self.cluster.backend
        return backend.diag_exec(self.cluster, self.node, cmd, timeout=timeout, user="airflow")

    def _dump(self, p: Proc, part: Part) -> tuple[str, bool]:
        """py-spy's richest dump that works: with native frames, without, or (a stopped
        process cannot be ptrace-suspended) read without suspending it (``--nonblocking``)."""
        attempts = [["--native"], []] if self.native else [[]]
        notes = []
        if p.stat.startswith("T"):
            attempts = []
            notes.append("(process is stopped (SIGSTOP/T): read with --nonblocking)\n")
        for extra in [*attempts, ["--nonblocking"]]:
            r = self._pyspy(["py-spy", "dump", "--pid", str(p.pid), *extra], part)
            if r is not None and r.exit_code == 0:
                return "".join(notes) + r.output, True
            why = "no answer in time" if r is None else _last_line(r.output) or r.exit_code
            notes.append(f"(py-spy dump {' '.join(extra)} failed: {why})\n")
        return "".join(notes), False

    def _pyspy(self, cmd: list[str], part: Part) -> runtime.ExecResult | None:
        try:
            return self._exec(cmd, part.remaining(PYSPY_TIMEOUT))
        except ExecTimeout:
            return None

    def database(self, part: Part) -> None:
        t = max(2.0, min(5.0, part.deadline - time.monotonic()))
        try:
            with postgres.connect(self.cluster, timeout=t) as conn:
                for fname, sql in (
                    ("pg_stat_activity.txt", ACTIVITY_SQL),
                    ("pg_locks.txt", LOCKS_SQL),
                ):
                    cur = conn.execute(sql)
                    cols = [d.name for d in cur.description or []]
                    part.out[fname] = format_table(cols, cur.fetchall())
        except Exception as exc:
            part.out.setdefault("pg_stat_activity.txt", f"no answer: {exc}\n")
            raise

    def celery(self, what: str) -> Callable[[Part], None]:
        def fn(part: Part) -> None:
            cluster = self.cluster
            states = {n: cluster.backend.state(cluster, n) for n in celery_workers(cluster)}
            worker = pick_celery_node(states, self.node)
            fname = f"celery_{what}.txt"
            if worker is None:
                part.out[fname] = "no running worker node to run `celery inspect` from\n"
                raise RuntimeError("no running worker node")
            cmd = inspect_command(what, list(states), pods=bool(cluster.topology.pods))
            r = cluster.backend.diag_exec(  # a container, or a pod through containerd
                cluster, worker, ["sh", "-c", cmd], timeout=part.remaining(CELERY_REPLY_TIMEOUT + 8)
            )
            part.out[fname] = f"# `celery inspect {what}` run on {worker}\n{r.output}"
            if r.exit_code != 0:
                raise RuntimeError(f"celery inspect {what} exited {r.exit_code}")

        return fn

    def logs(self, part: Part) -> None:
        lines = self.cluster.backend.output_tail(self.cluster, self.node, LOG_LINES)
        part.out["logs.txt"] = "\n".join(lines) + "\n"


def capture(
    cluster: Cluster,
    node: str,
    reason: str,
    folder: Path,
    *,
    timeout: float = 20,
    native: bool = True,
) -> dict:
    """Capture hang diagnostics of ``node`` into ``folder/diagnostics/<node>-<n>/``.

    Args:
        cluster: a running (or attached) cluster.
        node: the node to look at, e.g. ``"scheduler"``.
        reason: why (e.g. "step wait overran 90s"); written into the summary.
        folder: a run or scenario record folder.
        timeout: the whole capture's bound in seconds; returns at most ~1 s later.
        native: ask py-spy for native frames too (falls back per process, saying why).

    Returns:
        ``{node, reason, path (relative to folder), state, took_seconds, parts}`` where
        ``parts`` maps each part (stacks, database, celery_active, celery_reserved, logs) to
        ``"ok"``, ``"timeout"`` or ``"error: ..."``. Never raises for a part that fails.
    """
    t0 = time.monotonic()
    deadline = t0 + timeout
    out_dir = next_folder(Path(folder), node)
    cap = _Capture(cluster, node, deadline, native)
    state = cluster.backend.state
    cap.state = _bounded(lambda: state(cluster, node), min(5, timeout), "?")
    fns: dict[str, Callable[[Part], None]] = {"stacks": cap.stacks, "database": cap.database}
    if celery_workers(cluster):
        fns["celery_active"] = cap.celery("active")
        fns["celery_reserved"] = cap.celery("reserved")
    fns["logs"] = cap.logs
    parts = [Part(name, fn, deadline) for name, fn in fns.items()]
    for part in parts:
        threading.Thread(target=part.run, daemon=True, name=f"diagnose-{part.name}").start()
    for part in parts:
        part.done.wait(max(0.0, deadline + GRACE - time.monotonic()))
    summary = {
        "node": node,
        "reason": reason,
        "path": str(out_dir.relative_to(folder)),
        "state": cap.state,
        "took_seconds": 0.0,
        "parts": {},
    }
    secrets = list(vars(cluster.secrets).values()) if cluster.secrets else []
    for part in parts:
        status = part.status if part.done.is_set() else "timeout"
        summary["parts"][part.name] = status
        files = dict(part.out)  # a snapshot: a late thread may still be adding
        for fname, text in files.items():
            suffix = "" if status == "ok" else f"\n# part {part.name}: {status}\n"
            (out_dir / fname).write_text(redact(text + suffix, secrets))
        if not files:
            (out_dir / f"{part.name}.txt").write_text(f"# part {part.name}: {status}\n")
    stacks = out_dir / "stacks.txt"
    summary["main_frames"] = main_frames(stacks.read_text()) if stacks.exists() else {}
    summary["took_seconds"] = round(time.monotonic() - t0, 3)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    cluster.history.append("diagnostics", **summary)
    return summary


def main_frames(stacks: str, limit: int = 60) -> dict[str, list[str]]:
    """The MainThread frames (innermost first, named frames only) of each process in a
    ``stacks.txt``, keyed by the process's command line: what a check over the history can
    match without reading files."""
    out: dict[str, list[str]] = {}
    proc, frames = None, None
    for line in stacks.splitlines():
        if line.startswith("===== pid "):
            proc, frames = line.split(": ", 1)[-1].strip(), None
        elif line.startswith("Thread "):
            frames = out.setdefault(proc or "?", []) if '"MainThread"' in line else None
        elif frames is not None and line.startswith("    "):
            frame = line.strip()
            if not frame.startswith("0x") and len(frames) < limit:
                frames.append(frame)
    return out


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _bounded(fn: Callable[[], str], timeout: float, default: str) -> str:
    """``fn()`` in a thread; ``default`` when it raises or does not return within timeout."""
    box: list[str] = []
    t = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    t.start()
    t.join(timeout)
    return box[0] if box else default
