"""The metadata database's schema at boot: ``airflow db migrate`` in a one-shot node, committed
as a Postgres snapshot image for the next boot of the same image pair; or that snapshot, which
the boot starts Postgres from (the migration shortcut: no migrate at all).

``cluster`` is the booting :class:`~testbed.cluster.Cluster` (typed loosely: the cluster
imports this module).
"""

from __future__ import annotations

import time
from typing import Any

from testbed import runtime
from testbed.core import progress
from testbed.core.errors import ClusterError
from testbed.services import airflow, postgres

MIGRATE_TIMEOUT = 300


def pick_postgres_image(cluster: Any) -> None:
    """Start Postgres from the migrated snapshot of this image pair, where there is one (and
    the cluster uses snapshots)."""
    if cluster.use_snapshot and postgres.snapshot_exists(cluster.snapshot):
        cluster.postgres_image = cluster.snapshot


def migrate(cluster: Any) -> None:
    """Migrate the database once Postgres is up (unless it started from the snapshot), then
    commit the snapshot if the cluster uses snapshots."""
    if cluster.postgres_image == cluster.snapshot:
        cluster.history.append("migration", mode="snapshot", image=cluster.snapshot)
        progress.step(f"database: migrated snapshot {cluster.snapshot}")
        return
    t0 = time.monotonic()
    with progress.status("airflow db migrate (first boot of this image pair)") as update:
        c = cluster.start_spec(airflow.migrate_spec(cluster))
        update("running airflow db migrate")
        try:
            code = c.wait(timeout=MIGRATE_TIMEOUT)["StatusCode"]
        except Exception:
            code = -1
        if code != 0:
            raise ClusterError(
                "airflow db migrate failed:\n    " + "\n    ".join(runtime.logs_tail(c))
            )
        c.remove(force=True)
        del cluster.nodes["migrate"]
        cluster.timings["migrate"] = time.monotonic() - t0
        if cluster.use_snapshot:
            update(f"committing snapshot {cluster.snapshot}")
            postgres.take_snapshot(cluster, cluster.snapshot)
    cluster.history.append("migration", mode="migrate", seconds=cluster.timings["migrate"])
    done = "database migrated" + (" and snapshotted" if cluster.use_snapshot else "")
    progress.done(done, t0)
