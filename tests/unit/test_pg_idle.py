"""The kept connections of the testbed's database reads: which are kept, which are closed."""

from __future__ import annotations

import pytest

from testbed.services import pg_idle


class Conn:
    """What pg_idle reads of a psycopg connection: closed, broken, close()."""

    def __init__(self, broken: bool = False) -> None:
        self.closed, self.broken = False, broken

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def empty():
    pg_idle._idle.clear()
    yield
    pg_idle._idle.clear()


def test_a_kept_connection_is_taken_once_and_only_for_its_key():
    a = Conn()
    pg_idle.give(("pw", 1, 3.0), a)
    assert pg_idle.take(("pw", 1, 5.0)) is None  # another timeout: another key
    assert pg_idle.take(("pw", 1, 3.0)) is a
    assert pg_idle.take(("pw", 1, 3.0)) is None


def test_broken_or_closed_connections_are_not_kept():
    pg_idle.give(("pw", 1, 3.0), Conn(broken=True))
    closed = Conn()
    closed.close()
    pg_idle.give(("pw", 1, 3.0), closed)
    assert pg_idle.take(("pw", 1, 3.0)) is None


def test_past_the_limit_the_oldest_is_closed(monkeypatch):
    monkeypatch.setattr(pg_idle, "LIMIT", 2)
    conns = [Conn(), Conn(), Conn()]
    for i, conn in enumerate(conns):
        pg_idle.give(("pw", i, 3.0), conn)
    assert conns[0].closed and not conns[1].closed and not conns[2].closed
    assert pg_idle.take(("pw", 0, 3.0)) is None
    assert pg_idle.take(("pw", 2, 3.0)) is conns[2]


def test_one_idle_too_long_is_closed_not_used(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(pg_idle.time, "monotonic", lambda: now[0])
    old = Conn()
    pg_idle.give(("pw", 1, 3.0), old)
    now[0] += pg_idle.MAX_IDLE + 1
    assert pg_idle.take(("pw", 1, 3.0)) is None and old.closed
