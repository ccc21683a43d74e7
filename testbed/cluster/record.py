"""The run record of a cluster: its ``run.json`` (what ran, from which images, where to reach
it), read back by :meth:`~testbed.cluster.Cluster.attach`, and the nodes' saved logs.

``cluster`` is the :class:`~testbed.cluster.Cluster` (typed loosely: the cluster imports this
module).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import docker.errors
from docker.models.containers import Container

from testbed import run_record
from testbed.core import paths
from testbed.core.errors import ClusterError
from testbed.services import airflow, minio, toxiproxy


def urls(cluster: Any) -> dict[str, str]:
    """Where the host reaches the cluster's services (host ports looked up now)."""
    health = (
        {"scheduler_health": airflow.scheduler_health_url(cluster)}
        if cluster.topology.scheduler_health_served
        else {}
    )
    return {
        "api": airflow.api_url(cluster),
        **health,
        "minio": minio.url(cluster),
        "toxiproxy": toxiproxy.api(cluster),
        "postgres": f"postgresql://airflow@127.0.0.1:{cluster.host_port('postgres', 5432)}",
    }


def write(cluster: Any, state: str) -> Path:
    """Write the cluster's ``run.json`` in ``state`` (with its URLs while running)."""
    record = {
        "run_id": cluster.run_id,
        "state": state,
        "topology": run_record.topology_fields(cluster.topology),
        "images": {
            "airflow": cluster.airflow_image,
            "services": cluster.services_image,
            "postgres": cluster.postgres_image,
        },
        "nodes": list(cluster.nodes),
        "timings": {k: round(v, 3) for k, v in cluster.timings.items()},
        "secrets_dir": str(cluster.dir / "secrets"),
    }
    if state == "running":
        record["urls"] = urls(cluster)
    path = cluster.dir / "run.json"
    path.write_text(json.dumps(record, indent=2))
    return path


def read(run_id: str) -> dict[str, Any]:
    """The run record of ``run_id`` (a cluster booted earlier, e.g. by `testbed up`)."""
    path = paths.run_dir(run_id) / "run.json"
    if not path.exists():
        raise ClusterError(
            f"no run record at {path}", hint="`testbed status` lists the running clusters"
        )
    return json.loads(path.read_text())


def save_logs(cluster: Any) -> Path:
    """Keep every node's log (and the backend's logs beyond the containers') in the record."""
    for node, c in list(cluster.nodes.items()):
        save_log(cluster, c, f"{node}.log")
    cluster.backend.save_logs(cluster, cluster.dir / "logs")
    return cluster.dir / "logs"


def save_log(cluster: Any, container: Container, name: str) -> None:
    """Keep a container's log in the run record (at teardown, or before a node goes)."""
    folder = cluster.dir / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        (folder / name).write_bytes(container.logs(stdout=True, stderr=True))
    except docker.errors.APIError:
        pass
