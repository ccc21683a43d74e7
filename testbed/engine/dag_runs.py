"""The run verbs of the scenario engine: ``trigger`` a DAG run and ``wait`` for a run (or one of
its tasks) to reach a state, for the :class:`~testbed.engine.Runner` (whose step verbs of the
same names forward here). Every API call has its own deadline (``API_BOUND`` within a wait).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from testbed.api import TERMINAL_RUN_STATES, AirflowAPI
from testbed.checks import View
from testbed.core import bounded
from testbed.core.history import History
from testbed.engine.steps_bound import StepFailed

API_BOUND = 5.0  # one API call inside a wait


class DagRuns:
    """Triggers DAG runs (each recorded under its step's name) and waits for their states; each
    verb runs in the runner's step scope (``step``)."""

    def __init__(
        self,
        history: History,
        cancelled: threading.Event,
        step: Callable[..., AbstractContextManager],
        *,
        api: Callable[[], AirflowAPI],
        runs: Callable[[], dict[str, tuple[str, str]]],
    ) -> None:
        """``api`` and ``runs``: the runner's API client and triggered runs now (trigger name
        -> (dag_id, run_id)), read afresh at each use."""
        self.history, self.cancelled, self._step = history, cancelled, step
        self._api, self._runs = api, runs

    def trigger(self, name: str, dag: str, conf: dict | None = None, timeout: float = 120) -> str:
        """Trigger a run of ``dag`` once the dag-processor has it; at most ``timeout`` seconds."""
        with self._step("trigger", name, dag=dag, timeout=timeout):
            deadline = time.monotonic() + timeout
            parsed = max(1.0, timeout - 2 * API_BOUND)
            bounded.call(
                lambda: self._api().wait_for_dag(dag, timeout=parsed),
                timeout,
                f"api: is DAG {dag} parsed yet",
            )
            if self.cancelled.is_set():
                raise StepFailed("cancelled before the run was triggered")
            bound = max(1.0, deadline - time.monotonic())
            run_id = bounded.call(
                lambda: self._api().trigger(dag, conf), bound, f"api: trigger {dag}"
            )
            self._runs()[name] = (dag, run_id)
            self.history.append("trigger", name=name, dag_id=dag, run_id=run_id, conf=conf or {})
            return run_id

    def wait(self, run: str, state: str, timeout: float, task: str | None = None) -> None:
        """Wait until the run (or one of its tasks) is in ``state``; fail the step otherwise."""
        with self._step("wait", run, state=state, task=task, timeout=timeout):
            deadline = time.monotonic() + timeout
            seen = None
            while time.monotonic() < deadline and not self.cancelled.is_set():
                seen = self._state(run, task, deadline)
                if seen == state:
                    return
                if task is None and seen in TERMINAL_RUN_STATES:
                    break
                self.cancelled.wait(0.5)
            what = f"task {task} of run {run}" if task else f"run {run}"
            raise StepFailed(f"{what} is {seen}, not {state}, after {timeout:g}s")

    def _state(self, run: str, task: str | None, deadline: float) -> str | None:
        """The run's state from the API, or the task's latest observed state (None: unknown)."""
        if task is None:
            bound = max(0.5, min(API_BOUND, deadline - time.monotonic()))
            try:
                return bounded.call(
                    lambda: self._api().run_state(*self._runs()[run]),
                    bound,
                    f"api: state of run {run}",
                )
            except Exception:  # no answer yet is "unknown", the wait goes on
                return None
        values = View(self.history.snapshot()).task(run, task)
        return values[-1]["state"] if values else None
