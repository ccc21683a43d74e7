"""A node's clock, off the host's: containers share the host's clock and cannot set their own,
so a node's processes read time through libfaketime (``LD_PRELOAD``; the services and the
Airflow images link it at :data:`LIBRARY`). Monotonic clocks stay true, as under a real clock
step (timeouts and latches keep working).

Two ways, both pure environment:

- :func:`fixed_env`: a node started ``offset`` seconds off (``clock_skew``);
- :func:`movable_env`: a node started on the true time whose running processes follow
  :data:`OFFSET_FILE` (``clock_jump``): writing ``+300`` there steps the node's clock 5 min
  ahead within :data:`REREAD` s, as an NTP step would; no file, or ``+0``, is the true time
  (an empty file is not: a running process keeps the offset it read last).
"""

from __future__ import annotations

LIBRARY = "/usr/local/lib/libfaketime.so.1"
OFFSET_FILE = "/etc/testbed-clock-offset"  # root's: the node's own user cannot move its clock
REREAD = 1  # seconds a process keeps an offset it read before it reads the file again


def _common() -> dict[str, str]:
    return {
        "LD_PRELOAD": LIBRARY,
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        # no shared state between processes: a root entry point's semaphore would hang every
        # process it starts as another user (Postgres' postmaster, in a futex, before its
        # first log line)
        "FAKETIME_DISABLE_SHM": "1",
    }


def fixed_env(offset: float) -> dict[str, str]:
    """Every process of the node ``offset`` seconds off (negative: behind), from its start."""
    return {**_common(), "FAKETIME": offset_text(offset)}


def movable_env() -> dict[str, str]:
    """Every process of the node on the offset in :data:`OFFSET_FILE` (none: the true time)."""
    return {
        **_common(),
        "FAKETIME_TIMESTAMP_FILE": OFFSET_FILE,
        "FAKETIME_CACHE_DURATION": str(REREAD),
    }


def offset_text(offset: float) -> str:
    """libfaketime's relative form: ``+300``, ``-60`` (whole seconds)."""
    return f"{round(offset):+d}"
