"""The kept connections of the testbed's database reads: which are kept, which are closed."""

from __future__ import annotations

import socket

import pytest

from testbed.services import pg_idle
from testbed.services.postgres import _Held


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


class Sock:
    def __init__(self, fileno: int) -> None:
        self.socket = fileno


class SocketConn(Conn):
    """A stand-in whose "server link" is one end of a socket pair."""

    def __init__(self) -> None:
        super().__init__()
        self.mine, self.server = socket.socketpair()
        self.pgconn = Sock(self.mine.fileno())

    def link_up(self) -> bool:
        try:
            self.mine.send(b"x")
            return self.server.recv(1) == b"x"
        except OSError:
            return False


def test_a_deadline_shuts_the_link_of_the_connection_in_use_and_ends_the_call():
    held, conn = _Held(), SocketConn()
    held.use(conn)
    held.abort()
    assert not conn.link_up()  # the blocked read returns
    assert held.release() is False  # so it is closed, not kept
    late = Conn()
    with pytest.raises(TimeoutError):
        held.use(late)  # no fresh connection after the deadline
    assert late.closed


def test_a_connection_handed_back_before_the_deadline_is_left_alone():
    held, conn = _Held(), SocketConn()
    held.use(conn)
    assert held.release() is True
    held.abort()  # the deadline passes after the hand-back: another call may be using it
    assert conn.link_up()
