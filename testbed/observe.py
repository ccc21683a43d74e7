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
import queue
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
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
        thread = threading.current_thread().name  # the observer's and a gather's never collide
        what, key = f"{probe} probe of {target}", f"{cluster.run_id}:{probe}:{target}:{thread}"
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
    """The API's health. With two or more api-servers, all of them are asked at once, each with
    the probe's whole timeout, and the first answer is the observation: the API answers if any
    api-server does, as a load balancer that health-checks every backend sees it. (Asking them
    in turn, sharing the timeout, left a loaded survivor ~1.5 s while one stopped, and it missed
    that share; the answers came in under the whole timeout.)"""

    def fn() -> Any:
        names = cluster.topology.api_server_names
        if len(names) == 1:
            return _health_of(cluster, names[0])
        return _first_health(cluster, names)

    return observe(cluster, "api_health", "api-server", fn)


def _health_of(cluster: Cluster, node: str) -> Any:
    url = f"{airflow.api_url(cluster, node)}{airflow.HEALTH_PATH}"
    return requests.get(url, timeout=PROBE_TIMEOUT).json()


_ASKING: set[tuple[str, str]] = set()  # (run id, api-server) asked and not answered yet
_ASKING_LOCK = threading.Lock()


def _first_health(cluster: Cluster, names: list[str]) -> Any:
    """The first api-server's answer among ``names`` asked at once (daemon threads: a slow one
    never holds up the process); else what each one did. An api-server whose previous ask is
    still under way is not asked again (no pile-up of threads on a frozen one): it is silent."""
    answers: queue.Queue = queue.Queue()
    asked, errors = [], []
    for node in names:
        if _begin_ask(cluster.run_id, node):
            threading.Thread(
                target=_ask, args=(cluster, node, answers), daemon=True, name=f"api-health-{node}"
            ).start()
            asked.append(node)
        else:
            errors.append((node, TimeoutError("its previous health request is still unanswered")))
    deadline = time.monotonic() + PROBE_TIMEOUT + DEADLINE_SLACK / 2
    while len(errors) < len(names):
        try:
            node, value, exc = answers.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:  # requests' own timeout did not fire in time: still no answer
            break
        if exc is None:
            airflow.api_answered(cluster, node)
            return value
        errors.append((node, exc))
    done = {n for n, _ in errors}
    errors += [(n, TimeoutError()) for n in asked if n not in done]
    raise NoAPIAnswer(sorted(errors, key=lambda e: names.index(e[0])))


def _begin_ask(run_id: str, node: str) -> bool:
    with _ASKING_LOCK:
        if (run_id, node) in _ASKING:
            return False
        _ASKING.add((run_id, node))
        return True


def _ask(cluster: Cluster, node: str, answers: queue.Queue) -> None:
    try:  # the node may be gone mid-replace: its URL cannot even be made
        answers.put((node, _health_of(cluster, node), None))
    except Exception as exc:
        answers.put((node, None, exc))
    finally:
        with _ASKING_LOCK:
            _ASKING.discard((cluster.run_id, node))


class NoAPIAnswer(Exception):
    """None of the api-servers answered; says what each one did."""

    def __init__(self, errors: list[tuple[str, Exception]]) -> None:
        super().__init__("; ".join(f"{n}: {describe_error(e)}" for n, e in errors))
        self.errors = errors


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
        r = cluster.exec_in(node, cmd, timeout=30)
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
        r = cluster.exec_in(node, cmd, timeout=30)
        if r.exit_code != 0:
            raise RuntimeError(r.output.strip().splitlines()[-1:] or r.exit_code)
        return json.loads(r.output.strip().splitlines()[-1])

    return observe(cluster, "config", node, fn, timeout=30)


