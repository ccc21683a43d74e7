"""Deploy Airflow into the node (the boot's "airflow" phase on Kubernetes) and wait for each
role the way the Docker backend does: the migration Job completed, the API's health and the
scheduler's health check answering through their NodePorts, the dag-processor's and
triggerer's jobs heartbeating in the database (as `airflow jobs check` reads it), a Celery
worker answering Celery's ping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from testbed import airflow_config as AC
from testbed import krb5
from testbed.core import progress
from testbed.core.errors import ClusterError, ExecTimeout
from testbed.k8s import manifests
from testbed.k8s.node import exec_in_pod as k8s_exec
from testbed.k8s.node import kubectl, kubectl_node, node_container, role_selector
from testbed.readiness import NeverReady, Probe, wait_ready
from testbed.services import airflow, kdc, pg_krb
from testbed.services.airflow import CELERY_PING as CELERY_PING_SCRIPT
from testbed.services.kerberos import worker_principal
from testbed.topology import PG_KRB, role_is_worker

BESIDE = ("postgres", "redis", "minio", "toxiproxy")  # containers the pods reach by address
KERBEROS_BESIDE = {"kdc": krb5.HOST, PG_KRB: pg_krb.HOST}  # and with Kerberos, by these names
# a Celery worker pod answers a ping addressed to its own name (its hostname: the pod's)
CELERY_PING = CELERY_PING_SCRIPT.replace('"celery@$1"', '"celery@$(hostname)"')


def addresses(ctx) -> dict[str, str]:
    """The run-network address of each container the pods talk to (Redis with Celery only;
    the KDC and the kerberized target with Kerberos, by their names in the realm)."""
    out = {}
    beside = [*BESIDE, *KERBEROS_BESIDE]
    for name in (n for n in beside if n in ctx.topology.nodes):
        c = ctx.container(name)
        c.reload()
        ip = c.attrs["NetworkSettings"]["Networks"][ctx.network.name]["IPAddress"]
        out[KERBEROS_BESIDE.get(name, name)] = ip
    return out


def keytabs(ctx) -> dict[str, bytes]:
    """Each Celery worker's keytab, exported from the KDC (with Kerberos; else none): it goes
    into the worker's keytab Secret on stdin, never to the host's disk."""
    if not ctx.topology.kerberos:
        return {}
    return {w: kdc.keytab(ctx, worker_principal(w)) for w in ctx.topology.worker_names}


def apply(ctx, objs: list[dict]) -> None:
    """``kubectl apply`` the objects (on stdin: Secrets are never on a command line or printed).
    On an existing cluster server-side: a client-side apply keeps each object's whole manifest
    in an annotation, a Secret's values too, for anyone who may read the namespace's Secrets'
    metadata to see."""
    how = ("--server-side", "--force-conflicts") if ctx.topology.existing else ()
    done = kubectl(ctx, "apply", *how, "-f", "-", stdin=manifests.to_yaml(objs), timeout=60)
    if done.returncode != 0:
        raise ClusterError(f"kubectl apply: {done.stderr.strip()[:500]}")


def up(cluster, update: Callable[[str], None]) -> None:
    """Apply every object, then wait for the migration Job and each role (history: one
    ``pod`` event per role, like a container's ``ready``)."""
    image = cluster.image_for("scheduler")
    objs = manifests.objects(
        cluster.topology, cluster.secrets, image, addresses(cluster), keytabs(cluster)
    )
    apply(cluster, objs)
    cluster.history.append("k8s", phase="applied", image=image, roles=cluster.topology.pods)
    for role in [manifests.MIGRATION_JOB, *cluster.topology.pods]:
        wait_role(cluster, role, update)


def wait_role(cluster, role: str, update: Callable[[str], None] = lambda _m: None) -> float:
    probe = role_probe(cluster, role)
    waited = wait_ready(
        kubectl_node(cluster),
        node_container(cluster),
        probe,
        timeout=cluster.ready_timeout,
        cancel=cluster._cancel,
        on_wait=lambda msg: update(f"{role}: {msg}"),
    )
    cluster.history.append(
        "pod",
        role=role,
        state="ready",
        pods=pod_names(cluster, role),
        probe=probe.what,
        waited=round(waited, 3),
    )
    return waited


def role_probe(ctx, role: str) -> Probe:
    if role == manifests.MIGRATION_JOB:
        return Probe("job run-airflow-migrations succeeded", lambda: _job_done(ctx), interval=1.0)
    if role in manifests.NODE_PORTS:
        port = manifests.NODE_PORTS[role][0]
        path = manifests.HEALTH_PATHS[role]
        base = lambda: f"http://127.0.0.1:{ctx.host_port(role, port)}"  # noqa: E731
        if role == "api-server":  # health, then the Execution API's first request
            what = f"GET {path}, then {airflow.EXECUTION_WARMUP} via its Service"
            return Probe(what, lambda: airflow.api_ready(base()), interval=0.5)
        return Probe(
            f"GET {path} via its Service",
            lambda: airflow._http_ok(lambda: base() + path),
            interval=0.5,
        )
    if role_is_worker(role):
        ticket = ", then klist -s of its ticket cache" if ctx.topology.kerberos else ""
        return Probe(
            f"celery inspect ping of the {role} pod's worker{ticket}",
            lambda: _celery_alive(ctx, role),
            interval=1.0,
        )
    return Probe(
        f"{airflow.JOB_TYPES[role]} heartbeat of the {role} pod in the job table",
        lambda: _job_alive(ctx, role),
        interval=0.5,
    )


def pod_names(ctx, role: str, running_only: bool = True) -> list[str]:
    """The pods of a role (a Deployment's or the Job's), by label; ``running_only``: running
    and not being deleted (a pod draining after a delete is still in phase Running)."""
    path = '{range .items[*]}{.metadata.name}={.metadata.deletionTimestamp}{"\\n"}{end}'
    args = ["get", "pods", "-l", role_selector(ctx, role), "-o", f"jsonpath={path}"]
    if running_only:
        args += ["--field-selector", "status.phase=Running"]
    done = kubectl(ctx, *args, timeout=10)
    if done.returncode != 0:
        return []
    pods = [line.partition("=") for line in done.stdout.split()]
    return [name for name, _, deleting in pods if not (running_only and deleting)]


def node_of_pod(ctx, pod: str) -> str | None:
    """The node a pod runs (ran) on, e.g. ``k8s-node-2``; None if Kubernetes does not say."""
    done = kubectl(ctx, "get", "pod", pod, "-o", "jsonpath={.spec.nodeName}", timeout=10)
    return done.stdout.strip() or None if done.returncode == 0 else None


def role_of_pod(ctx, pod: str) -> str | None:
    """The role a pod belongs to (its ``component`` label), e.g. ``worker-2``; a task pod's is
    ``worker`` (the pod template's: no Deployment); None if Kubernetes does not say."""
    path = "jsonpath={.metadata.labels.component}"
    done = kubectl(ctx, "get", "pod", pod, "-o", path, timeout=10)
    return done.stdout.strip() or None if done.returncode == 0 else None


def _job_done(ctx) -> bool:
    """The Job succeeded; its ``Failed`` condition (the back-off limit reached) ends the wait
    with the migration's last lines."""
    path = '{.status.succeeded}/{.status.conditions[?(@.type=="Failed")].status}'
    done = kubectl(ctx, "get", "job", manifests.MIGRATION_JOB, "-o", f"jsonpath={path}")
    succeeded, _, failed = done.stdout.partition("/")
    if failed == "True":
        logs = kubectl(ctx, "logs", f"job/{manifests.MIGRATION_JOB}", "--tail=20", timeout=10)
        raise NeverReady(f"airflow db migrate failed in its Job:\n{logs.stdout[-2000:]}")
    return succeeded == "1"


def _celery_alive(ctx, role: str) -> bool:
    """The worker in the role's pod answers Celery's ping through the broker; with Kerberos,
    its shared cache also holds a valid ticket (its sidecar's first kinit done)."""
    checks = [["sh", "-c", CELERY_PING]]
    if ctx.topology.kerberos:
        checks.append(["klist", "-s", "-c", AC.CCACHE])
    try:
        return all(k8s_exec(ctx, role, cmd, timeout=20).exit_code == 0 for cmd in checks)
    except ExecTimeout:
        return False


def _job_alive(ctx, role: str) -> bool:
    """A job of the role's type, run by one of its pods (a pod's name is its hostname), is
    running and heartbeating (as `airflow jobs check` judges it)."""
    pods = pod_names(ctx, role)
    return bool(pods) and airflow.job_alive(ctx, role, pods)


def save_logs(ctx, folder) -> None:
    """What the pods said, kept in the run record before the node goes (a pod's log lives in
    the node): ``k8s-pods.txt`` (pods, nodes, events) and ``pod-<name>.log`` per pod still
    there, task pods included. Bounded: a hung API server costs a few seconds, not the
    teardown."""
    folder.mkdir(parents=True, exist_ok=True)
    listing = kubectl(ctx, "get", "pods,nodes,events", "-o", "wide", timeout=10)
    (folder / "k8s-pods.txt").write_text(listing.stdout + listing.stderr)
    # the deployment's own pods (an existing cluster's namespace may hold others)
    mine = ("-l", "release=testbed", "-o", "jsonpath={.items[*].metadata.name}")
    names = kubectl(ctx, "get", "pods", *mine, timeout=10)
    for pod in names.stdout.split()[:30]:
        done = kubectl(ctx, "logs", pod, "--all-containers", "--tail=5000", timeout=10)
        (folder / f"pod-{pod}.log").write_text(done.stdout + done.stderr)


def audit(ctx, timeout: float = 15) -> list[str]:
    """What is not as deployed: a Deployment without its one ready replica."""
    done = kubectl(
        ctx,
        "get",
        "deployments",
        "-o",
        'jsonpath={range .items[*]}{.metadata.name}={.status.readyReplicas}{"\\n"}{end}',
        timeout=timeout,
    )
    if done.returncode != 0:
        return [f"kubectl get deployments: {done.stderr.strip()[:200]}"]
    ready = dict(line.split("=", 1) for line in done.stdout.split())
    roles = [*ctx.topology.infra_pods, *ctx.topology.pods]
    return [f"deployment {r} has no ready pod" for r in roles if ready.get(r) != "1"]


def audit_settled(
    ctx, timeout: float = 30, poll: float = 1.0, why: str = "heal audit"
) -> list[str]:
    """The audit once Kubernetes has had up to ``timeout`` seconds (the calls included; the
    first may take its own 15 s) to converge. A control plane that resumes after a stall
    longer than the controller-manager's node grace (8 s here) finds its node's lease stale,
    marks the node NotReady and every pod on it unready for a few seconds (the pods leave
    their Services) until the kubelet reports again: Kubernetes recovering, not a fault left
    behind. What is still not ready then is."""
    deadline = time.monotonic() + timeout
    problems = audit(ctx)
    if not problems:
        return problems
    with progress.status(f"{why}: waiting for every Deployment's ready pod"):
        while problems and (left := deadline - time.monotonic() - poll) > 2:
            time.sleep(poll)
            problems = audit(ctx, timeout=min(15.0, left))
    return problems


def settle(ctx, role: str, gone: list[str] = (), timeout: float = 120) -> None:
    """Wait until a role's Deployment has its ready pod back, and not one of ``gone`` (pods
    deleted a moment ago may still count as ready until the controller sees them go)."""
    t0 = time.monotonic()
    with progress.status(f"waiting for the {role} pod"):
        while time.monotonic() - t0 < timeout:
            fresh = set(pod_names(ctx, role)) - set(gone)
            if fresh and not [p for p in audit(ctx) if p.startswith(f"deployment {role} ")]:
                return
            time.sleep(1)
    raise ClusterError(f"deployment {role}: no ready pod {timeout:.0f} s after the fault")


# the label the KubernetesExecutor gives every task pod it launches
TASK_POD_SELECTOR = "kubernetes_executor=True"
RESET_SETTLE = 120.0  # seconds a reset gives every Deployment to have its ready pod back


def reset(ctx) -> None:
    """Back to the Deployments as deployed, for the next scenario: the pods still reach the
    containers beside the node at the addresses they were given (a container restarted at
    another address makes the cluster unusable), the task pods a scenario left are deleted at
    once (their runs were failed), and every Deployment has its ready pod, each role answering
    its probe as at boot (a node restarted by a heal brings its pods back; a replaced Celery
    worker must have joined the broker); raises with what is not so."""
    moved = moved_addresses(ctx)
    if moved:
        raise ClusterError(f"reset: the pods' host aliases are stale: {', '.join(moved)}")
    done = kubectl(ctx, "delete", "pods", "-l", TASK_POD_SELECTOR, "--grace-period=0", "--force")
    if done.returncode != 0:
        raise ClusterError(f"reset: kubectl delete task pods: {done.stderr.strip()[:300]}")
    problems = audit_settled(ctx, timeout=RESET_SETTLE, why="reset")
    if problems:
        raise ClusterError(f"reset: {'; '.join(problems)}")
    for role in ctx.topology.pods:
        wait_role(ctx, role)


def moved_addresses(ctx) -> list[str]:
    """The containers beside the node whose address is no longer the one the pods' host
    aliases give (read from the scheduler's Deployment)."""
    path = '{range .spec.template.spec.hostAliases[*]}{.hostnames[0]}={.ip}{"\\n"}{end}'
    done = kubectl(ctx, "get", "deployment", "scheduler", "-o", f"jsonpath={path}")
    if done.returncode != 0:
        raise ClusterError(f"reset: kubectl get deployment: {done.stderr.strip()[:300]}")
    given = dict(line.split("=", 1) for line in done.stdout.split())
    now = addresses(ctx)
    return [f"{n} {given.get(n)} -> {ip}" for n, ip in sorted(now.items()) if given.get(n) != ip]
