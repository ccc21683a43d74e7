"""The backends a cluster runs its Airflow roles on: ``docker`` (containers) and ``kubernetes``
(pods in a Kubernetes node built here, testbed.k8s). :func:`backend_for` picks one for a
topology; it is the only place that asks a topology which backend it has. What each backend
supports (executors, node counts, Kerberos, the steps not built for it yet) is a table of the
topology model, :data:`testbed.backend_limits.BACKEND_LIMITS`, that the scenario validation asks.

``base``: the :class:`~testbed.backends.base.Backend` protocol; ``docker`` and ``kubernetes``:
the two implementations.
"""

from __future__ import annotations

from testbed.backends.base import Backend
from testbed.backends.docker import DockerBackend
from testbed.backends.existing import ExistingClusterBackend
from testbed.backends.kubernetes import KubernetesBackend
from testbed.topology import Topology

__all__ = ["Backend", "DockerBackend", "ExistingClusterBackend", "KubernetesBackend", "backend_for"]


def backend_for(topology: Topology) -> Backend:
    """The backend that runs ``topology``'s Airflow roles."""
    if topology.existing:
        return ExistingClusterBackend()
    return KubernetesBackend() if topology.kubernetes else DockerBackend()