TI_SQL = (
    "select dag_id, run_id, task_id, map_index, try_number, state, queued_by_job_id, hostname, "
    "max_tries, extract(epoch from start_date)::float8 "
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


# -- Kerberos (clusters with `kerberos: true`) ---------------------------------------------------
KERBEROS_THROTTLE = {"kerberos_ticket": 2.0, "keytab_scan": 30.0}  # seconds between repeats
_LAST_PROBE: dict[tuple[str, str, str], float] = {}  # (history file, probe, node) -> when


def _due(cluster: Cluster, probe: str, target: str) -> bool:
    """Whether ``probe`` of ``target`` may run again (a check's gather polls every second)."""
    # per history file: a scenario's first gather always probes (its history starts empty)
    key, now = (str(cluster.history.path), probe, target), time.monotonic()
    if now - _LAST_PROBE.get(key, float("-inf")) < KERBEROS_THROTTLE.get(probe, 0.0):
        return False
    _LAST_PROBE[key] = now
    return True


def kerberos_ticket(cluster: Cluster, node: str) -> dict:
    """``klist`` of the shared credential cache as ``node`` (a worker: what its tasks will use)
    sees it, parsed (principal, each ticket's start/expiry), with the node's and its sidecar's
    container state, restart count and start time (the sidecar exits when a kinit fails; its
    restart policy brings it back)."""
    from testbed.services import kerberos

    def fn() -> Any:
        r = runtime.exec_run(
            cluster.container(node), ["klist", "-c", AC.CCACHE], timeout=PROBE_TIMEOUT, node=node
        )
        value: dict[str, Any] = (
            kerberos.parse_klist(r.output)
            if r.exit_code == 0
            else {"principal": None, "tickets": [], "klist_error": r.output.strip()[-200:]}
        )
        for key, name in (("node", node), ("sidecar", kerberos.sidecar_of(node))):
            c = cluster.nodes.get(name)
            if c is not None:  # state() reloads the container's attributes
                value[key] = {
                    "state": runtime.state(c),
                    "restarts": c.attrs.get("RestartCount", 0),
                    "started_at": c.attrs.get("State", {}).get("StartedAt"),
                }
        return value

    return observe(cluster, "kerberos_ticket", node, fn)


def keytab_scan(cluster: Cluster, node: str) -> dict:
    """Look for keys on ``node``: keytab files anywhere on its filesystem (as root), keytab
    variables in its processes' environments (as its own user), its mounts, whether the
    credential cache can be written (as root and as its user), and, from the engine's side, the
    container's mounts and configured environment (keytab variables; whether the KDC's master
    password appears anywhere in it)."""
    from testbed.services import keytab_scan as scan

    source = Path(scan.__file__).read_text()
    base = ["python3", "-c", source, "--cache", AC.CCACHE]

    def fn() -> Any:
        c = cluster.container(node)
        as_root = runtime.exec_run(c, base, timeout=60, user="root", node=node)
        as_user = runtime.exec_run(c, [*base, "--user"], timeout=20, node=node)
        for r in (as_root, as_user):
            if r.exit_code != 0:
                raise RuntimeError(f"scan exited {r.exit_code}: {r.output.strip()[-200:]}")
        value = json.loads(as_root.output.strip().splitlines()[-1])
        user = json.loads(as_user.output.strip().splitlines()[-1])
        value["env"], value["cache_as_user"] = user["env"], user["cache"]
        c.reload()
        env = c.attrs["Config"].get("Env") or []
        secret = cluster.secrets.kdc_master_password
        value["container"] = {
            "mounts": [
                {"destination": m.get("Destination"), "name": m.get("Name"), "rw": m.get("RW")}
                for m in c.attrs.get("Mounts", [])
            ],
            "keytab_env": [e for e in env if "KTNAME" in e or "KEYTAB" in e.split("=")[0]],
            "kdc_password_in_env": bool(secret) and any(secret in e for e in env),
        }
        return value

    return observe(cluster, "keytab_scan", node, fn, timeout=60)


XCOM_SQL = (
    "select task_id, map_index, value from xcom where dag_id = %s and run_id = %s "
    "and key = 'return_value' order by task_id, map_index"
)
KERBEROS_LOG_LINE = re.compile(r"(?i)gss|kerberos|krb5|ticket|kdc|credential")
_LOGS_SEEN: set[tuple] = set()


def kerberos_results(cluster: Cluster, name: str, dag_id: str, run_id: str) -> dict:
    """What the kerberized tasks of a run returned (their XComs: the server's view of their
    session, from ``pg_stat_gssapi``), keyed by ``"task_id[map_index]"``."""

    def fn() -> Any:
        rows = postgres.query(cluster, XCOM_SQL, (dag_id, run_id), timeout=PROBE_TIMEOUT)
        return {"run": name, "xcom": {f"{t}[{i}]": v for t, i, v in rows}}

    return observe(cluster, "kerberos_xcom", name, fn)


def failed_task_logs(cluster: Cluster, name: str, dag_id: str, run_id: str, tis: list) -> None:
    """The Kerberos/GSSAPI lines of each failed attempt's log (from MinIO, once it is there):
    one ``task_log`` observation per attempt, recorded once."""
    for ti in tis:
        key = (cluster.run_id, run_id, ti["task_id"], ti["map_index"], ti["try_number"])
        if ti["state"] != "failed" or key in _LOGS_SEEN:
            continue
        s3_key = AC.log_key(dag_id, run_id, ti["task_id"], ti["try_number"], ti["map_index"])

        def fn(s3_key: str = s3_key, ti: dict = ti) -> Any:
            s3 = minio.s3(cluster, timeout=PROBE_TIMEOUT)
            body = s3.get_object(Bucket=AC.LOG_BUCKET, Key=s3_key)["Body"].read()
            lines = [_log_text(ln) for ln in body.decode("utf-8", "replace").splitlines()]
            return {
                "run": name,
                "task_id": ti["task_id"],
                "map_index": ti["map_index"],
                "try_number": ti["try_number"],
                "hostname": ti.get("hostname"),
                "lines": [ln[:600] for ln in lines if KERBEROS_LOG_LINE.search(ln)][:20],
            }

        obs = observe(cluster, "task_log", name, fn)
        if obs.get("error") is None:
            _LOGS_SEEN.add(key)


def _log_text(line: str) -> str:
    """A task log line as text: Airflow 3 writes JSON lines; the exception's type and message
    are in ``error_detail`` (libpq's GSSAPI error is the message)."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    parts = [str(record.get("event", ""))]
    for detail in record.get("error_detail") or []:
        if isinstance(detail, dict):
            parts.append(f"{detail.get('exc_type')}: {detail.get('exc_value')}")
    return " | ".join(p for p in parts if p)


def gather_kerberos_tickets(cluster: Cluster, runs: dict, params: Any) -> None:
    for node in getattr(params, "targets", None) or cluster.topology.worker_names:
        if node in cluster.nodes and _due(cluster, "kerberos_ticket", node):
            kerberos_ticket(cluster, node)


def gather_keytab_scans(cluster: Cluster, runs: dict, params: Any) -> None:
    for node in getattr(params, "targets", None) or cluster.topology.worker_names:
        if node in cluster.nodes and _due(cluster, "keytab_scan", node):
            keytab_scan(cluster, node)


def gather_kerberos_tasks(cluster: Cluster, runs: dict, params: Any) -> None:
    name = getattr(params, "run", None)
    if name not in runs:
        return
    dag_id, run_id = runs[name]
    kerberos_results(cluster, name, dag_id, run_id)
    tis = [e["value"] for e in cluster.history.snapshot() if _ti_of(e, dag_id, run_id)]
    latest = {(v["task_id"], v["map_index"]): v for v in tis}
    failed_task_logs(cluster, name, dag_id, run_id, list(latest.values()))


def _ti_of(e: dict, dag_id: str, run_id: str) -> bool:
    v = e.get("value") if e.get("probe") == "task_instance" else None
    return isinstance(v, dict) and (v.get("dag_id"), v.get("run_id")) == (dag_id, run_id)


# What the engine runs before evaluating a check that declares one of these needs (CheckSpec).
GATHERERS: dict[str, Callable[[Cluster, dict, Any], None]] = {
    "kerberos_ticket": gather_kerberos_tickets,
    "keytab_scan": gather_keytab_scans,
    "kerberos_task": gather_kerberos_tasks,
}
