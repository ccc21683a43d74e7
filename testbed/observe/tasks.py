"""Metadata-database probes: a run's task instances (read in rounds), the running scheduler
jobs, and the ``log`` table's events of a run."""

from __future__ import annotations

import itertools
import threading
import time
from typing import TYPE_CHECKING, Any

from testbed.observe import core
from testbed.observe.core import observe
from testbed.services import postgres

if TYPE_CHECKING:
    from testbed.cluster import Cluster

TI_SQL = (
    "select dag_id, run_id, task_id, map_index, try_number, state, queued_by_job_id, hostname, "
    "max_tries, extract(epoch from start_date)::float8, extract(epoch from end_date)::float8 "
    "from task_instance where dag_id = %s and run_id = %s order by task_id, map_index"
)


_ROUNDS = itertools.count(1)
_ROUND_LOCK = threading.Lock()  # held only to append one read's rows, never across the query
_LATEST: dict[tuple[str, str], float] = {}  # (dag_id, run_id) -> start of the newest read kept
# (history file, dag_id, run_id) -> (rows, when) of the last read recorded: an unchanged read
# is recorded again only after KEEPALIVE seconds (a polled run of an hour-long soak would
# otherwise write every row of every run twice a second)
_RECORDED: dict[tuple[str, str, str], tuple[tuple, float]] = {}
KEEPALIVE = 10.0
TI_KEYS = (
    "dag_id",
    "run_id",
    "task_id",
    "map_index",
    "try_number",
    "state",
    "queued_by_job_id",
    "hostname",
    "max_tries",  # the retries the task had: a chaos run's retry budget
    # when the latest try started (epoch s): set anew when a try starts on a worker, kept from
    # the previous try (like hostname) until then
    "start_epoch",
    "end_epoch",  # when it ended (epoch s); null while it runs
)


def task_instances(cluster: Cluster, dag_id: str, run_id: str) -> list[dict]:
    """One observation per task instance of a run, read from the metadata database; the rows
    of one read share a ``round`` (a row missing from the latest round no longer exists, e.g.
    the placeholder of a mapped task once it is expanded). A read equal to the last one
    recorded for the run is recorded only every :data:`KEEPALIVE` seconds (so the latest round
    is always the run's current rows, and every change is recorded when it is first read).
    Reads may overlap (the observer and a check's gather); a read that started before the
    newest one already recorded is dropped, so rounds never go back in time. No lock is held
    while the database is asked. Returns the read's rows as observations either way."""
    started = time.monotonic()
    try:
        key = f"{cluster.run_id}:ti:{run_id}:{threading.current_thread().name}"
        rows = postgres.query(
            cluster, TI_SQL, (dag_id, run_id), timeout=core.PROBE_TIMEOUT, key=key
        )
    except Exception as exc:
        err = (
            "timeout"
            if isinstance(exc, TimeoutError) or "timeout" in str(exc).lower()
            else (f"{type(exc).__name__}: {exc}")
        )
        return [
            cluster.history.append(
                "observation", probe="task_instance", target=dag_id, value=None, error=err[:300]
            )
        ]
    read = [{"value": dict(zip(TI_KEYS, row, strict=True))} for row in rows]
    rec_key, snapshot = (str(cluster.history.path), dag_id, run_id), tuple(map(tuple, rows))
    with _ROUND_LOCK:
        if _LATEST.get((dag_id, run_id), float("-inf")) > started:
            return read  # a newer read is already recorded: this one is not
        _LATEST[(dag_id, run_id)] = started  # an older read still under way is not recorded
        last = _RECORDED.get(rec_key)
        if last is not None and last[0] == snapshot and started - last[1] < KEEPALIVE:
            return read  # nothing changed since the last round recorded (and it is recent)
        _RECORDED[rec_key] = (snapshot, started)
        round_ = next(_ROUNDS)
        return [
            cluster.history.append(
                "observation",
                probe="task_instance",
                target=dag_id,
                value=r["value"],
                error=None,
                round=round_,
            )
            for r in read
        ]


def scheduler_jobs(cluster: Cluster) -> dict:
    sql = (
        "select id, hostname, state from job where job_type = 'SchedulerJob' "
        "and state = 'running' order by id desc"
    )

    def fn() -> Any:
        rows = postgres.query(cluster, sql, timeout=core.PROBE_TIMEOUT)
        return [{"id": i, "hostname": h, "state": s} for i, h, s in rows]

    return observe(cluster, "scheduler_job", "postgres", fn)


def log_events(cluster: Cluster, dag_id: str, run_id: str, event: str) -> dict:
    sql = (
        "select event, task_id, try_number, extra from log where dag_id = %s and run_id = %s "
        "and event ilike %s order by id"
    )

    def fn() -> Any:
        rows = postgres.query(
            cluster, sql, (dag_id, run_id, f"%{event}%"), timeout=core.PROBE_TIMEOUT
        )
        return [{"event": e, "task_id": t, "try_number": n, "extra": x} for e, t, n, x in rows]

    return observe(cluster, "log_event", dag_id, fn)
