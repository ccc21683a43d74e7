"""The heal audit: what is still broken after every fault was healed (missing, stopped or
paused nodes, stopped processes, toxics, disabled proxies, nodes off the network, iptables
rules of the run, a Kubernetes Deployment without its ready pod).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import docker.errors
import requests

from testbed import iptables, runtime
from testbed.errors import FaultError
from testbed.faults.network import on_network
from testbed.faults.process import stopped_pids
from testbed.services import toxiproxy
from testbed.topology import K8S_NODE

if TYPE_CHECKING:
    from testbed.cluster import Cluster


# seconds the audit gives Kubernetes to have every Deployment's ready pod back after a heal
# (k8s.deploy.audit_settled); the whole audit runs within engine.AUDIT_BOUND (60 s)
K8S_SETTLE = 30.0


def heal_audit(cluster: Cluster) -> list[str]:
    """What is still broken: missing, stopped or paused nodes, stopped processes, toxics,
    disabled proxies, nodes off the network, iptables rules of this run, a Deployment without
    its ready pod (Kubernetes). Empty means every fault healed."""
    problems = [f"{n} is missing" for n in cluster.topology.nodes if n not in cluster.nodes]
    for node, c in list(cluster.nodes.items()):
        st = runtime.state(c)
        if st == "paused":
            problems.append(f"{node} is paused")
        elif st.startswith("exited") and node.startswith("migrate"):
            continue  # a one-shot migrator is meant to end
        elif st != "running":
            problems.append(f"{node} is {st}")
        else:
            if not on_network(c, cluster.network.name):
                problems.append(f"{node} is off the cluster network")
            problems += [f"{node}: process {pid} is stopped (SIGSTOP)" for pid in stopped_pids(c)]
    try:
        for name, proxy in (
            requests.get(f"{toxiproxy.api(cluster)}/proxies", timeout=5).json().items()
        ):
            if not proxy.get("enabled", True):
                problems.append(f"proxy {name} is disabled")
            problems += [f"proxy {name} has toxic {t['name']}" for t in proxy.get("toxics", [])]
    except (requests.RequestException, docker.errors.APIError) as exc:
        problems.append(f"toxiproxy API did not answer: {exc}")
    if cluster.topology.kubernetes and K8S_NODE in cluster.nodes:
        from testbed.k8s.deploy import audit_settled  # a pod deleted and not back

        # a Kubernetes node still paused or stopped will not settle: no waiting for it
        stuck = any(p.startswith(K8S_NODE) for p in problems)
        problems += audit_settled(cluster, timeout=0 if stuck else K8S_SETTLE)
    try:
        problems += [f"iptables rule left: {ln}" for ln in iptables.run_rules(cluster.run_id)]
    except FaultError as exc:
        problems.append(str(exc))
    return problems
