"""Bounded calls: a blocking call with a hard deadline, so no caller waits longer than it said.

A testbed for hangs must not hang itself: a frozen Postgres accepts a TCP connection (the kernel
answers for it) and then never replies, and a client library's own timeout may not cover that.
:func:`call` runs the call in a daemon thread and waits at most ``timeout`` seconds; past that it
raises :class:`NoAnswer` (a :class:`TimeoutError`, recorded by probes as "timeout") and leaves
the thread behind, first calling ``abort`` (e.g. shutting the socket down) so the thread ends.

Calls under way are registered, so a step that overran its bound can say what it was waiting
for (:func:`pending`), and a ``key`` keeps a poller from piling up threads on one stuck target:
while the previous call with that key is still under way, the next one is no answer at once.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class NoAnswer(TimeoutError):
    """A bounded call gave no answer within its timeout."""

    def __init__(self, what: str, timeout: float, *, busy: bool = False) -> None:
        self.what, self.timeout = what, timeout
        why = "the previous call is still under way" if busy else f"within {timeout:g}s"
        super().__init__(f"{what}: no answer {why}")


@dataclass
class _Call:
    what: str
    key: str | None
    started: float
    owner: str  # the name of the thread that made the call


_lock = threading.Lock()
_ids = itertools.count()
_calls: dict[int, _Call] = {}


def call(
    fn: Callable[[], T],
    timeout: float,
    what: str,
    *,
    key: str | None = None,
    abort: Callable[[], object] | None = None,
) -> T:
    """Return ``fn()``, or raise NoAnswer after ``timeout`` seconds; ``fn``'s errors propagate."""
    ident = _register(what, key, timeout)
    box: dict[str, object] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc
        finally:
            with _lock:
                _calls.pop(ident, None)
            done.set()

    threading.Thread(target=target, daemon=True, name=f"bounded: {what}"[:60]).start()
    if not done.wait(max(0.0, timeout)):
        if abort is not None:
            try:
                abort()
            except Exception:  # best effort: the thread is abandoned either way
                pass
        raise NoAnswer(what, timeout)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _register(what: str, key: str | None, timeout: float) -> int:
    with _lock:
        if key is not None and any(c.key == key for c in _calls.values()):
            raise NoAnswer(what, timeout, busy=True)
        ident = next(_ids)
        _calls[ident] = _Call(what, key, time.monotonic(), threading.current_thread().name)
        return ident


def pending(owner: str | None = None) -> list[str]:
    """The calls under way (abandoned ones included), oldest first, with how long each waits;
    only those made by the thread named ``owner``, if given."""
    now = time.monotonic()
    with _lock:
        calls = sorted(_calls.values(), key=lambda c: c.started)
    calls = [c for c in calls if owner is None or c.owner == owner]
    return [f"{c.what} (for {now - c.started:.1f}s)" for c in calls]
