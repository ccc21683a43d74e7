"""A new Airflow image rolled out to the deployment, as ``helm upgrade`` does it: the image
side-loaded into every node's containerd (no registry: what a pull would do), the
configuration that names the image applied again, the migration Job run again with the new
image, and one Deployment's pods replaced by its update strategy (``kubectl set image``,
then the rollout followed until the new pod is the only one and answers its probe). For a
downtime window: a Deployment scaled to zero and waited for until its pods are gone, the
task pods waited for, a Deployment scaled back up.
"""

from __future__ import annotations

import subprocess
import time

from testbed.core import progress
from testbed.core.errors import ClusterError
from testbed.images import k8s_node as k8s_image
from testbed.k8s import deploy, kerberos, manifests
from testbed.k8s.node import kubectl, role_selector
from testbed.topology import K8S_NODE, role_is_worker

IMPORT_TIMEOUT = 300.0  # seconds one node may take to import a ~1 GB image
# the rollout's own fields: generation observed, every pod updated, available, and no other
ROLLOUT = (
    "{.metadata.generation}/{.status.observedGeneration}/{.spec.replicas}/"
    "{.status.replicas}/{.status.updatedReplicas}/{.status.availableReplicas}"
)


def load_image(cluster, image: str) -> list[str]:
    """``image`` imported into the containerd of every Kubernetes node (from its ``docker
    save`` tarball, made once on the host and streamed in); returns the nodes."""
    tar = k8s_image.saved_image(image) / "image.tar"
    nodes = [K8S_NODE, *cluster.topology.k8s_workers]
    for node in nodes:
        name = cluster.container(node).name
        cmd = ["docker", "exec", "-i", name, "ctr", "-n", "k8s.io", "images", "import", "-"]
        with progress.status(f"importing {image} into {node}"), tar.open("rb") as stream:
            try:
                done = subprocess.run(
                    cmd, stdin=stream, capture_output=True, text=True, timeout=IMPORT_TIMEOUT
                )
            except subprocess.TimeoutExpired:
                raise ClusterError(f"{node}: image import took over {IMPORT_TIMEOUT:g} s") from None
        if done.returncode != 0:
            raise ClusterError(f"{node}: ctr images import: {done.stderr.strip()[-300:]}")
    return nodes


def _objects(cluster, image: str) -> list[dict]:
    hosts = deploy.addresses(cluster)
    return manifests.objects(cluster.topology, cluster.secrets, image, hosts)


def apply_config(cluster, image: str) -> list[str]:
    """The Secrets of the roles' environment (the KubernetesExecutor's image among it) and the
    task pod template, applied again for ``image``; the pods already running keep theirs (an
    environment is read when a pod starts: the running scheduler still launches task pods of
    the old image until it is rolled). Returns the objects' names."""
    objs = config_objects(_objects(cluster, image))
    deploy.apply(cluster, objs)
    return [o["metadata"]["name"] for o in objs]


def config_objects(objs: list[dict]) -> list[dict]:
    """Of every object, those that name the image for pods started later: the roles'
    environment Secrets and the task pod template (not the Deployments, the Job, the files
    Secrets, the accounts or the Services)."""
    return [
        o
        for o in objs
        if o["kind"] == "ConfigMap" or o["metadata"]["name"].startswith("airflow-env-")
    ]


def rerun_migration_job(cluster, image: str) -> None:
    """The migration Job made again from ``image`` (a Job's pod template cannot change: the
    chart's hook deletes the last one first) and waited for."""
    done = kubectl(cluster, "delete", "job", manifests.MIGRATION_JOB, "--ignore-not-found",
                   "--wait=true", timeout=60)  # fmt: skip
    if done.returncode != 0:
        raise ClusterError(f"kubectl delete job: {done.stderr.strip()[:300]}")
    job = next(o for o in _objects(cluster, image) if o["kind"] == "Job")
    deploy.apply(cluster, [job])
    deploy.wait_role(cluster, manifests.MIGRATION_JOB)


def set_image(cluster, role: str, image: str) -> None:
    """The role's container on ``image``; a Celery worker's Kerberos sidecar too, as
    ``helm upgrade`` rolls the whole pod (the same Airflow image)."""
    containers = [f"{role}={image}"]
    if cluster.topology.kerberos and role_is_worker(role):
        containers.append(f"{kerberos.SIDECAR}={image}")
    done = kubectl(cluster, "set", "image", f"deployment/{role}", *containers)
    if done.returncode != 0:
        raise ClusterError(f"kubectl set image {role}: {done.stderr.strip()[:300]}")


