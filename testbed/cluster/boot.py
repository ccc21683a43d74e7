"""A cluster's boot, in dependency order (independent roles in parallel), readiness per role.

Boot order: network -> postgres, redis, minio, toxiproxy (and the KDC, with Kerberos)
(parallel) -> log bucket -> ``airflow db migrate`` (or a migrated snapshot,
:mod:`~testbed.cluster.migration`) -> api-server, scheduler, dag-processor, triggerer and the
workers (and, with Kerberos, each worker's ticket refresher and the kerberized Postgres)
(parallel). The Airflow roles are the backend's to boot (testbed.backends): containers on
Docker; with ``backend: kubernetes`` the Kubernetes node boots with the infrastructure, and the
roles are deployed into it as pods (testbed.k8s.deploy) instead of containers. A failure or
Ctrl-C at any point removes everything the run created before the error propagates.

A boot may run at a low CPU weight (``boot_weight``, cgroup v1 ``cpu.shares``) beside another
cluster's drill, back to the default once every node is ready.

``cluster`` is the :class:`~testbed.cluster.Cluster` (typed loosely: the cluster imports this
module).
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

import docker.errors
import requests

from testbed import runtime
from testbed.cluster import migration, nodes, record
from testbed.core import progress
from testbed.core.errors import ImageMissing
from testbed.images import build as image_build
from testbed.services import minio

DEFAULT_WEIGHT = nodes.DEFAULT_WEIGHT
BOOT_WEIGHT = 128  # cpu.shares of a boot beside a drill: 1/8 of a drill's under contention


def up(cluster: Any) -> None:
    """Boot every node and wait until each is ready; on any failure, remove everything."""
    started = time.monotonic()
    try:
        check_images(cluster)
        migration.pick_postgres_image(cluster)
        cluster.secrets.save(cluster.dir / "secrets")
        _record_boot(cluster)
        cluster.network = runtime.create_network(cluster.run_id, cluster.labels)
        if not cluster.backend.boot_infrastructure(cluster):
            _boot_infrastructure(cluster)
        try:
            cluster.backend.boot_roles(cluster)
        finally:
            cluster._created.clear()  # only the boot's own specs: later starts create anew
        restore_default_weight(cluster)
        cluster.timings["total"] = time.monotonic() - started
        cluster.mark_good()
        cluster.history.append("cluster", phase="ready", timings=cluster.timings)
        # its URLs are looked up here: a node gone since its readiness fails the boot too,
        # and the cluster is removed like any failed boot's (never left running unrecorded)
        record.write(cluster, state="running")
    except BaseException:
        cluster._cancel.set()
        cluster.down(reason="boot failed")
        raise


def _record_boot(cluster: Any) -> None:
    cluster.history.append(
        "cluster",
        phase="boot",
        run_id=cluster.run_id,
        topology=cluster.topology.nodes,
        config=cluster.topology.flat_effective(),
        timescale=cluster.topology.timescale,
        boot_weight=cluster.boot_weight,
    )


def _boot_infrastructure(cluster: Any) -> None:
    """The infrastructure phase, the log bucket and the migration; creating the Airflow
    roles' containers is the engine's work, overlapped with them (not the Kerberos nodes':
    their specs hold keytabs the KDC exports once up)."""
    with ThreadPoolExecutor(4) as early:
        made = [early.submit(nodes.create, cluster, n) for n in cluster.topology.airflow_nodes]
        phase(cluster, "infrastructure", cluster.topology.infra_nodes)
        minio.create_log_bucket(cluster)
        migration.migrate(cluster)
        for f in made:
            f.result()


def check_images(cluster: Any) -> None:
    """Every image the boot needs is built (else ImageMissing, saying how to build them)."""
    wanted = [cluster.services_image, cluster.airflow_image, cluster.image_for("scheduler")]
    wanted += cluster.backend.images()
    missing = [n for n in wanted if not image_build.exists_name(n)]
    if missing:
        raise ImageMissing(
            f"image(s) not built: {', '.join(dict.fromkeys(missing))}",
            hint="run `testbed images build` (--kubernetes for the node) or `make images`; "
            "a scenario's extra "
            "requirements are built by `testbed run`",
        )


def phase(cluster: Any, name: str, names: list[str]) -> None:
    """Create and start the nodes ``names`` in parallel, then wait for each to be ready."""
    t0 = time.monotonic()
    with progress.status(f"booting {name}") as update, ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(nodes.start_and_wait, cluster, n, update) for n in names]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for f in done:
                f.result()  # the first failure propagates
        except BaseException:
            cluster._cancel.set()
            raise
    cluster.timings[name] = time.monotonic() - t0
    progress.done(f"{name} ready: {', '.join(names)}", t0)


def restore_default_weight(cluster: Any) -> None:
    """The boot's low CPU weight ends with the boot: every node back to the default. A node
    left at the low weight slows this cluster's drills, no more: warned and recorded."""
    if not cluster.boot_weight:
        return
    cluster.boot_weight, failed = None, []
    for node, c in list(cluster.nodes.items()):
        try:
            c.update(cpu_shares=DEFAULT_WEIGHT)
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, requests.RequestException) as exc:
            failed.append(f"{node}: {exc}"[:200])
    if failed:
        progress.warn(f"left at the boot's low CPU weight: {'; '.join(failed)}")
    cluster.history.append("cluster", phase="weight", cpu_shares=DEFAULT_WEIGHT, failed=failed)
