"""The testbed's images, built locally and offline; the engine never pulls.

Four kinds, each tagged with a hash of its inputs so that a rebuild with nothing changed is a
no-op (one ``docker images`` look-up):

- ``testbed-base``: Debian trixie, debootstrapped on the host and ``docker import``-ed;
- ``testbed-services``: Postgres, Redis, a krb5 KDC (Debian), MinIO and Toxiproxy (Go modules);
- ``testbed-airflow-deps``: what every Airflow version shares (the default version's lock
  without Airflow's own packages, the C extensions compiled once, the diagnostic tools);
- ``testbed-airflow:<version>-<hash>``: one version's committed lock synced onto it.

The Kubernetes node (:mod:`testbed.images.k8s_node`) has a recipe of its own.

A fourth kind, ``testbed-pgdata``, is not built here: it is a Postgres snapshot with Airflow's
schema already migrated (see :mod:`testbed.services.postgres`), made on a cluster's first boot.
"""

from testbed.images.catalog import (
    AIRFLOW_VERSIONS,
    DEFAULT_AIRFLOW_VERSION,
    ImageRef,
    airflow_ref,
    base_ref,
    services_ref,
)

__all__ = [
    "AIRFLOW_VERSIONS",
    "DEFAULT_AIRFLOW_VERSION",
    "ImageRef",
    "airflow_ref",
    "base_ref",
    "services_ref",
]