def wait_rollout(cluster, role: str, timeout: float, cancelled) -> float:
    """Wait until the Deployment's rollout is done: its change observed, its one pod updated
    and available, and no other pod left — the Deployment's status does not count a pod being
    deleted, so the old one (in its preStop sleep, or shutting down) is waited for by name;
    then its role's probe answers. Returns the seconds waited."""
    t0 = time.monotonic()
    seen = ""
    path = f"jsonpath={ROLLOUT}"
    with progress.status(f"rolling deployment/{role}") as update:
        while True:
            done = kubectl(cluster, "get", "deployment", role, "-o", path, timeout=10)
            seen = done.stdout.strip() if done.returncode == 0 else done.stderr.strip()[:200]
            pods = live_pods(cluster, role)
            if _rolled(seen) and pods is not None and len(pods) == 1:
                break
            if _rolled(seen):
                seen = f"{len(pods or ())} pods: the old one stopping"
            if time.monotonic() - t0 > timeout or cancelled.is_set():
                raise ClusterError(f"deployment/{role} not rolled out in {timeout:g} s: {seen}")
            update(f"{role}: {_describe(seen)}")
            cancelled.wait(1.0)
    deploy.wait_role(cluster, role)
    return time.monotonic() - t0


def live_pods(cluster, role: str) -> list[str] | None:
    """The role's pods not yet ended (pending or running, one being deleted included; not an
    evicted or failed one left behind); None when Kubernetes does not say."""
    path = '{range .items[*]}{.metadata.name}={.status.phase}{"\\n"}{end}'
    sel = role_selector(cluster, role)
    done = kubectl(cluster, "get", "pods", "-l", sel, "-o", f"jsonpath={path}", timeout=10)
    if done.returncode != 0:
        return None
    pods = [line.partition("=") for line in done.stdout.split()]
    return [name for name, _, phase in pods if phase in ("Pending", "Running")]


def _counts(fields: str) -> list[int] | None:
    """``generation/observed/wanted/pods/updated/available`` as numbers (an absent count, which
    Kubernetes leaves out when it is 0, as 0); None when it is not that (an error)."""
    parts = fields.split("/")
    if len(parts) != 6 or not all(p.isdigit() or p == "" for p in parts):
        return None
    return [int(p or 0) for p in parts]


def _rolled(fields: str) -> bool:
    """The rollout is done: its change observed, and its one pod updated and available."""
    counts = _counts(fields)
    if counts is None:
        return False
    generation, observed, wanted, pods, updated, available = counts
    return observed >= generation and pods == updated == available == wanted


def _describe(fields: str) -> str:
    counts = _counts(fields)
    if counts is None:  # an error, or already a description
        return fields
    _, _, wanted, pods, updated, available = counts
    if pods == 0:  # Recreate: the old pod is draining, or the new one is not created yet
        return "no running pod: the old one finishing (a warm shutdown) or the new one starting"
    return f"{pods} pod(s), {updated} of the new image, {available} of {wanted} available"


def scale(cluster, role: str, replicas: int) -> None:
    done = kubectl(cluster, "scale", f"deployment/{role}", f"--replicas={replicas}")
    if done.returncode != 0:
        raise ClusterError(f"kubectl scale {role}: {done.stderr.strip()[:300]}")


def _wait_none(what: str, count, timeout: float, cancelled) -> float:
    """Wait until ``count()`` is 0 (each look bounded); returns the seconds waited."""
    t0 = time.monotonic()
    with progress.status(f"waiting until {what}") as update:
        while (left := count()) != 0:
            if time.monotonic() - t0 > timeout or cancelled.is_set():
                raise ClusterError(f"{what}: still {left} after {timeout:g} s")
            update(f"{what}: {left} left")
            cancelled.wait(1.0)
    return time.monotonic() - t0


def wait_gone(cluster, role: str, timeout: float, cancelled) -> float:
    """Wait until no pod of the role is left, a terminating one included (a Celery worker
    finishing its tasks in its warm shutdown)."""

    def count() -> int:  # -1: Kubernetes did not say (not 0: the wait goes on)
        pods = live_pods(cluster, role)
        return -1 if pods is None else len(pods)

    return _wait_none(f"no {role} pod is left", count, timeout, cancelled)


def running_task_pods(cluster) -> int:
    """How many of the KubernetesExecutor's task pods run (-1 when Kubernetes does not say:
    not 0, so a wait goes on)."""
    done = kubectl(cluster, "get", "pods", "-l", deploy.TASK_POD_SELECTOR, "--field-selector",
                   "status.phase=Running", "-o", "name", timeout=10)  # fmt: skip
    return len(done.stdout.split()) if done.returncode == 0 else -1


def wait_task_pods(cluster, timeout: float, cancelled) -> float:
    return _wait_none("no task pod runs", lambda: running_task_pods(cluster), timeout, cancelled)
