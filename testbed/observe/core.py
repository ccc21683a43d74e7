"""The probe primitive: one bounded look at the cluster, recorded in the history as an observation.

A probe that gets no answer within its timeout records ``error="timeout"`` (Jepsen's unknown
outcome): an observation, never a crash. Every probe runs under a hard deadline
(:mod:`testbed.core.bounded`), whatever its client library does, and a probe whose previous call on
the same target is still stuck is "timeout" at once (no pile-up of threads on a frozen node).

The probes' modules read :data:`PROBE_TIMEOUT` and :data:`DEADLINE_SLACK` from here when they
run (``core.PROBE_TIMEOUT``), so setting them here sets them for every probe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg
import requests

from testbed.core import bounded
from testbed.core.errors import ExecTimeout

if TYPE_CHECKING:
    from testbed.cluster import Cluster

PROBE_TIMEOUT = 3.0
DEADLINE_SLACK = 2.0  # a probe's hard deadline: its own timeout plus this


def observe(
    cluster: Cluster, probe: str, target: str, fn: Callable[[], Any], timeout: float = PROBE_TIMEOUT
) -> dict:
    """Run one probe under a hard deadline; record its value, or "timeout", or the error."""
    try:
        thread = threading.current_thread().name  # the observer's and a gather's never collide
        what, key = f"{probe} probe of {target}", f"{cluster.run_id}:{probe}:{target}:{thread}"
        value, error = bounded.call(fn, timeout + DEADLINE_SLACK, what, key=key), None
    except Exception as exc:  # any failure is an observation too
        value, error = None, describe_error(exc)
    return cluster.history.append(
        "observation", probe=probe, target=target, value=value, error=error
    )


def describe_error(exc: Exception) -> str:
    """ "timeout" for no answer (whichever library said so), "connection: ..." for a refused or
    reset connection, else the error's type and text."""
    if isinstance(
        exc, requests.Timeout | ExecTimeout | TimeoutError | psycopg.errors.ConnectionTimeout
    ):
        return "timeout"
    if isinstance(exc, requests.ConnectionError):
        return f"connection: {type(exc).__name__}"
    return f"{type(exc).__name__}: {exc}"[:300]
