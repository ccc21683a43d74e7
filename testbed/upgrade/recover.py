"""The way back from a migration that failed midway, as the upgrade guides give it: the schema
is half-migrated (Airflow applies one revision per transaction on Postgres, so it stands at a
revision strictly between the two heads), no code runs on it, and the backup taken in the
downtime window is the way back: restore it and start the old version again.

A drill asks for it with ``upgrade: {refused_by: db_migrate}`` and a fault on the migrator
(killed, or its database link cut, once the schema left the old head). :func:`recover` judges
that the fault did what it says (the schema was left between the heads; a migration that had
not started or had finished proves nothing), restores the backup, makes the cluster the old
version's again (an Airflow 2 one after a failed 2 -> 3 upgrade) and starts every Airflow node
on it, each waited for. Recorded as an ``upgrade_recovered`` event with its timing.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

from testbed.core.errors import UpgradeFailed
from testbed.upgrade import major_actions
from testbed.upgrade import observe as uobs
from testbed.upgrade.plan import BACKUP_NAME
from testbed.upgrade.procedure import airflow_nodes, restore
from testbed.upgrade.versions import schema_info


def recover(proc: Any) -> None:
    """Restore the plan's backup after its migration failed midway and start the old version's
    nodes again (``proc``: the :class:`~testbed.upgrade.procedure.Procedure` that failed)."""
    cluster, plan = proc.cluster, proc.plan
    t0 = time.monotonic()
    revision = (uobs.schema(cluster).get("value") or {}).get("revision")
    chain = list(schema_info(plan.to_version).revisions)
    steps = half_migrated(revision, chain, plan.from_head, plan.to_head)
    cluster.remove_node("migrate")  # a migrator still running must not write after the restore
    restore(cluster, BACKUP_NAME[plan.kind])
    major_actions.switch_line(proc, plan.from_version)
    nodes = airflow_nodes(cluster)
    with ExitStack() as windows:  # restarted on purpose: their flips meanwhile are expected
        for node in nodes:
            windows.enter_context(proc.planned(node))
        for node in nodes:  # stopped by the plan; created again on the version they ran
            cluster.replace_node(node, wait=False)
        for node in nodes:
            cluster.wait_node(node, proc.ready_timeout)
    uobs.schema(cluster)
    proc.record_window("recovered")  # down from the first stop until the old version is back
    cluster.history.append(
        "upgrade_recovered", revision=revision, steps_applied=steps,
        backup=BACKUP_NAME[plan.kind], version=plan.from_version, nodes=nodes,
        seconds=round(time.monotonic() - t0, 3),
    )  # fmt: skip


def half_migrated(revision: str | None, chain: list[str], from_head: str, to_head: str) -> int:
    """How many of the migration's revisions (``chain``: the new version's, oldest first) the
    schema at ``revision`` has applied; the step fails unless that is strictly between none
    and all of them."""
    if from_head not in chain or to_head not in chain:
        raise UpgradeFailed(f"{from_head} and {to_head} are not on the new version's chain")
    path = chain[chain.index(from_head) : chain.index(to_head) + 1]
    if revision not in path[1:-1]:
        where = {from_head: "the old head: the migration had not begun",
                 to_head: "the new head: the migration had finished"}.get(
            revision or "", "off the migration's path")  # fmt: skip
        raise UpgradeFailed(
            f"the failed migration left the schema at {revision} ({where}); a drill of a "
            "half-migrated database needs its fault to land between the heads"
        )
    return path.index(revision)
