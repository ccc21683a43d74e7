"""A topology turned into running nodes: :class:`Cluster` and what it hands its jobs to.

- :mod:`~testbed.cluster.core`: the :class:`Cluster` itself: its identity (run id, labels,
  images, secrets), its nodes and the context the service modules build them from.
"""

from testbed.cluster.core import (
    BOOT_WEIGHT,
    DEFAULT_WEIGHT,
    MIGRATE_TIMEOUT,
    SERVICE_MODULES,
    Cluster,
    service_module,
)

__all__ = [
    "BOOT_WEIGHT",
    "DEFAULT_WEIGHT",
    "MIGRATE_TIMEOUT",
    "SERVICE_MODULES",
    "Cluster",
    "service_module",
]
