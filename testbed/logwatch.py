"""Remote-log observation that stays cheap over hundreds of runs (a soak, a chaos run).

An attempt's log is looked for with one MinIO listing per run (not one request per attempt),
and once it is confirmed (in MinIO and, when asked, served by the API) it is never looked for
again: a log object does not disappear. Runs whose task instances all ended can be handed over
as they settle (:meth:`LogWatch.settled`); the observer thread then looks at their logs in the
background, a few seconds later (a task is marked success before its log is uploaded), so the
final ``remote_logs_all`` of an hour-long run has only the last runs left to look at.

Each observation is a ``remote_log`` event: ``value`` = {key, present, dag_id, run_id, task_id,
try_number, map_index, api_readable (when present)}; an attempt's same answer is not recorded
twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from testbed import airflow_config as AC
from testbed.core import bounded
from testbed.observe.core import DEADLINE_SLACK, PROBE_TIMEOUT, describe_error
from testbed.services import minio

if TYPE_CHECKING:
    from testbed.cluster import Cluster

Attempt = tuple[str, str, str, int, int]  # dag_id, run_id, task_id, try_number, map_index
UPLOAD_GRACE = 5.0  # seconds after a run settled before its logs are looked for
RECHECK = 10.0  # a missing log is looked for again after this, then twice as long each time
RECHECKS = 5  # background looks at a run's missing logs after the first (the final check
# looks once more): a log that never comes (a killed worker's) costs five listings, not one
# every few seconds for the rest of an hour


class LogWatch:
    """Observes attempts' remote logs for one scenario's history (thread-safe)."""

    def __init__(self, cluster: Cluster, api_text: Callable[..., str]) -> None:
        self.cluster = cluster
        self.history = cluster.history  # this scenario's: a late pass never writes elsewhere
        self.api_text = api_text  # (dag_id, run_id, task, try_number, map_index) -> log text
        self._lock = threading.Lock()
        self._confirmed: set[Attempt] = set()
        self._last: dict[Attempt, dict] = {}  # the last value recorded per attempt
        # (dag_id, run_id) -> (when, background looks so far, attempts)
        self._due: dict[tuple[str, str], tuple[float, int, list[Attempt]]] = {}

    def settled(self, attempts: list[Attempt]) -> None:
        """Look at these attempts' logs in the background, once the upload had time."""
        with self._lock:
            when = time.monotonic() + UPLOAD_GRACE
            for a in attempts:
                self._due.setdefault((a[0], a[1]), (when, 0, []))[2].append(a)

    def background(self) -> None:
        """One pass of the observer thread: the runs that are due, one listing each."""
        now = time.monotonic()
        with self._lock:
            due = [(k, v[1], v[2]) for k, v in self._due.items() if v[0] <= now]
            for k, _, _ in due:
                del self._due[k]
        for run, looks, attempts in due:
            left = self.observe(attempts)
            if left and looks < RECHECKS:  # not there yet (or no answer): again, later
                with self._lock:
                    when = time.monotonic() + RECHECK * 2**looks
                    self._due[run] = (when, looks + 1, left)

    def observe(self, attempts: Iterable[Attempt], deadline: float | None = None) -> list[Attempt]:
        """Record a ``remote_log`` observation of every attempt not confirmed yet; return those
        still not confirmed. No new listing or API read starts after ``deadline``."""
        runs: dict[tuple[str, str], list[Attempt]] = {}
        with self._lock:
            for a in attempts:
                if a not in self._confirmed:
                    runs.setdefault((a[0], a[1]), []).append(a)
        left: list[Attempt] = []
        for (dag_id, run_id), todo in runs.items():
            if deadline is not None and time.monotonic() > deadline:
                left += todo
                continue
            left += self._observe_run(dag_id, run_id, todo, deadline)
        return left

    def _observe_run(self, dag_id: str, run_id: str, todo: list[Attempt], deadline) -> list:
        prefix = f"logs/dag_id={dag_id}/run_id={run_id}/"
        try:
            keys = bounded.call(
                lambda: self._list(prefix),
                PROBE_TIMEOUT + DEADLINE_SLACK,
                f"log listing of {run_id}",
                key=f"{self.cluster.run_id}:logs:{threading.current_thread().name}",
            )
        except Exception as exc:
            self.history.append(
                "observation", probe="remote_log", target="minio", value=None,
                error=describe_error(exc), prefix=prefix,
            )  # fmt: skip
            return todo
        left = []
        for a in todo:
            value = self._attempt_value(a, keys, deadline)
            with self._lock:
                if a in self._confirmed:
                    continue  # confirmed meanwhile by another pass: nothing to add
                if self._last.get(a) != value:  # the same answer again is not news
                    self._last[a] = value
                    self.history.append(
                        "observation", probe="remote_log", target="minio", value=value, error=None
                    )
                if value["present"] and value.get("api_readable", True):
                    self._confirmed.add(a)
                    continue
            left.append(a)
        return left

    def _attempt_value(self, a: Attempt, keys: set[str], deadline) -> dict[str, Any]:
        dag_id, run_id, task, try_number, idx = a
        key = AC.log_key(dag_id, run_id, task, try_number, idx)
        value: dict[str, Any] = {
            "key": key,
            "present": key in keys,
            "dag_id": dag_id,
            "run_id": run_id,
            "task_id": task,
            "try_number": try_number,
            "map_index": idx,
        }
        if value["present"] and (deadline is None or time.monotonic() <= deadline):
            value["api_readable"] = self._served(a, key)
        elif value["present"]:
            value["api_readable"] = False  # not asked: the window ended (looked for again later)
        return value

    def _served(self, a: Attempt, key: str) -> bool:
        try:
            text = bounded.call(
                lambda: self.api_text(*a),
                PROBE_TIMEOUT + DEADLINE_SLACK,
                f"API log of {a[2]} try {a[3]}",
                key=f"{self.cluster.run_id}:apilog:{threading.current_thread().name}",
            )
        except Exception:  # no answer is "not served" this time; looked for again later
            return False
        return f"s3://{AC.LOG_BUCKET}/{key}" in text

    def _list(self, prefix: str) -> set[str]:
        s3 = minio.s3(self.cluster, timeout=PROBE_TIMEOUT)  # anew: a restarted MinIO moves port
        keys: set[str] = set()
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=AC.LOG_BUCKET, Prefix=prefix)
        for page in pages:
            keys.update(o["Key"] for o in page.get("Contents", []))
        return keys
