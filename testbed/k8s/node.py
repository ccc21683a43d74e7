"""The Kubernetes node container: its spec (the flags a kubelet needs on this Docker, found by
the trial: every capability but SYS_RESOURCE, no seccomp/AppArmor profile, every device, its
own cgroup namespace, containerd's root on a tmpfs; never ``--privileged``, which this engine
refuses, and never a writable /proc/sys), its readiness, and ``kubectl`` run inside it.

A service module like testbed.services.*: ``spec(ctx, node)`` and ``probe(ctx, node)``.
"""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from docker.models.containers import Container

from testbed import airflow_config as AC
from testbed import runtime
from testbed.core.errors import ClusterError, ExecTimeout
from testbed.images import k8s_node as k8s_image
from testbed.k8s.manifests import DAGS_ON_NODE, NODE_PORTS
from testbed.k8s.meta import RUN_LABEL
from testbed.readiness import NeverReady, Probe
from testbed.runtime import NodeSpec
from testbed.services import Ctx
from testbed.services.airflow import dag_files
from testbed.topology import K8S_CLIENT, K8S_NODE

ENGINE_OPTIONS = {
    "cap_add": ["ALL"],
    "cap_drop": ["SYS_RESOURCE"],
    "security_opt": ["seccomp=unconfined", "apparmor=unconfined"],
    "device_cgroup_rules": ["a *:* rwm"],
    "cgroupns": "private",
    "tmpfs": {"/var/lib/containerd": "rw,exec,mode=755", "/run": "rw,exec,mode=755"},
    # the node's own network namespace: kube-proxy and pod routing need these
    "sysctls": {"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.route_localnet": "1"},
}
# the entrypoint stamps "[k8s-node  4.7s] node <name> Ready" and "images imported: ..."
IMPORTED_MARK = "images imported:"


def spec(ctx: Ctx, node: str) -> NodeSpec:
    """A node: the recipe's image, the Airflow image's tarball mounted for import, the DAG
    folder copied in (the pods mount it), its pod subnet and its peers'. The control plane
    (``k8s-node``) publishes the NodePorts and writes a bundle (certificates, kubeconfigs) for
    each worker node, which gets it copied in before it starts."""
    topology = ctx.topology
    names = [K8S_NODE, *topology.k8s_workers]
    env = {"K8S_POD_SUBNET": pod_subnet(node), "K8S_POOL": "system"}
    if len(names) > 1:
        env["K8S_PEERS"] = " ".join(f"{n}={pod_subnet(n)}" for n in names)
    files = _dags(ctx)
    if node == K8S_NODE:
        env["K8S_WORKERS"] = " ".join(topology.k8s_workers)
        ports = [node_port for _, node_port in NODE_PORTS.values()]
    else:
        env.update(K8S_ROLE="worker", K8S_POOL="tasks")
        files.update(_bundle(ctx, node))
        ports = []
    return NodeSpec(
        name=node,
        role="k8s-node",
        image=k8s_image.node_image(),
        command=[],
        env={k: v for k, v in env.items() if v},
        files=files,
        ports=ports,
        file_uid=0,
        binds={str(k8s_image.saved_image(ctx.image_for("scheduler"))): "/opt/images/airflow"},
        engine=dict(ENGINE_OPTIONS),
    )


def pod_subnet(node: str) -> str:
    """``k8s-node`` 10.244.0.0/24, ``k8s-node-2`` 10.244.1.0/24, ..."""
    index = int(node.rsplit("-", 1)[1]) if node != K8S_NODE else 1
    return f"10.244.{index - 1}.0/24"


def _dags(ctx: Ctx) -> dict[str, tuple[bytes, int]]:
    dags = ctx.topology.dags
    prefix = len(AC.DAGS_FOLDER) + 1
    return {
        f"{DAGS_ON_NODE}/{path[prefix:]}": data
        for path, data in dag_files(Path(dags) if dags else None).items()
    }


BUNDLE = (
    "pki/ca.crt",
    "pki/kubelet.crt",
    "pki/kubelet.key",
    "pki/kube-proxy.crt",
    "pki/kube-proxy.key",
    "kubelet.conf",
    "kube-proxy.conf",
)


def _bundle(ctx: Ctx, node: str) -> dict[str, tuple[bytes, int]]:
    """What the control plane wrote for ``node`` (read from it), as the worker's files."""
    out = {}
    for rel in BUNDLE:
        r = runtime.exec_run(
            ctx.container(K8S_NODE), ["cat", f"/etc/kubernetes/nodes/{node}/{rel}"], timeout=10
        )
        if r.exit_code != 0:
            raise ClusterError(f"{K8S_NODE} has no bundle for {node}: {r.output.strip()[:200]}")
        mode = 0o600 if rel.endswith(".key") else 0o644
        out[f"/etc/kubernetes/{rel}"] = (r.output.encode(), mode)
    return out


