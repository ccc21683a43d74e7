"""What a backend does for a :class:`testbed.cluster.Cluster`: the cluster boots the network,
the infrastructure, the log bucket and the migration the same way on every backend, then the
backend boots the Airflow roles; the backend runs commands in nodes and roles, finds their host
ports, keeps their logs, audits its own part after a heal, names the images it needs beyond
Airflow's, says whether a cluster of it can be reset and reused and resets its own part.

Every method takes the cluster (``cluster``): a backend holds no state of its own.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from testbed.runtime import ExecResult


@runtime_checkable
class Backend(Protocol):
    name: str
    # a cluster of this backend can be reset to its topology and serve the next scenario
    reusable: bool
    # a pool may boot the next scenario's cluster of this backend beside a running drill
    boots_ahead: bool

    def images(self) -> list[str]:
        """The images this backend needs beyond the Airflow and services images."""
        ...

    def boot_infrastructure(self, cluster: Any) -> bool:
        """Boot the infrastructure (and migrate) in this backend's own way and return True,
        or return False for the cluster's (containers, then the migration)."""
        ...

    def boot_roles(self, cluster: Any) -> None:
        """Boot the Airflow roles (after the infrastructure and the migration) and wait until
        each is ready."""
        ...

    def exec_in(self, cluster: Any, node: str, cmd: list[str], *, timeout: float) -> ExecResult:
        """Run ``cmd`` in a node (or a role), bounded by ``timeout``."""
        ...

    def host_port(self, cluster: Any, node: str, port: int) -> int:
        """The host port ``port`` of ``node`` (or a role) is published on."""
        ...

    def diag_exec(
        self, cluster: Any, node: str, cmd: list[str], *, timeout: float, user: str | None = None
    ) -> ExecResult:
        """Run ``cmd`` in a node (or a role) as ``user``, without its control plane: hang
        diagnostics, where the control plane may be what hangs."""
        ...

    def state(self, cluster: Any, node: str) -> str:
        """A node's (or a role's) state: ``running``, ``paused``, ``exited(N)``, ..."""
        ...

    def output_tail(self, cluster: Any, node: str, lines: int) -> list[str]:
        """The last ``lines`` a node (or a role) wrote, read without its control plane."""
        ...

    def output(self, cluster: Any, node: str, since_wall: float) -> str:
        """What a node (or a role) wrote to its output since ``since_wall`` (epoch seconds)."""
        ...

    def save_logs(self, cluster: Any, folder: Any) -> None:
        """Keep what only this backend holds (beyond the containers' logs) in ``folder``."""
        ...

    def reset(self, cluster: Any) -> None:
        """This backend's part of a reset between scenarios (after the nodes, links and
        database are back, :mod:`testbed.reset`); raises when the cluster cannot be reused."""
        ...

    def audit(self, cluster: Any, problems: list[str]) -> list[str]:
        """This backend's part of the heal audit, given the problems found so far."""
        ...

    def node_of_host(self, cluster: Any, host: str) -> str:
        """The node a task ran on, from the hostname it recorded."""
        ...

    def role_of_host(self, cluster: Any, host: str) -> str:
        """The role (a pod's Deployment) a task ran in, from the hostname it recorded."""
        ...
