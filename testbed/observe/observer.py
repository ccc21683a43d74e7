"""The background observer: an :class:`Observer` thread polls a set of probes at a fixed
interval while a scenario runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from testbed.observe import core


class Observer:
    """Polls each of ``probes`` every ``interval`` seconds, each in its own background thread
    (a probe stuck on a hung endpoint does not delay the others), until stopped."""

    def __init__(self, probes: list[Callable[[], Any]], interval: float = 0.5) -> None:
        self.probes, self.interval = probes, interval
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(p,), daemon=True, name=f"observer-{i}")
            for i, p in enumerate(probes)
        ]

    def _loop(self, probe: Callable[[], Any]) -> None:
        while not self._stop.is_set():
            probe()
            self._stop.wait(self.interval)

    def __enter__(self) -> Observer:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        """Stop; wait for the probes under way, all together at most one probe's deadline
        (a probe stuck past it is abandoned: its thread is a daemon and records nothing new)."""
        self._stop.set()
        deadline = time.monotonic() + core.PROBE_TIMEOUT + core.DEADLINE_SLACK + self.interval
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
