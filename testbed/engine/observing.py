"""What the engine observes throughout a scenario, in the background: the standard probes (health,
scheduler jobs, task instances, container states, logs of settled runs) polled by an
:class:`~testbed.observe.observer.Observer`.

:class:`Observations` reads the task instances of every run that has not settled yet (a run
whose task instances all ended is not read again, unless a restored database may hold older
states: :meth:`Observations.unsettle`) and records every node's container state when it changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from testbed import observe, runtime
from testbed.api import TERMINAL_RUN_STATES
from testbed.autodiagnose import AutoDiagnose
from testbed.checks.view import TERMINAL_TI_STATES
from testbed.cluster import Cluster
from testbed.core import bounded
from testbed.logwatch import Attempt, LogWatch


class Observations:
    """The observer and the state of its run and container probes."""

    def __init__(
        self,
        cluster: Cluster,
        runs: Callable[[], dict[str, tuple[str, str]]],
        logs: LogWatch,
        autodiag: AutoDiagnose,
        probes: list[Callable[[], Any]] | None,
        interval: float,
    ) -> None:
        """``runs``: the runner's triggered runs now; ``probes``: the observer's (None: the
        standard ones)."""
        self.cluster, self.history, self._runs, self.logs = cluster, cluster.history, runs, logs
        # runs whose task instances all ended: not read again (they cannot change unless the
        # database is restored); their logs go to the log watch when ``watch_logs`` is set
        self._settled: set[tuple[str, str]] = set()
        self._settle_lock = threading.Lock()  # the observer and a check's gather both settle
        self._generation = 0  # bumped by a restore: a read from before it settles nothing
        self.watch_logs = False  # set when a check will want every run's logs (execute)
        if probes is None:
            probes = [
                lambda: autodiag.saw(observe.api_health(cluster)),
                lambda: self._scheduler_health(autodiag),
                lambda: observe.scheduler_jobs(cluster),
                self.observe_runs,
                self.watch_containers,
                lambda: self.logs.background() if self.watch_logs else None,
            ]
        self._states: dict[str, str] = {}
        self.observer = observe.Observer(probes, interval=interval)

    def _scheduler_health(self, autodiag: AutoDiagnose) -> None:
        """The scheduler's health endpoint; an Airflow 2 scheduler runs none (its liveness is
        the job table's heartbeat, read by ``scheduler_jobs``)."""
        if self.cluster.topology.scheduler_health_served:
            autodiag.saw(observe.scheduler_health(self.cluster, "scheduler"))

    def start(self) -> None:
        self.observer.__enter__()

    def stop(self) -> None:
        self.observer.__exit__()

    def observe_runs(self) -> None:
        """Read the task instances of every run that has not settled yet."""
        for dag_id, run_id in list(self._runs().values()):
            if (dag_id, run_id) in self._settled:
                continue
            generation = self._generation
            rows = [r.get("value") for r in observe.task_instances(self.cluster, dag_id, run_id)]
            if not rows or not all(v and v["state"] in TERMINAL_TI_STATES for v in rows):
                continue
            with self._settle_lock:
                if generation != self._generation or (dag_id, run_id) in self._settled:
                    continue
                self._settled.add((dag_id, run_id))
            if self.watch_logs:
                self.logs.settled(finished_attempts(rows))

    def unsettle(self) -> None:
        """Read every run again (a restored database may hold older task states)."""
        with self._settle_lock:
            self._generation += 1
            self._settled.clear()

    def watch_containers(self) -> None:
        """Record every node's container state when it changes (running, paused, exited...),
        from one list call; a node the list missed (added meanwhile) is inspected alone."""
        run = self.cluster.run_id
        try:
            seen = bounded.call(
                lambda: runtime.states(run), 10, "container states", key=f"st:{run}"
            )
        except bounded.NoAnswer:
            seen = None  # the engine did not say: recorded as such
        except Exception:  # the engine failed the list: this round says nothing
            return
        for node, c in list(self.cluster.nodes.items()):
            state = "no answer" if seen is None else seen.get(c.id) or self._inspect(node, c)
            if self._states.get(node) != state:
                self._states[node] = state
                self.history.append("container", node=node, state=state)

    @staticmethod
    def _inspect(node: str, c: Any) -> str:
        try:
            return bounded.call(
                lambda: runtime.state(c), 10, f"container state of {node}", key=f"st:{c.id}"
            )
        except bounded.NoAnswer:
            return "no answer"
        except Exception:  # removed meanwhile
            return "gone"


def finished_attempts(rows: list[dict]) -> list[Attempt]:
    """Every attempt of every task instance among ``rows`` that ended success or failed."""
    return [
        (v["dag_id"], v["run_id"], v["task_id"], n, v.get("map_index", -1))
        for v in rows
        if v["state"] in TERMINAL_RUN_STATES
        for n in range(1, v["try_number"] + 1)
    ]
