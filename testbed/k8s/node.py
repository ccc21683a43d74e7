"""The Kubernetes node container: its spec (the flags a kubelet needs on this Docker, found by
the trial: every capability but SYS_RESOURCE, no seccomp/AppArmor profile, every device, its
own cgroup namespace, containerd's root on a tmpfs; never ``--privileged``, which this engine
refuses, and never a writable /proc/sys), its readiness, and ``kubectl`` run inside it.

A service module like testbed.services.*: ``spec(ctx, node)`` and ``probe(ctx, node)``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from testbed import airflow_config as AC
from testbed import runtime
from testbed.errors import ClusterError, ExecTimeout
from testbed.k8s import image as k8s_image
from testbed.k8s.manifests import DAGS_ON_NODE, NODE_PORTS
from testbed.readiness import Probe
from testbed.runtime import NodeSpec
from testbed.services import Ctx
from testbed.services.airflow import dag_files

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
READY_MARK = "Ready"  # the entrypoint stamps "node <name> Ready" and "images imported: ..."
IMPORTED_MARK = "images imported:"


def spec(ctx: Ctx, node: str) -> NodeSpec:
    """The node: the recipe's image, the Airflow image's tarball mounted for import, the DAG
    folder copied in (task pods and the dag-processor mount it), the NodePorts published."""
    dags = ctx.topology.dags
    prefix = len(AC.DAGS_FOLDER) + 1
    files = {
        f"{DAGS_ON_NODE}/{path[prefix:]}": data
        for path, data in dag_files(Path(dags) if dags else None).items()
    }
    return NodeSpec(
        name=node,
        role="k8s-node",
        image=k8s_image.node_image(),
        command=[],
        files=files,
        ports=[node_port for _, node_port in NODE_PORTS.values()],
        file_uid=50000,
        binds={str(k8s_image.saved_image(ctx.image_for("scheduler"))): "/opt/images/airflow"},
        engine=dict(ENGINE_OPTIONS),
    )


def probe(ctx: Ctx, node: str) -> Probe:
    def ready() -> bool:
        logs = "\n".join(runtime.logs_tail(ctx.container(node), 60))
        if "image import failed" in logs:
            raise ClusterError(f"{node}: " + logs.split("image import failed", 1)[1][:200])
        return f"node {node} {READY_MARK}" in logs and IMPORTED_MARK in logs and _accounts(ctx)

    return Probe("node Ready, images imported, service accounts made", ready, interval=0.5)


def _accounts(ctx: Ctx) -> bool:
    """The controller-manager makes the namespace's ``default`` account a few seconds after the
    node is Ready; a pod created before that is refused."""
    return kubectl(ctx, "get", "serviceaccount", "default", timeout=10).returncode == 0


def kubectl(
    ctx: Ctx, *args: str, stdin: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess:
    """``kubectl`` inside the node (its admin kubeconfig); output captured, never printed
    (a Secret's manifest goes in on stdin)."""
    from testbed.k8s.deploy import node_container

    name = node_container(ctx).name
    cmd = ["docker", "exec", *(["-i"] if stdin is not None else []), name, "kubectl", *args]
    try:
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(
            cmd, 124, "", f"kubectl {args[0]}: no answer in {timeout} s"
        )


def exec_in_pod(ctx: Ctx, role: str, cmd: list[str], *, timeout: float) -> runtime.ExecResult:
    """Run ``cmd`` in the running pod of a role's Deployment (``kubectl exec``), bounded like
    :func:`testbed.runtime.exec_run`: killed inside after ``timeout``, abandoned outside."""
    wrapped = ["exec", f"deploy/{role}", "-c", role, "--", "timeout", "-s", "KILL", f"{timeout:g}"]
    done = kubectl(ctx, *wrapped, *cmd, timeout=timeout + 10)
    if done.returncode in (124, 137):
        raise ExecTimeout(role, cmd, timeout)
    return runtime.ExecResult(done.returncode, done.stdout + done.stderr)
