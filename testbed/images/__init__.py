"""The testbed's images, built locally and offline; the engine never pulls.

Four kinds, each tagged with a hash of its inputs so that a rebuild with nothing changed is a
no-op (one ``docker images`` look-up):

- ``testbed-base``: Debian debootstrapped on the host and ``docker import``-ed (trixie under
  Airflow 3 and the services, bookworm under Airflow 2: one per Airflow major version);
- ``testbed-services``: Postgres, Redis, a krb5 KDC (Debian), MinIO and Toxiproxy (Go modules);
- ``testbed-airflow-deps``: what every version of one Airflow major version shares (its
  default version's lock without Airflow's own packages, the C extensions compiled once, the
  diagnostic tools);
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