def probe(ctx: Ctx, node: str) -> Probe:
    ready_line = ready_stamp(node)

    def ready() -> bool:
        logs = _logs_since_start(ctx.container(node))
        if "image import failed" in logs:
            raise NeverReady(f"{node}: " + logs.split("image import failed", 1)[1][:200])
        up = ready_line.search(logs) is not None and IMPORTED_MARK in logs
        return up and (node != K8S_NODE or _accounts(ctx))

    return Probe("node Ready, images imported, service accounts made", ready, interval=0.5)


def ready_stamp(node: str) -> re.Pattern:
    """The entrypoint's line saying the node is Ready (not its "TIMEOUT waiting for ... Ready")."""
    return re.compile(rf"\] node {re.escape(node)} Ready$", re.M)


def _logs_since_start(container) -> str:
    """The entrypoint's stamps of this start only (a restarted node's log still holds the
    last start's "Ready")."""
    started = runtime.started_at(container)
    if started is None:
        return ""
    raw = container.logs(stdout=True, stderr=True, since=int(started.timestamp()))
    return raw.decode("utf-8", "replace")


def _accounts(ctx: Ctx) -> bool:
    """The controller-manager makes the namespace's ``default`` account a few seconds after the
    node is Ready; a pod created before that is refused."""
    return kubectl(ctx, "get", "serviceaccount", "default", timeout=10).returncode == 0


def kubectl_node(ctx: Ctx) -> str:
    """Where ``kubectl`` runs: the control plane's node, or for an existing cluster the
    client holding its kubeconfig (testbed.k8s.client)."""
    return K8S_CLIENT if ctx.topology.existing else K8S_NODE


def role_selector(ctx: Ctx, role: str) -> str:
    """The label selector of a role's pods: its ``component``, and on an existing cluster the
    run's label too (the namespace may hold another Airflow's pods of that component)."""
    if ctx.topology.existing:
        return f"component={role},{RUN_LABEL}={ctx.run_id}"
    return f"component={role}"


def node_container(ctx: Ctx) -> Container:
    """The container ``kubectl`` runs in (:func:`kubectl_node`)."""
    return ctx.container(kubectl_node(ctx))


def kubectl(
    ctx: Ctx, *args: str, stdin: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess:
    """``kubectl`` inside the node (its admin kubeconfig), or the client of an existing
    cluster, in the run's namespace; output captured, never printed (a Secret's manifest goes
    in on stdin)."""
    name = node_container(ctx).name
    if args and args[0] != "exec":  # bounded inside too: a hung API server holds no kubectl
        args = (*args, f"--request-timeout={max(1, int(timeout))}s")
    ns = ("-n", ctx.topology.namespace)
    cmd = ["docker", "exec", *(["-i"] if stdin is not None else []), name, "kubectl", *ns, *args]
    try:
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(
            cmd, 124, "", f"kubectl {args[0]}: no answer in {timeout} s"
        )


def pod_output(ctx: Ctx, role: str, since_wall: float, timeout: float = 12) -> str:
    """What the running pod of a role's Deployment wrote since ``since_wall`` (its role's
    container), its previous container's output first when it was restarted (as a restarted
    Docker container's log keeps what it wrote before); raises when the API does not answer
    (an observation records the error)."""
    since = datetime.fromtimestamp(since_wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    args = ("logs", f"deploy/{role}", "-c", role, f"--since-time={since}")
    before = kubectl(ctx, *args, "--previous", timeout=timeout / 2)  # fails: never restarted
    done = kubectl(ctx, *args, timeout=timeout / 2)
    if done.returncode != 0:
        raise RuntimeError(f"kubectl logs {role}: {done.stderr.strip()[-200:]}")
    return (before.stdout if before.returncode == 0 else "") + done.stdout


def exec_in_pod(ctx: Ctx, role: str, cmd: list[str], *, timeout: float) -> runtime.ExecResult:
    """Run ``cmd`` in the running pod of a role's Deployment (``kubectl exec``), bounded like
    :func:`testbed.runtime.exec_run`: killed inside after ``timeout``, abandoned outside."""
    wrapped = ["exec", f"deploy/{role}", "-c", role, "--", "timeout", "-s", "KILL", f"{timeout:g}"]
    done = kubectl(ctx, *wrapped, *cmd, timeout=timeout + 10)
    if done.returncode in (124, 137):
        raise ExecTimeout(role, cmd, timeout)
    # stdout alone when it worked (callers read its last line; kubectl cannot interleave the
    # two streams as they came), both when it did not
    out = done.stdout if done.returncode == 0 else done.stdout + done.stderr
    return runtime.ExecResult(done.returncode, out)
