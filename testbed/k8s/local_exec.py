"""Reaching a role's pod without the Kubernetes API: containerd's own client (``ctr``) inside
the Kubernetes node that runs it. Hang diagnostics use it: the API server may be what hangs,
and ``kubectl exec`` or ``kubectl logs`` would hang with it. A pod's container is found by the
labels the kubelet gives it (``io.kubernetes.container.name``), its log read from the file
the kubelet writes (``/var/log/pods/...``)."""

from __future__ import annotations

import itertools
import os

from testbed import runtime
from testbed.core.errors import ExecTimeout
from testbed.services import Ctx
from testbed.topology import K8S_NODE

NAMESPACE = ["ctr", "-n", "k8s.io"]
LIST_TIMEOUT = 5.0
_EXEC_IDS = itertools.count(1)


def _node_names(ctx: Ctx) -> list[str]:
    """The running Kubernetes nodes of the cluster (the control plane's first): a stopped or
    paused one cannot be exec'd into."""
    nodes = sorted((n for n in ctx.nodes if n.startswith(K8S_NODE)), key=len)
    return [n for n in nodes if runtime.state(ctx.container(n)) == "running"]


def _running(ctx: Ctx, node: str, role: str) -> str | None:
    """The id of the role's running container on ``node``, if it runs there."""
    c = ctx.container(node)
    label = f'labels."io.kubernetes.container.name"=={role}'
    ids = runtime.exec_run(c, [*NAMESPACE, "containers", "ls", "-q", label], timeout=LIST_TIMEOUT)
    tasks = runtime.exec_run(c, [*NAMESPACE, "task", "ls"], timeout=LIST_TIMEOUT)
    running = {ln.split()[0] for ln in tasks.output.splitlines()[1:] if ln.endswith("RUNNING")}
    return next((i for i in ids.output.split() if i in running), None)


def find(ctx: Ctx, role: str) -> tuple[str, str] | None:
    """(Kubernetes node, container id) of the role's running container, or None."""
    for node in _node_names(ctx):
        cid = _running(ctx, node, role)
        if cid:
            return node, cid
    return None


def state(ctx: Ctx, role: str) -> str:
    """``running`` when the role's container runs on a running node, else what is known."""
    if find(ctx, role):
        return "running"
    up = _node_names(ctx)  # read once: each name's state is an engine call
    down = [n for n in ctx.nodes if n.startswith(K8S_NODE) and n not in up]
    return f"no running container (Kubernetes nodes not running: {', '.join(down) or 'none'})"


def exec_in(
    ctx: Ctx, role: str, cmd: list[str], *, timeout: float, user: str | None = None
) -> runtime.ExecResult:
    """Run ``cmd`` in the role's running container as ``user`` (its image's user by default),
    killed inside after ``timeout`` (then raises ExecTimeout, as ``runtime.exec_run``)."""
    found = find(ctx, role)
    if found is None:
        raise RuntimeError(f"no running container of {role} on the Kubernetes nodes")
    node, cid = found
    exec_id = f"testbed-{os.getpid()}-{next(_EXEC_IDS)}"
    who = ["--user", user] if user else []
    inner = ["timeout", "-s", "KILL", f"{timeout:g}", *cmd]
    ctr = [*NAMESPACE, "task", "exec", "--exec-id", exec_id, *who, cid, *inner]
    result = runtime.exec_run(ctx.container(node), ctr, timeout=timeout + 2, node=role)
    if result.exit_code == 137:  # the inner timeout's SIGKILL
        raise ExecTimeout(role, cmd, timeout)
    return result


def tail(ctx: Ctx, role: str, lines: int) -> list[str]:
    """The last ``lines`` of the role's container log as the kubelet wrote it (the CRI prefix
    of time, stream and tag kept: it says when each line came)."""
    for node in _node_names(ctx):
        logs = f"/var/log/pods/*_{role}-*/{role}/*.log"
        script = f'f=$(ls -t {logs} 2>/dev/null | head -n 1); [ -n "$f" ] && tail -n {lines} "$f"'
        r = runtime.exec_run(ctx.container(node), ["sh", "-c", script], timeout=LIST_TIMEOUT)
        if r.exit_code == 0 and r.output:
            return r.output.splitlines()
    return []
