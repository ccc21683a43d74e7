"""When a scenario captures hang diagnostics by itself: a health probe flips from healthy to
unhealthy or silent, or a step fails or overruns its bound. The capture (:mod:`testbed.diagnose`)
runs in its own thread so neither the observer nor the step waits for it; each capture is
recorded as a ``diagnostics`` event beside the scenario's history.

Which node: a ``scheduler_health`` or ``jobs_check`` flip names its node; an ``api_health``
answer names the components it reports unhealthy (scheduler, triggerer, dag-processor), and an
api-server that stops answering is itself the node. A failed step captures the scheduler.
A budget per scenario and one capture per node at a time keep the cost (about 1-2 CPU-seconds
each, measured) from disturbing the drill's own timings.

A node the scenario itself is restarting on purpose (an upgrade rolling it: from its stop to
its readiness, :meth:`AutoDiagnose.planned`) is not captured when it flips: its silence is
explained, and the budget stays for a flip nobody planned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testbed.checks.health import classify

if TYPE_CHECKING:
    from testbed.cluster import Cluster

BUDGET = 4  # captures per scenario
COMPONENT_NODES = {
    "scheduler": "scheduler",
    "triggerer": "triggerer",
    "dag_processor": "dag-processor",
}
HEALTH_PROBES = ("api_health", "scheduler_health", "jobs_check")


def node_states(obs: dict[str, Any]) -> dict[str, str]:
    """What one health observation says of each node: ``healthy``, ``unhealthy`` or
    ``no answer`` (an api_health answer speaks for the api-server and each component)."""
    if obs.get("probe") not in HEALTH_PROBES:
        return {}
    if obs["probe"] != "api_health":
        return {obs["target"]: classify(obs)}
    api = obs.get("target") or "api-server"  # the API's node: on Airflow 2, the webserver
    if obs.get("error"):
        return {api: "no answer"}
    value = obs.get("value") or {}
    states = {api: "healthy"}
    states |= {n: classify(obs, c) for c, n in COMPONENT_NODES.items() if c in value}
    return states


def flipped_nodes(before: dict[str, str], obs: dict[str, Any]) -> list[str]:
    """The nodes ``obs`` shows unhealthy or silent that were healthy in ``before``."""
    now = node_states(obs)
    return [n for n, st in now.items() if st != "healthy" and before.get(n) == "healthy"]


class AutoDiagnose:
    """Feeds on observations (:meth:`saw`) and step failures (:meth:`request`)."""

    def __init__(
        self, cluster: Cluster, folder: Path, capture: Callable[..., dict] | None = None
    ) -> None:
        if capture is None:
            from testbed.diagnose import capture
        self.cluster, self.folder, self._capture = cluster, folder, capture
        self._last: dict[str, dict[str, str]] = {}  # probe -> node -> latest state
        self._busy: set[str] = set()
        self._planned: set[str] = set()  # nodes restarted on purpose right now
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.taken = 0

    def saw(self, obs: dict[str, Any]) -> None:
        probe, states = obs.get("probe", ""), node_states(obs)
        with self._lock:
            before = dict(self._last.get(probe, {}))
            self._last.setdefault(probe, {}).update(states)
        for node in flipped_nodes(before, obs):
            if node in self._planned:
                continue
            self.request(node, f"{probe} of {obs.get('target')}: {node} went {states[node]}")

    @contextmanager
    def planned(self, node: str) -> Iterator[None]:
        """While inside, ``node``'s flips are expected (it is being restarted on purpose)."""
        with self._lock:
            self._planned.add(node)
        try:
            yield
        finally:
            with self._lock:
                self._planned.discard(node)

    def request(self, node: str, reason: str) -> bool:
        """Start a capture of ``node`` unless the budget is spent or one is under way."""
        with self._lock:
            if self.taken >= BUDGET or node in self._busy or not self.cluster.has(node):
                return False
            self.taken += 1
            self._busy.add(node)
        t = threading.Thread(target=self._run, args=(node, reason), daemon=True, name="diagnose")
        self._threads.append(t)
        t.start()
        return True

    def _run(self, node: str, reason: str) -> None:
        try:
            self._capture(self.cluster, node, reason, self.folder)
        except Exception as exc:  # a capture never changes the drill; it is said instead
            self.cluster.history.append(
                "diagnostics", node=node, reason=reason, error=f"{type(exc).__name__}: {exc}"
            )
        finally:
            with self._lock:
                self._busy.discard(node)

    def join(self, timeout: float) -> None:
        """Wait for the captures under way, all together at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
