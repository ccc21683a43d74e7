"""Idle host-side connections to a cluster's metadata database, kept for the next statement.

The observer reads the database twice a second per unsettled run. A fresh connection per read
cost ~13 CPU-ms (a backend forked, SCRAM on both sides: 5.5 in the testbed, 7.7 in Postgres,
measured); a kept one ~0.15. Only a connection whose statement completed is kept: one that
failed or was shut down by a deadline is closed. A kept one that the server has closed
meanwhile (a restarted or replaced Postgres, a terminated backend) is noticed by its first use
(:func:`testbed.services.postgres.query` then retries once on a fresh one). At most
:data:`LIMIT` are kept in all, and one idle longer than :data:`MAX_IDLE` is closed, not used.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict

import psycopg

LIMIT = 16
MAX_IDLE = 60.0
Key = tuple[str, int, float]  # (the run's database password, host port, timeout)

_lock = threading.Lock()
_idle: OrderedDict[int, tuple[Key, psycopg.Connection, float]] = OrderedDict()
_inherited: list[psycopg.Connection] = []  # a forked child's copies: never used, never closed


def take(key: Key) -> psycopg.Connection | None:
    """An idle connection kept for ``key`` (the most recently returned), or None."""
    stale, found = [], None
    with _lock:
        now = time.monotonic()
        for ident, (k, _conn, since) in reversed(list(_idle.items())):
            if now - since > MAX_IDLE:
                stale.append(_idle.pop(ident)[1])
            elif found is None and k == key:
                found = _idle.pop(ident)[1]
    for conn in stale:
        close(conn)
    return found


def give(key: Key, conn: psycopg.Connection) -> None:
    """Keep ``conn`` for the next statement of ``key``; the oldest kept one goes past LIMIT."""
    if conn.closed or conn.broken:
        return
    with _lock:
        _idle[id(conn)] = (key, conn, time.monotonic())
        over = [_idle.popitem(last=False)[1][1] for _ in range(max(0, len(_idle) - LIMIT))]
    for old in over:
        close(old)


def close(conn: psycopg.Connection) -> None:
    try:
        conn.close()
    except Exception:  # closing a dead socket: nothing left to do
        pass


def _after_fork() -> None:
    """A forked child must not use the parent's sockets, nor close them (closing sends the
    server a Terminate, which would end the parent's session): it keeps them, unused."""
    global _lock
    _lock = threading.Lock()  # a thread of the parent may have held it at the fork
    _inherited.extend(conn for _, conn, _ in _idle.values())
    _idle.clear()


os.register_at_fork(after_in_child=_after_fork)
