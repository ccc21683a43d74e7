"""Readiness as objects (the testcontainers way): what to wait for, one bounded attempt, a poll.

A wait stops early when the container is no longer running (a dead node never becomes ready),
raises :class:`ReadinessTimeout` with the node's state and last log lines when time runs out,
and gives up at once when the boot is cancelled (Ctrl-C, or another role failed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from docker.models.containers import Container

from testbed import runtime
from testbed.core.errors import ReadinessTimeout, TestbedError


class Cancelled(TestbedError):
    """The boot was cancelled while this wait was under way."""


class NeverReady(TestbedError):
    """Raised by a probe that knows the node will never be ready (e.g. its migration Job
    failed): the wait ends at once with this error instead of running out its time."""


@dataclass
class Probe:
    """One readiness check: ``attempt()`` returns truthy when ready; it must bound its own time."""

    what: str  # e.g. "pg_isready", shown in progress lines and errors
    attempt: Callable[[], object]
    interval: float = 0.5


def wait_ready(
    node: str,
    container: Container,
    probe: Probe,
    *,
    timeout: float,
    cancel: threading.Event,
    on_wait: Callable[[str], None] = lambda _msg: None,
) -> float:
    """Poll ``probe`` until it passes; return the seconds waited."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if cancel.is_set():
            raise Cancelled(f"waiting for {node} ({probe.what}) was cancelled")
        state = runtime.state(container)
        if state != "running":
            raise ReadinessTimeout(
                node, probe.what, time.monotonic() - started, state, runtime.logs_tail(container)
            )
        try:
            if probe.attempt():
                return time.monotonic() - started
        except NeverReady:
            raise
        except Exception:  # a failed attempt is "not ready yet"
            pass
        if time.monotonic() >= deadline:
            raise ReadinessTimeout(node, probe.what, timeout, state, runtime.logs_tail(container))
        on_wait(f"{node}: {probe.what}")
        cancel.wait(probe.interval)
