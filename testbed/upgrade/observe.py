"""Probes the upgrade checks need (see :mod:`testbed.checks.upgrade` for the event shapes):
where the schema stands, advisory locks in Postgres, the Airflow each node runs, a node's last
log lines, plus the two events a drill records itself (a version's schema, a signal sent).

Each probe is one bounded look recorded by :func:`testbed.observe.core.observe` (a timeout is
an observation, never a crash); turning rows into values is kept apart, pure, for unit tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testbed import runtime
from testbed.core import bounded
from testbed.observe.core import PROBE_TIMEOUT, observe
from testbed.services import postgres

if TYPE_CHECKING:
    from testbed.cluster import Cluster
    from testbed.core.history import History
    from testbed.upgrade.versions import SchemaInfo

SCHEMA_SQL = "select version_num from alembic_version"
# Advisory locks of this database, held or awaited, with who holds them.
LOCKS_SQL = (
    "select l.classid, l.objid, l.objsubid, l.granted, l.pid, a.application_name, "
    "host(a.client_addr), a.state from pg_locks l left join pg_stat_activity a on a.pid = l.pid "
    "where l.locktype = 'advisory' "
    "and l.database = (select oid from pg_database where datname = current_database()) "
    "order by l.pid"
)
LOCK_KEYS = ("classid", "objid", "objsubid", "granted", "pid", "application_name")
LOCK_KEYS += ("client_addr", "state")
# apache-airflow-core from 3.0 on; Airflow 2 ships one package, apache-airflow
VERSION_SCRIPT = (
    "from importlib.metadata import PackageNotFoundError as N, version as v\n"
    "try: print(v('apache-airflow-core'))\n"
    "except N: print(v('apache-airflow'))"
)


# -- pure: rows -> values ---------------------------------------------------------------------
def schema_value(rows: list[tuple] | None) -> dict[str, Any]:
    """``alembic_version`` rows (None: no such table) -> the ``schema`` observation's value."""
    if rows is None:
        return {"revision": None, "table": False}
    revisions = [r[0] for r in rows]
    if len(revisions) == 1:
        return {"revision": revisions[0]}
    return {"revision": None, "rows": revisions}


def advisory_key(classid: int, objid: int, objsubid: int) -> int | None:
    """The bigint key of ``pg_advisory_lock(key)`` from its pg_locks row (objsubid 1); None for
    the two-int form (objsubid 2)."""
    if objsubid != 1:
        return None
    return (int(classid) << 32) | int(objid)


def locks_value(rows: list[tuple]) -> dict[str, Any]:
    """pg_locks rows (in :data:`LOCKS_SQL`'s column order) -> the ``pg_locks`` value."""
    out = []
    for row in rows:
        lock = dict(zip(LOCK_KEYS, row, strict=True))
        lock["key"] = advisory_key(lock["classid"], lock["objid"], lock["objsubid"])
        out.append(lock)
    return {"advisory": out}


def version_value(output: str) -> dict[str, Any]:
    """The last line of :data:`VERSION_SCRIPT`'s output -> the ``version`` value."""
    lines = [ln.strip() for ln in output.strip().splitlines() if ln.strip()]
    if not lines:
        raise RuntimeError("no output")
    return {"airflow": lines[-1]}


# -- probes -----------------------------------------------------------------------------------
def schema(cluster: Cluster) -> dict:
    """Where the metadata schema stands: ``select version_num from alembic_version``."""
    import psycopg.errors

    def fn() -> Any:
        try:
            rows = postgres.query(cluster, SCHEMA_SQL, timeout=PROBE_TIMEOUT)
        except psycopg.errors.UndefinedTable:
            rows = None  # a database nobody has migrated yet
        return schema_value(rows)

    return observe(cluster, "schema", "postgres", fn)


def pg_locks(cluster: Cluster) -> dict:
    """Advisory locks held or awaited in the metadata database (``db migrate`` holds key 1)."""

    def fn() -> Any:
        return locks_value(postgres.query(cluster, LOCKS_SQL, timeout=PROBE_TIMEOUT))

    return observe(cluster, "pg_locks", "postgres", fn)


def airflow_version(cluster: Cluster, node: str) -> dict:
    """The Airflow the node's container has installed (``apache-airflow-core``'s metadata; no
    Airflow import, so it is quick)."""

    def fn() -> Any:
        cmd = ["python", "-c", VERSION_SCRIPT]
        r = cluster.exec_in(node, cmd, timeout=15)  # a container, or a role's pod
        if r.exit_code != 0:
            raise RuntimeError(f"exit {r.exit_code}: {r.output.strip()[-200:]}")
        return version_value(r.output)

    return observe(cluster, "version", node, fn, timeout=15)


def container_log(cluster: Cluster, node: str, lines: int = 60) -> dict:
    """The node's container state and its last log lines (also of an exited container)."""

    def fn() -> Any:
        c = cluster.container(node)
        return {"state": runtime.state(c), "lines": runtime.logs_tail(c, lines)}

    return observe(cluster, "container_log", node, fn, timeout=10)


# -- events a drill records -------------------------------------------------------------------
def record_schema_info(history: History, info: SchemaInfo) -> dict:
    """What a version's own code says about its schema, for ``schema_head`` to judge by."""
    return history.append(
        "schema_info",
        version=info.version,
        head=info.head,
        revisions=list(info.revisions),
        source=info.source,
    )


def send_signal(
    cluster: Cluster, node: str, signal: str = "TERM", timeout: float = 10, **fields: Any
) -> dict:
    """Send ``SIG<signal>`` to the node's main process and record it (``drained_cleanly``
    measures from this event; ``fields`` go into the event). The container's init (tini) passes
    the signal on to the command it runs, not to the whole process group."""
    c = cluster.container(node)
    bounded.call(lambda: c.kill(signal=f"SIG{signal}"), timeout, f"{signal} to {node}")
    return cluster.history.append("signal", node=node, signal=signal, **fields)
