"""Deploy into an existing cluster's namespace (``kubeconfig:``): the images pushed to its
registry, the Services first (their ClusterIPs are the names every pod resolves), the
infrastructure as pods (Postgres, MinIO, Toxiproxy, Redis from the services image, each waited
for with its own readiness probe through the run's port-forwards), the log bucket; then the
Airflow roles as on the built-in node (testbed.k8s.deploy), the migration Job first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from testbed.core import progress
from testbed.core.errors import ClusterError, ReadinessTimeout
from testbed.k8s import deploy, existing_objects, manifests, push
from testbed.k8s.node import kubectl, node_container, role_selector
from testbed.readiness import wait_ready
from testbed.services import airflow, minio, postgres, redis, toxiproxy

INFRA_MODULES = {"postgres": postgres, "redis": redis, "minio": minio, "toxiproxy": toxiproxy}


def push_images(cluster, update: Callable[[str], None]) -> dict[str, str]:
    """The services image and the Airflow image, pushed; their names in the registry."""
    registry = cluster.topology.registry
    wanted = {"services": cluster.services_image, "airflow": cluster.image_for("scheduler")}
    return {kind: push.push(registry, image, update) for kind, image in wanted.items()}


def labelled(cluster, objs: list[dict]) -> list[dict]:
    return existing_objects.label(objs, cluster.run_id, cluster.topology.namespace)


def infrastructure(cluster, update: Callable[[str], None]) -> None:
    """Push, the Services, the infrastructure pods (each ready), the log bucket."""
    t0 = time.monotonic()
    cluster.pushed = push_images(cluster, update)
    cluster.history.append("k8s", phase="pushed", images=cluster.pushed)
    progress.done(f"images pushed to {cluster.topology.registry}", t0)
    specs = [INFRA_MODULES[n].spec(cluster, n) for n in cluster.topology.infra_pods]
    deploy.apply(cluster, labelled(cluster, existing_objects.services(cluster.topology, specs)))
    cluster.k8s_hosts = cluster_ips(cluster)
    objs = []
    for s in specs:
        objs += existing_objects.infra(s, cluster.pushed["services"], cluster.k8s_hosts)
    deploy.apply(cluster, labelled(cluster, objs))
    cluster.history.append("k8s", phase="infrastructure", pods=cluster.topology.infra_pods)
    for s in specs:
        with _explained(cluster, s.name):
            wait_infra(cluster, s.name, update)
    minio.create_log_bucket(cluster)
    cluster.timings["infrastructure"] = time.monotonic() - t0


def cluster_ips(cluster) -> dict[str, str]:
    """The ClusterIP of each Service the run applied (by name)."""
    path = '{range .items[*]}{.metadata.name}={.spec.clusterIP}{"\\n"}{end}'
    sel = f"{existing_objects.RUN_LABEL}={cluster.run_id}"
    done = kubectl(cluster, "get", "services", "-l", sel, "-o", f"jsonpath={path}")
    if done.returncode != 0:
        raise ClusterError(f"kubectl get services: {done.stderr.strip()[:300]}")
    return dict(line.split("=", 1) for line in done.stdout.split())


def wait_infra(cluster, node: str, update: Callable[[str], None]) -> None:
    probe = INFRA_MODULES[node].probe(cluster, node)
    waited = wait_ready(
        node,
        node_container(cluster),
        probe,
        timeout=cluster.ready_timeout,
        cancel=cluster._cancel,
        on_wait=lambda msg: update(f"{node}: {msg}"),
    )
    cluster.history.append("pod", role=node, state="ready", probe=probe.what, waited=waited)


def roles(cluster, update: Callable[[str], None]) -> None:
    """The Airflow roles, as on the built-in node but pulled, in the namespace, labelled."""
    topology = cluster.topology
    image = cluster.pushed["airflow"]
    objs = manifests.objects(topology, cluster.secrets, image, cluster.k8s_hosts, {})
    dags = airflow.dag_files(Path(topology.dags) if topology.dags else None)
    objs = existing_objects.adapt(objs, topology, dags)
    deploy.apply(cluster, labelled(cluster, objs))
    cluster.history.append("k8s", phase="applied", image=image, roles=topology.pods)
    for role in [manifests.MIGRATION_JOB, *topology.pods]:
        with _explained(cluster, role):
            deploy.wait_role(cluster, role, update)


@contextmanager
def _explained(cluster, role: str):
    """A role not ready in time, said with its pods' states and its last log lines (the wait
    watched the client container, which says nothing of them): an image the nodes could not
    pull shows as ``ErrImagePull``/``ImagePullBackOff`` here."""
    try:
        yield
    except ReadinessTimeout as exc:
        path = (
            "{range .items[*]}{.metadata.name} {.status.phase}"
            " {.status.initContainerStatuses[*].state.waiting.reason}"
            ' {.status.containerStatuses[*].state.waiting.reason}{"\\n"}{end}'
        )
        job = role == manifests.MIGRATION_JOB  # its pods carry the Job's name, no component
        sel = f"job-name={role}" if job else role_selector(cluster, role)
        pods = kubectl(cluster, "get", "pods", "-l", sel, "-o", f"jsonpath={path}", timeout=10)
        what = "job" if job else "deploy"
        logs = kubectl(cluster, "logs", f"{what}/{role}", "--all-containers", "--tail=15")
        state = "; ".join(pods.stdout.split("\n")).strip("; ") or "no pod"
        lines = (logs.stdout or logs.stderr).splitlines()
        raise ReadinessTimeout(role, exc.waited_for, cluster.ready_timeout, state, lines) from None
