"""A workload: a DAG triggered every few seconds in the background while a scenario goes on
(e.g. across an upgrade), so the checks judge real traffic, not an idle cluster.

Each run is recorded as a ``trigger`` event named ``<name>-<n>`` (so ``no_task_lost`` judges
it like any other); a trigger the API did not take (e.g. while the api-server is replaced) is
recorded as ``workload`` ``phase="missed"`` — no run was made, so none can be lost. Every call
is bounded; the thread stops at :meth:`stop` or when the scenario is cancelled.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from testbed.core import bounded

TRIGGER_BOUND = 10.0


class Workload:
    def __init__(
        self,
        name: str,
        dag: str,
        every: float,
        conf: dict[str, Any],
        trigger: Callable[[str, dict], str],
        record: Callable[..., Any],
        on_run: Callable[[str, str, str], None],
    ) -> None:
        """``trigger(dag, conf) -> run_id``; ``record(kind, **fields)`` appends to the history;
        ``on_run(name, dag, run_id)`` tells the runner about a new run."""
        self.name, self.dag, self.every, self.conf = name, dag, every, conf
        self._trigger, self._record, self._on_run = trigger, record, on_run
        self._stop = threading.Event()
        self.count = 0
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"workload-{name}")

    def start(self) -> Workload:
        self._record("workload", phase="start", name=self.name, dag=self.dag, every=self.every)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._one()
            self._stop.wait(self.every)

    def _one(self) -> None:
        run_name = f"{self.name}-{self.count + 1}"
        try:
            run_id = bounded.call(
                lambda: self._trigger(self.dag, self.conf), TRIGGER_BOUND, f"workload {run_name}"
            )
        except Exception as exc:  # the API did not take it: no run exists
            error = f"{type(exc).__name__}: {exc}"[:200]
            self._record("workload", phase="missed", name=self.name, run=run_name, error=error)
            return
        self.count += 1
        self._on_run(run_name, self.dag, run_id)
        self._record("trigger", name=run_name, dag_id=self.dag, run_id=run_id, conf=self.conf)

    def stop(self, timeout: float = TRIGGER_BOUND + 2) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._record("workload", phase="stop", name=self.name, runs=self.count)
