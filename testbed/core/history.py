"""The run's history: an append-only JSONL event log, the single source of truth of a run.

Every operation, fault, observation and container state change is one event, written as one
JSON line with a sequence number, wall-clock time (``wall``, epoch seconds) and monotonic time
(``mono``, seconds, only comparable within one run). Checkers, verdicts and reports read
events back; nothing else records what happened (the Jepsen way).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PRUNE_EVERY = 500  # appends between two prunings of the in-memory events (see History.retain)


class History:
    """Appends events to ``path`` (one JSON object a line) and reads them back.

    Thread-safe: boot steps run in parallel threads and all write here. The events are also
    kept in memory as written (what the file holds, parsed once): a runner polling its checks
    every second over an hour-long history re-reads nothing. One writer per file (the run's
    cluster, or the scenario's runner); a reader of a finished record reads the file once.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = [json.loads(line) for line in self._lines()]
        self._seq = len(self._events)
        self._retain: tuple[frozenset[str], float] | None = None

    def retain(self, probes: set[str], seconds: float) -> None:
        """Keep the observations of these (periodic) ``probes`` in memory for the last
        ``seconds`` only; the file keeps every one. An hour-long soak's health probes would
        otherwise hold tens of thousands of events in the runner's memory that no check reads
        again (a check's window is shorter than ``seconds``: the caller makes sure)."""
        self._retain = None if seconds == float("inf") else (frozenset(probes), seconds)

    def append(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Record one event of type ``kind`` and return it as written."""
        with self._lock:
            event = {"seq": self._seq, "kind": kind, "wall": time.time(), "mono": time.monotonic()}
            event.update(fields)
            line = json.dumps(event, default=str, sort_keys=False)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
            self._events.append(json.loads(line))  # exactly what a reader of the file gets
            self._seq += 1
            if self._retain is not None and self._seq % PRUNE_EVERY == 0:
                self._prune(*self._retain)
            return event

    def _prune(self, probes: frozenset[str], seconds: float) -> None:
        cutoff = time.monotonic() - seconds
        self._events = [
            e
            for e in self._events
            if e["mono"] >= cutoff or e["kind"] != "observation" or e.get("probe") not in probes
        ]

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """All events so far, in order, optionally only those of one ``kind`` (shallow copies:
        a caller changing one changes nothing here)."""
        with self._lock:
            out = list(self._events)
        return [dict(e) for e in out if kind is None or e["kind"] == kind]

    def snapshot(self) -> list[dict[str, Any]]:
        """The events so far, in order, as stored (no copies: for the runner's checks, which
        poll every second over histories of an hour; the events must not be changed)."""
        with self._lock:
            return list(self._events)

    def _lines(self) -> Iterator[str]:
        if not self.path.exists():
            return iter(())
        return (ln for ln in self.path.read_text(encoding="utf-8").splitlines() if ln.strip())


def load(path: Path) -> list[dict[str, Any]]:
    """Read a history file written by :class:`History`."""
    return History(path).events()
