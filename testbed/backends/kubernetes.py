"""The Kubernetes backend (``topology: {backend: kubernetes}``): the Kubernetes node boots with
the infrastructure (a container, testbed.k8s.node), the Airflow roles are deployed into it as
pods (testbed.k8s.deploy) and reached through ``kubectl exec`` and their Services' NodePorts
(testbed.k8s.manifests). Postgres, MinIO, Toxiproxy and (CeleryExecutor) Redis stay
containers: for them, and for the node containers, this backend does what the Docker backend
does. A reset between scenarios brings the containers back as on Docker, then the
Deployments (k8s.deploy.reset).
"""

from __future__ import annotations

import time
from typing import Any

from testbed import runtime
from testbed.backends.docker import DockerBackend
from testbed.core import progress
from testbed.images import k8s_node as k8s_image
from testbed.k8s import deploy as k8s_deploy
from testbed.k8s import local_exec
from testbed.k8s import manifests as k8s_manifests
from testbed.k8s import node as k8s_node
from testbed.topology import K8S_NODE

# seconds the audit gives Kubernetes to have every Deployment's ready pod back after a heal
# (k8s.deploy.audit_settled); the whole audit runs within engine.AUDIT_BOUND (60 s). 30 s was
# too short once in CI: a Celery worker's pod on a restarted node was not back ~31 s after the
# node's restart (k8s_celery_worker_node_loss, both lanes busy)
K8S_SETTLE = 50.0


class KubernetesBackend(DockerBackend):
    name = "kubernetes"
    # a reset brings the containers back (testbed.reset), then deletes the task pods left and
    # waits for every Deployment's ready pod (k8s.deploy.reset)
    reusable = True
    # the next node boots beside a running drill at the boot's low CPU weight (the node
    # container's cpu.shares, which its pods inherit); measured beside the Kubernetes drills
    # (docs/testing-and-benchmarks.md "Boot ahead on two lanes")
    boots_ahead = True

    def images(self) -> list[str]:
        return [k8s_image.node_image()]

    def boot_roles(self, cluster: Any) -> None:
        """The Airflow roles as pods of the Kubernetes node, each waited for."""
        topology = cluster.topology
        if topology.k8s_workers:
            cluster._phase("kubernetes nodes", topology.k8s_workers)
        if topology.kerberos_nodes:  # the kerberized target, a container beside the node
            cluster._phase("kerberized target", topology.kerberos_nodes)
        t0 = time.monotonic()
        with progress.status("deploying Airflow into Kubernetes") as update:
            k8s_deploy.up(cluster, update)
        cluster.timings["airflow"] = time.monotonic() - t0
        progress.done(f"airflow ready (pods): {', '.join(topology.pods)}", t0)

    def exec_in(
        self, cluster: Any, node: str, cmd: list[str], *, timeout: float
    ) -> runtime.ExecResult:
        if node in cluster.topology.pods:
            return k8s_node.exec_in_pod(cluster, node, cmd, timeout=timeout)
        return super().exec_in(cluster, node, cmd, timeout=timeout)

    def host_port(self, cluster: Any, node: str, port: int) -> int:
        if node in cluster.topology.pods:  # a pod's port: its Service's NodePort on the node
            role_port, node_port = k8s_manifests.NODE_PORTS[node]
            if port != role_port:
                raise KeyError(f"port {port} of {node} is not published (only {role_port})")
            return runtime.host_port(cluster.container(K8S_NODE), node_port)
        return super().host_port(cluster, node, port)

    def diag_exec(
        self, cluster: Any, node: str, cmd: list[str], *, timeout: float, user: str | None = None
    ) -> runtime.ExecResult:
        if node in cluster.topology.pods:  # through containerd: the API may be what hangs
            return local_exec.exec_in(cluster, node, cmd, timeout=timeout, user=user)
        return super().diag_exec(cluster, node, cmd, timeout=timeout, user=user)

    def state(self, cluster: Any, node: str) -> str:
        if node in cluster.topology.pods:
            return local_exec.state(cluster, node)
        return super().state(cluster, node)

    def output_tail(self, cluster: Any, node: str, lines: int) -> list[str]:
        if node in cluster.topology.pods:
            return local_exec.tail(cluster, node, lines)
        return super().output_tail(cluster, node, lines)

    def output(self, cluster: Any, node: str, since_wall: float) -> str:
        if node in cluster.topology.pods:  # the role's running pod (kubectl logs)
            return k8s_node.pod_output(cluster, node, since_wall)
        return super().output(cluster, node, since_wall)

    def save_logs(self, cluster: Any, folder: Any) -> None:
        """The pods' logs, listing and events (k8s.deploy.save_logs), while the node (or an
        existing cluster's client) is here."""
        if k8s_node.kubectl_node(cluster) not in cluster.nodes:
            return
        try:
            k8s_deploy.save_logs(cluster, folder)
        except Exception as exc:  # evidence is best effort; the teardown goes on
            cluster.history.append("k8s", phase="logs_not_saved", error=str(exc)[:200])

    def reset(self, cluster: Any) -> None:
        k8s_deploy.reset(cluster)

    def audit(self, cluster: Any, problems: list[str]) -> list[str]:
        """A Deployment without its ready pod (a pod deleted and not back), once Kubernetes has
        had up to K8S_SETTLE s to converge."""
        if K8S_NODE not in cluster.nodes:
            return []
        # a Kubernetes node still paused or stopped will not settle: no waiting for it
        stuck = any(p.startswith(K8S_NODE) for p in problems)
        return k8s_deploy.audit_settled(cluster, timeout=0 if stuck else K8S_SETTLE)

    def node_of_host(self, cluster: Any, host: str) -> str:
        # a pod's name (a task pod's, a Celery worker's): its node's
        return k8s_deploy.node_of_pod(cluster, host) or host

    def role_of_host(self, cluster: Any, host: str) -> str:
        # a Celery worker pod's name: its Deployment's
        return k8s_deploy.role_of_pod(cluster, host) or host
