"""An existing Kubernetes cluster (``topology: {backend: kubernetes, kubeconfig: ..., registry:
...}``): the testbed builds no node. It pushes its images to the cluster's registry and deploys
everything into one namespace as a namespace-scoped user would: the infrastructure (Postgres,
MinIO, Toxiproxy, Redis) as pods, then the Airflow roles as on the built-in node
(testbed.k8s.existing_deploy). Every ``kubectl`` goes through a client container on this
machine holding the kubeconfig (testbed.k8s.client), and the testbed reaches the Services
through port-forwards there. The only container of the run is that client; removing it (the
teardown, or the next run's clean-up) first deletes every object of the run in the namespace.

A fresh deployment for every scenario (no reset): the namespace is the user's, and what a
scenario did there is not undone object by object.
"""

from __future__ import annotations

import time
from typing import Any

from testbed import runtime
from testbed.backends.kubernetes import K8S_SETTLE, KubernetesBackend
from testbed.core import progress
from testbed.core.errors import ClusterError
from testbed.k8s import client, existing_deploy
from testbed.k8s import deploy as k8s_deploy
from testbed.k8s import node as k8s_node
from testbed.topology import K8S_CLIENT


class ExistingClusterBackend(KubernetesBackend):
    name = "kubernetes"
    reusable = False  # every scenario deploys afresh (and the teardown deletes it all)
    boots_ahead = False  # one run a namespace: the next cannot deploy beside it

    def boot_infrastructure(self, cluster: Any) -> bool:
        """The client (its kubeconfig, the namespace's rights), the images pushed, the
        infrastructure pods and the log bucket."""
        cluster._phase("kubernetes client", [K8S_CLIENT])
        cluster.forwards = client.Forwards(cluster)
        with progress.status("deploying the infrastructure into the namespace") as update:
            existing_deploy.infrastructure(cluster, update)
        return True

    def boot_roles(self, cluster: Any) -> None:
        t0 = time.monotonic()
        with progress.status(f"deploying Airflow into namespace {cluster.topology.namespace}") as u:
            existing_deploy.roles(cluster, u)
        cluster.timings["airflow"] = time.monotonic() - t0
        progress.done(f"airflow ready (pods): {', '.join(cluster.topology.pods)}", t0)

    def _pod(self, cluster: Any, node: str) -> bool:
        return node in cluster.topology.pods or node in cluster.topology.infra_pods

    def exec_in(self, cluster: Any, node: str, cmd: list[str], *, timeout: float):
        if self._pod(cluster, node):
            return k8s_node.exec_in_pod(cluster, node, cmd, timeout=timeout)
        return runtime.exec_run(cluster.container(node), cmd, timeout=timeout, node=node)

    def host_port(self, cluster: Any, node: str, port: int) -> int:
        if not self._pod(cluster, node):
            raise KeyError(f"{node} has no port on this machine (an existing cluster's)")
        if not hasattr(cluster, "forwards"):  # a handle attached to a running cluster
            cluster.forwards = client.Forwards(cluster)
        return cluster.forwards.port(node, port)

    def diag_exec(self, cluster: Any, node: str, cmd: list[str], *, timeout: float, user=None):
        """Through the API (``kubectl exec``, as the pod's user): the testbed has no way to a
        node's container runtime here."""
        return self.exec_in(cluster, node, cmd, timeout=timeout)

    def state(self, cluster: Any, node: str) -> str:
        if not self._pod(cluster, node):
            return runtime.state(cluster.container(node))
        return "running" if k8s_deploy.pod_names(cluster, node) else "not running"

    def output_tail(self, cluster: Any, node: str, lines: int) -> list[str]:
        if not self._pod(cluster, node):
            return runtime.logs_tail(cluster.container(node), lines)
        done = k8s_node.kubectl(cluster, "logs", f"deploy/{node}", "-c", node, f"--tail={lines}")
        return done.stdout.splitlines()[-lines:]

    def output(self, cluster: Any, node: str, since_wall: float) -> str:
        if self._pod(cluster, node):
            return k8s_node.pod_output(cluster, node, since_wall)
        return super().output(cluster, node, since_wall)

    def reset(self, cluster: Any) -> None:
        raise ClusterError("an existing cluster's deployment is not reset: a fresh one instead")

    def audit(self, cluster: Any, problems: list[str]) -> list[str]:
        if K8S_CLIENT not in cluster.nodes:
            return []
        return k8s_deploy.audit_settled(cluster, timeout=K8S_SETTLE)
