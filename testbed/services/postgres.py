"""Postgres, the metadata database (Debian's package, ``tb-postgres`` entry point).

Also the migration shortcut: after ``airflow db migrate`` ran once on a fresh database, the
Postgres container is committed as ``testbed-pgdata:<airflow tag>--<services tag>``; later boots
start from that snapshot and skip the migration. The role's password is reset per run.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import docker.errors
import psycopg

from testbed import runtime
from testbed.core import bounded
from testbed.core import labels as L
from testbed.readiness import Probe
from testbed.runtime import NodeSpec
from testbed.services import Ctx, pg_idle, secret_file

PORT = 5432


def spec(ctx: Ctx, node: str = "postgres") -> NodeSpec:
    return NodeSpec(
        name=node,
        role="postgres",
        image=ctx.postgres_image,
        command=["tb-postgres"],
        files=dict([secret_file("pg_password", ctx.secrets.pg_password)]),
        ports=[PORT],
        file_uid=0,
    )


def probe(ctx: Ctx, node: str = "postgres") -> Probe:
    def attempt() -> bool:
        cmd = ["pg_isready", "-h", "127.0.0.1", "-p", str(PORT), "-t", "2"]
        return ctx.exec_in(node, cmd, timeout=5).exit_code == 0

    return Probe("pg_isready", attempt, interval=0.3)


# TCP keepalives and a user timeout, so a silent peer is noticed by the socket itself too.
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2}


def connect(ctx: Ctx, timeout: float = 5) -> psycopg.Connection:
    """A host-side connection to the metadata database (autocommit).

    Its timeouts cover connecting and a server that runs a statement too long; a *frozen*
    server (paused, SIGSTOPped) still accepts TCP and never answers, which only a client-side
    deadline catches: use :func:`query` for anything the runner must not wait on forever."""
    return psycopg.connect(
        host="127.0.0.1",
        port=ctx.host_port("postgres", PORT),
        user="airflow",
        password=ctx.secrets.pg_password,
        dbname="airflow",
        connect_timeout=max(2, int(timeout)),
        autocommit=True,
        # a kept connection must not prepare statements on the server: a migration beside the
        # reads may change a column's type, and a prepared plan then fails
        prepare_threshold=None,
        application_name="testbed",  # its sessions, named in pg_stat_activity
        options=f"-c statement_timeout={int(timeout * 1000)}",
        tcp_user_timeout=int(timeout * 1000),
        **KEEPALIVE,
    )


def query(
    ctx: Ctx, sql: str, params: tuple = (), *, timeout: float = 5, key: str | None = None
) -> list[tuple]:
    """One statement, with a hard deadline of ``timeout`` + 1 s: raises
    :class:`~testbed.core.bounded.NoAnswer` (and shuts the socket down, so no thread stays stuck)
    when the server gives no answer. It runs on a connection kept from an earlier statement
    (:mod:`testbed.services.pg_idle`), or a fresh one; a kept one the server has closed since
    is replaced by a fresh one once, within the same deadline (never after it)."""
    held = _Held()

    def run() -> list[tuple]:
        idle_key = (ctx.secrets.pg_password, ctx.host_port("postgres", PORT), timeout)  # per run
        kept = pg_idle.take(idle_key)
        if kept is not None:
            try:
                return _run_on(kept, held, idle_key, sql, params)
            except psycopg.OperationalError:
                if held.aborted or not kept.broken:  # an answer (e.g. statement timeout)
                    raise
        return _run_on(connect(ctx, timeout), held, idle_key, sql, params)

    what = f"postgres: {' '.join(sql.split()[:6])}"
    return bounded.call(run, timeout + 1, what, key=key, abort=held.abort)


def _run_on(conn: psycopg.Connection, held: _Held, idle_key, sql: str, params: tuple) -> list:
    """``sql`` on ``conn``; the connection is kept afterwards only if the statement completed
    before the call's deadline."""
    held.use(conn)
    try:
        cur = conn.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
    except BaseException:
        pg_idle.close(conn)
        raise
    if held.release():
        pg_idle.give(idle_key, conn)
    else:
        pg_idle.close(conn)
    return rows


def transaction(
    ctx: Ctx, statements: list[tuple[str, str]], params: dict, *, timeout: float = 60
) -> dict[str, int]:
    """Named statements in one transaction, each with ``params``, under the same hard deadline
    as :func:`query`; return each one's row count. Each statement's server-side timeout is
    what is left of ``timeout``, so the server stops too when the deadline passes."""
    held = _Held()
    deadline = time.monotonic() + timeout

    def run() -> dict[str, int]:
        counts = {}
        with connect(ctx, timeout) as conn:
            held.use(conn)
            with conn.transaction():
                for name, sql in statements:
                    left_ms = max(1, int((deadline - time.monotonic()) * 1000))
                    conn.execute(f"set local statement_timeout = {left_ms}")
                    counts[name] = conn.execute(sql, params).rowcount
        return counts

    what = f"postgres: {', '.join(name for name, _ in statements)}"
    return bounded.call(run, timeout + 1, what, abort=held.abort)


class _Held:
    """The connection a bounded call is using. Its deadline's ``abort`` shuts that connection's
    socket down from another thread (its blocked read returns), unless the call already handed
    it back to the kept ones; after the abort the call uses no connection again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self.aborted = False

    def use(self, conn: psycopg.Connection) -> None:
        with self._lock:
            if self.aborted:
                pg_idle.close(conn)
                raise TimeoutError("the call's deadline passed")
            self._conn = conn

    def release(self) -> bool:
        """Detach the connection; False if the deadline passed first (it is not to be kept)."""
        with self._lock:
            self._conn = None
            return not self.aborted

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            conn = self._conn
            if conn is None or conn.closed:
                return
            dup = socket.socket(fileno=os.dup(conn.pgconn.socket))
            try:
                dup.shutdown(socket.SHUT_RDWR)
            finally:
                dup.close()


def snapshot_exists(name: str) -> bool:
    try:
        runtime.client().images.get(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def take_snapshot(ctx: Ctx, name: str) -> None:
    """Commit the migrated database (the container pauses for the commit's duration)."""
    repo, tag = name.split(":", 1)
    ctx.container("postgres").commit(
        repository=repo, tag=tag, changes=[f"LABEL {L.KIND}=pgdata"], pause=True
    )
