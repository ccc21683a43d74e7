"""The heal audit: what is still broken after every fault was healed (missing, stopped or
paused nodes, stopped processes, toxics, disabled proxies, nodes off the network, iptables
rules of the run, a Kubernetes Deployment without its ready pod).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import docker.errors
import requests

from testbed import iptables, runtime
from testbed.backends.kubernetes import K8S_SETTLE
from testbed.core.errors import FaultError
from testbed.faults.network import on_network
from testbed.faults.proc import stopped_pids
from testbed.services import toxiproxy

if TYPE_CHECKING:
    from testbed.cluster import Cluster

__all__ = ["K8S_SETTLE", "heal_audit"]  # K8S_SETTLE: the Kubernetes backend's, as it was here


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
            # (a client on the host's network, an existing cluster's kubectl, has none)
            host = c.attrs.get("HostConfig", {}).get("NetworkMode") == "host"
            if not host and not on_network(c, cluster.network.name):
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
    problems += cluster.backend.audit(cluster, problems)  # e.g. a pod deleted and not back
    for leftovers in _hooks("leftovers"):  # what a kind checks itself (e.g. a CPU quota)
        try:
            problems += leftovers(cluster)
        except Exception as exc:  # one kind's check failing never hides the others' findings
            problems.append(f"{leftovers.__qualname__} failed: {exc}")
    try:
        problems += [f"iptables rule left: {ln}" for ln in iptables.run_rules(cluster.run_id)]
    except FaultError as exc:
        problems.append(str(exc))
    return problems


def _hooks(name: str) -> list:
    from testbed.faults.kinds import hooks  # on use: it imports every fault family

    return hooks(name)
