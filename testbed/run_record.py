"""The topology's part of a run record (``run.json``): what :meth:`testbed.cluster.Cluster.
write_record` writes, and the :class:`~testbed.topology.Topology` that
:meth:`~testbed.cluster.Cluster.attach` rebuilds from it (e.g. for `testbed down`).
"""

from __future__ import annotations

from typing import Any

from testbed.topology import Topology


def topology_fields(topology: Topology) -> dict[str, Any]:
    """The run record's ``topology``."""
    return {
        "workers": topology.workers,
        "airflow_version": topology.airflow_version,
        "config": topology.flat_config(),
        "kerberos": topology.kerberos,
        "dags": topology.dags,
        "requirements": list(topology.requirements),
        "timescale": topology.timescale,
        "backend": topology.backend,
        "executor": topology.executor,
        "k8s_nodes": topology.k8s_nodes,
        "api_servers": topology.api_servers,
        "clock_jumps": topology.clock_jumps,
        "dag_sync": topology.dag_sync,
        "dag_sync_every": topology.dag_sync_every,
        "kubeconfig": topology.kubeconfig,
        "registry": topology.registry,
        "namespace": topology.namespace,
        "config_in_force": topology.flat_effective(),
    }


def topology_of(topo: dict[str, Any]) -> Topology:
    """The topology a run record's ``topology`` describes (an older record's missing fields:
    their defaults)."""
    config: dict[str, dict[str, str]] = {}
    for dotted, value in topo["config"].items():
        section, key = dotted.split(".", 1)
        config.setdefault(section, {})[key] = value
    return Topology(
        topo["workers"],
        topo["airflow_version"],
        config,
        kerberos=topo.get("kerberos", False),
        dags=topo.get("dags"),
        requirements=tuple(topo.get("requirements", ())),
        timescale=topo.get("timescale", 1.0),
        backend=topo.get("backend", "docker"),
        executor=topo.get("executor", "CeleryExecutor"),
        k8s_nodes=topo.get("k8s_nodes", 1),
        api_servers=topo.get("api_servers", 1),
        clock_jumps=topo.get("clock_jumps", False),
        dag_sync=topo.get("dag_sync", "copy"),
        dag_sync_every=topo.get("dag_sync_every", 300.0),
        kubeconfig=topo.get("kubeconfig"),
        registry=topo.get("registry"),
        namespace=topo.get("namespace", "default"),
    )
