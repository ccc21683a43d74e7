"""Database faults: a session that holds row locks and does nothing (``db_lock``), as a killed
or hung process's connection left "idle in transaction" does, or an operator's forgotten
``psql``. Whatever then writes those rows waits on the lock, for as long as the session lives
unless the writer set a lock timeout (apache/airflow#68101: a dag-processor waiting forever).

The session is the runner's own connection to the metadata database (never through a
Toxiproxy link), named ``testbed-lock:<fault>`` in ``pg_stat_activity``; the heal rolls it back
and closes it, and the heal audit reports any such session still there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from testbed.core.errors import FaultError
from testbed.faults.base import Fault
from testbed.services import postgres

if TYPE_CHECKING:
    from testbed.cluster import Cluster

APP = "testbed-lock:"  # the sessions' application_name prefix (what the audit looks for)


class DbLock(Fault):
    """Lock the rows of ``table`` that match ``where`` (every row without it) ``FOR UPDATE``
    from a session of the runner's, held until the heal."""

    kind = "db_lock"

    def __init__(
        self, cluster: Cluster, target: str, table: str = "", where: dict | None = None, **kw
    ) -> None:
        super().__init__(cluster, target, **kw)
        self.table, self.where = table, dict(where or {})
        self._conn: psycopg.Connection | None = None

    def describe(self) -> dict[str, Any]:
        return {"table": self.table, "where": self.where}

    def _inject(self) -> None:
        conn = postgres.connect(self.cluster, timeout=10)
        try:
            conn.execute("SELECT set_config('application_name', %s, false)", (APP + self.name,))
            conn.autocommit = False  # the next statement opens the transaction that holds
            rows = conn.execute(self._statement(), tuple(self.where.values())).fetchall()
        except psycopg.Error as exc:
            conn.close()
            raise FaultError(f"db_lock {self.table} {self.where}: {exc}".strip()) from exc
        if not rows:
            conn.close()
            raise FaultError(f"db_lock: no row of {self.table} matches {self.where}: none locked")
        self._conn = conn
        self.record("locked", rows=len(rows))

    def _statement(self) -> sql.Composed:
        where = sql.SQL(" AND ").join(
            sql.SQL("{} = %s").format(sql.Identifier(col)) for col in self.where
        )
        return sql.SQL("SELECT 1 FROM {} {} FOR UPDATE").format(
            sql.Identifier(self.table),
            sql.SQL("WHERE ") + where if self.where else sql.SQL(""),
        )

    def _heal(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            try:
                conn.rollback()
            except psycopg.OperationalError:
                pass  # the session is gone (Postgres restarted): so are its locks
            finally:
                conn.close()

    @classmethod
    def leftovers(cls, cluster: Cluster) -> list[str]:
        """For the heal audit: every lock-holding session of the runner's still open."""
        rows = postgres.query(
            cluster,
            "SELECT application_name, state FROM pg_stat_activity WHERE application_name LIKE %s",
            (APP + "%",),
        )
        return [f"postgres: session {name} is still open ({state})" for name, state in rows]
