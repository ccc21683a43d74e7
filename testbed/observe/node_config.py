"""The node-config probe: what each Airflow node of a live cluster runs with (its effective
configuration as Airflow reads it, a fingerprint of each DAG file, its Airflow packages), one
``node_config`` observation per node, read in parallel; and the audit of a whole cluster from
those snapshots (:func:`audit`, ``testbed audit``). The comparison is :mod:`testbed.drift`."""

from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from testbed import drift
from testbed.observe.core import observe
from testbed.services.airflow import role_of

if TYPE_CHECKING:
    from testbed.cluster import Cluster

SNAPSHOT_TIMEOUT = 60.0  # Airflow's import on a busy 2-core node takes seconds
# salts the fingerprints of sensitive values: comparable within this process, never recorded
SALT = secrets.token_hex(16)
AUDITED = {"api-server", "webserver", "scheduler", "dag-processor", "triggerer", "celery-worker"}


def airflow_nodes(cluster: Cluster) -> list[str]:
    """The Airflow nodes of the cluster now (added and replaced ones too; no sidecars)."""
    return sorted(n for n in cluster.nodes if role_of(n) in AUDITED)


def snapshot(cluster: Cluster, node: str) -> dict:
    """One ``node_config`` observation of ``node``."""

    def fn() -> Any:
        cmd = ["python", "-c", drift.SNAPSHOT_SCRIPT, SALT]
        r = cluster.exec_in(node, cmd, timeout=SNAPSHOT_TIMEOUT)
        if r.exit_code != 0:
            raise RuntimeError((r.output.strip().splitlines() or [f"exit {r.exit_code}"])[-1])
        return json.loads(r.output.strip().splitlines()[-1])

    return observe(cluster, "node_config", node, fn, timeout=SNAPSHOT_TIMEOUT)


def snapshots(cluster: Cluster, nodes: list[str] | None = None) -> list[dict]:
    """A ``node_config`` observation of every Airflow node (or of ``nodes``), in parallel."""
    names = nodes or airflow_nodes(cluster)
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="node_config") as pool:
        return list(pool.map(lambda n: snapshot(cluster, n), names))


def audit(cluster: Cluster) -> drift.Report:
    """Snapshot every Airflow node now and compare them."""
    seen = snapshots(cluster)
    read = {o["target"]: o["value"] for o in seen if o.get("error") is None}
    unread = {o["target"]: o["error"] for o in seen if o.get("error") is not None}
    return drift.compare(read, unread)


def gather_node_config(cluster: Cluster, runs: dict, params: Any) -> None:
    snapshots(cluster)


GATHERERS = {"node_config": gather_node_config}
