"""Probes: one bounded look at the cluster, recorded in the history as an observation.

A probe that gets no answer within its timeout records ``error="timeout"`` (Jepsen's unknown
outcome): an observation, never a crash. Every probe runs under a hard deadline
(:mod:`testbed.bounded`), whatever its client library does, and a probe whose previous call on
the same target is still stuck is "timeout" at once (no pile-up of threads on a frozen node).
An :class:`Observer` thread polls a set of probes at a fixed interval while a scenario runs.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg
import requests

from testbed import airflow_config as AC
from testbed import bounded, runtime
from testbed.errors import ExecTimeout
from testbed.services import airflow, minio, postgres

if TYPE_CHECKING:
    from testbed.cluster import Cluster

PROBE_TIMEOUT = 3.0
DEADLINE_SLACK = 2.0  # a probe's hard deadline: its own timeout plus this


def observe(
    cluster: Cluster, probe: str, target: str, fn: Callable[[], Any], timeout: float = PROBE_TIMEOUT
) -> dict:
    """Run one probe under a hard deadline; record its value, or "timeout", or the error."""
    try:
        what, key = f"{probe} probe of {target}", f"{cluster.run_id}:{probe}:{target}"
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


def api_health(cluster: Cluster) -> dict:
    def fn() -> Any:
        url = f"{airflow.api_url(cluster)}/api/v2/monitor/health"
        return requests.get(url, timeout=PROBE_TIMEOUT).json()

    return observe(cluster, "api_health", "api-server", fn)


def scheduler_health(cluster: Cluster, node: str = "scheduler") -> dict:
    def fn() -> Any:
        r = requests.get(airflow.scheduler_health_url(cluster, node), timeout=PROBE_TIMEOUT)
        return {"status": r.status_code}

    return observe(cluster, "scheduler_health", node, fn)


JOB_TYPES = {
    "scheduler": "SchedulerJob",
    "triggerer": "TriggererJob",
    "dag-processor": "DagProcessorJob",
}


def jobs_check(cluster: Cluster, node: str, job_type: str | None = None) -> dict:
    """``airflow jobs check --local`` on the node: is its own job alive (heartbeat fresh)?"""
    job_type = job_type or JOB_TYPES.get(airflow.role_of(node), "SchedulerJob")

    def fn() -> Any:
        cmd = ["airflow", "jobs", "check", "--job-type", job_type, "--local"]
        r = runtime.exec_run(cluster.container(node), cmd, timeout=30, node=node)
        if r.exit_code == 0:
            return {"ok": True}
        if "No alive jobs found" in r.output:  # the one answer that means "not alive"
            return {"ok": False}
        raise RuntimeError(f"exit {r.exit_code}: {r.output.strip()[-200:]}")

    return observe(cluster, "jobs_check", node, fn, timeout=30)


CONFIG_SCRIPT = (
    "import json, sys\n"
    "from airflow.configuration import conf\n"
    "keys = [k.split('.', 1) for k in sys.argv[1:]]\n"
    "print(json.dumps({f'{s}.{k}': conf.get(s, k, fallback=None) for s, k in keys}))\n"
)


def config_in_force(cluster: Cluster, keys: list[str], node: str = "scheduler") -> dict:
    """The values Airflow itself reads on ``node`` for ``keys`` (section.key), not what the
    testbed meant to set: proof that the overrides took effect."""

    def fn() -> Any:
        cmd = ["python", "-c", CONFIG_SCRIPT, *keys]
        r = runtime.exec_run(cluster.container(node), cmd, timeout=30, node=node)
        if r.exit_code != 0:
            raise RuntimeError(r.output.strip().splitlines()[-1:] or r.exit_code)
        return json.loads(r.output.strip().splitlines()[-1])

    return observe(cluster, "config", node, fn, timeout=30)


TI_SQL = (
    "select dag_id, run_id, task_id, map_index, try_number, state, queued_by_job_id, hostname "
    "from task_instance where dag_id = %s and run_id = %s order by task_id, map_index"
)


_ROUNDS = itertools.count(1)
_ROUND_LOCK = threading.Lock()  # held only to append one read's rows, never across the query
_LATEST: dict[tuple[str, str], float] = {}  # (dag_id, run_id) -> start of the newest read kept
TI_KEYS = (
    "dag_id",
    "run_id",
    "task_id",
    "map_index",
    "try_number",
    "state",
    "queued_by_job_id",
    "hostname",
)


def task_instances(cluster: Cluster, dag_id: str, run_id: str) -> list[dict]:
    """One observation per task instance of a run, read from the metadata database; the rows
    of one read share a ``round`` (a row missing from the latest round no longer exists, e.g.
    the placeholder of a mapped task once it is expanded). Reads may overlap (the observer and
    a check's gather); a read that started before the newest one already recorded is dropped,
    so rounds never go back in time. No lock is held while the database is asked."""
    started = time.monotonic()
    try:
        key = f"{cluster.run_id}:ti:{run_id}:{threading.current_thread().name}"
        rows = postgres.query(cluster, TI_SQL, (dag_id, run_id), timeout=PROBE_TIMEOUT, key=key)
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
    with _ROUND_LOCK:
        if _LATEST.get((dag_id, run_id), float("-inf")) > started:
            return []  # a newer read is already recorded
        _LATEST[(dag_id, run_id)] = started
        round_ = next(_ROUNDS)
        return [
            cluster.history.append(
                "observation",
                probe="task_instance",
                target=dag_id,
                value=dict(zip(TI_KEYS, row, strict=True)),
                error=None,
                round=round_,
            )
            for row in rows
        ]


def scheduler_jobs(cluster: Cluster) -> dict:
    sql = (
        "select id, hostname, state from job where job_type = 'SchedulerJob' "
        "and state = 'running' order by id desc"
    )

    def fn() -> Any:
        rows = postgres.query(cluster, sql, timeout=PROBE_TIMEOUT)
        return [{"id": i, "hostname": h, "state": s} for i, h, s in rows]

    return observe(cluster, "scheduler_job", "postgres", fn)


def log_events(cluster: Cluster, dag_id: str, run_id: str, event: str) -> dict:
    sql = (
        "select event, task_id, try_number, extra from log where dag_id = %s and run_id = %s "
        "and event ilike %s order by id"
    )

    def fn() -> Any:
        rows = postgres.query(cluster, sql, (dag_id, run_id, f"%{event}%"), timeout=PROBE_TIMEOUT)
        return [{"event": e, "task_id": t, "try_number": n, "extra": x} for e, t, n, x in rows]

    return observe(cluster, "log_event", dag_id, fn)


def remote_log(
    cluster: Cluster,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: int,
    api_text: Callable[[], str] | None = None,
    map_index: int = -1,
) -> dict:
    """Is the attempt's log object in MinIO, and (if it is, optionally) does the API serve it
    from there? (For a missing object the API would go to the worker's log server instead.)"""
    key = AC.log_key(dag_id, run_id, task_id, try_number, map_index)

    def fn() -> Any:
        s3 = minio.s3(cluster, timeout=PROBE_TIMEOUT)
        present = s3.list_objects_v2(Bucket=AC.LOG_BUCKET, Prefix=key).get("KeyCount", 0) > 0
        value: dict[str, Any] = {
            "key": key,
            "present": present,
            "dag_id": dag_id,
            "run_id": run_id,
            "task_id": task_id,
            "try_number": try_number,
            "map_index": map_index,
        }
        if api_text is not None and present:  # the API is asked only for logs in S3
            value["api_readable"] = f"s3://{AC.LOG_BUCKET}/{key}" in api_text()
        return value

    return observe(cluster, "remote_log", "minio", fn)


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
        deadline = time.monotonic() + PROBE_TIMEOUT + DEADLINE_SLACK + self.interval
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
