"""The Docker backend: every node, the Airflow roles included, is a container on the run's
network (testbed.runtime); the roles boot as the cluster's "airflow" phase.
"""

from __future__ import annotations

from typing import Any

from testbed import runtime


class DockerBackend:
    name = "docker"
    reusable = True
    boots_ahead = True

    def images(self) -> list[str]:
        return []

    def boot_infrastructure(self, cluster: Any) -> bool:
        return False  # the cluster's own: containers on the run network, then the migration

    def boot_roles(self, cluster: Any) -> None:
        topology = cluster.topology
        cluster._phase("airflow", topology.airflow_nodes + topology.kerberos_nodes)

    def exec_in(
        self, cluster: Any, node: str, cmd: list[str], *, timeout: float
    ) -> runtime.ExecResult:
        return runtime.exec_run(cluster.container(node), cmd, timeout=timeout, node=node)

    def host_port(self, cluster: Any, node: str, port: int) -> int:
        # Looked up every time: a restarted container gets a new host port from the engine.
        return runtime.host_port(cluster.container(node), port)

    def diag_exec(
        self, cluster: Any, node: str, cmd: list[str], *, timeout: float, user: str | None = None
    ) -> runtime.ExecResult:
        c = cluster.container(node)
        return runtime.exec_run(c, cmd, timeout=timeout, user=user, node=node)

    def state(self, cluster: Any, node: str) -> str:
        return runtime.state(cluster.container(node))

    def output_tail(self, cluster: Any, node: str, lines: int) -> list[str]:
        return runtime.logs_tail(cluster.container(node), lines)

    def output(self, cluster: Any, node: str, since_wall: float) -> str:
        raw = cluster.container(node).logs(since=since_wall, stdout=True, stderr=True)
        return raw.decode("utf-8", "replace")

    def save_logs(self, cluster: Any, folder: Any) -> None:
        """Nothing beyond the containers' logs, which the cluster saves."""

    def audit(self, cluster: Any, problems: list[str]) -> list[str]:
        """Nothing beyond the containers' audit."""
        return []

    def node_of_host(self, cluster: Any, host: str) -> str:
        return host  # a task's hostname is its worker's node name

    def role_of_host(self, cluster: Any, host: str) -> str:
        return host  # no pods: the node is the role

    def reset(self, cluster: Any) -> None:
        return None  # every container is a node: testbed.reset brought them all back
