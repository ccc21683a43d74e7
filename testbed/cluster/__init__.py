"""A topology turned into running nodes: :class:`Cluster` and the collaborators it hands its
jobs to (each a module of plain functions taking the cluster; none imports the cluster):

- :mod:`~testbed.cluster.core`: the :class:`Cluster` itself: its identity (run id, labels,
  images, secrets, history), its nodes and the context the service modules build them from;
- :mod:`~testbed.cluster.boot`: the boot in dependency order, phase by phase, and its CPU weight;
- :mod:`~testbed.cluster.migration`: the metadata database's migration, or its snapshot;
- :mod:`~testbed.cluster.nodes`: a node's spec, creation, start, readiness wait and removal;
- :mod:`~testbed.cluster.record`: the run record (``run.json``) and the saved logs;
- :mod:`~testbed.cluster.teardown`: removing every object of the run.
"""

from testbed.cluster.boot import BOOT_WEIGHT, DEFAULT_WEIGHT
from testbed.cluster.core import Cluster
from testbed.cluster.migration import MIGRATE_TIMEOUT
from testbed.cluster.nodes import SERVICE_MODULES, service_module

__all__ = [
    "BOOT_WEIGHT",
    "DEFAULT_WEIGHT",
    "MIGRATE_TIMEOUT",
    "SERVICE_MODULES",
    "Cluster",
    "service_module",
]
