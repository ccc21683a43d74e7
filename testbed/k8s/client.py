"""The client of an existing Kubernetes cluster (``kubeconfig:``): a container of the node image
on this machine's network, holding the user's kubeconfig, that every ``kubectl`` of the run
goes through (testbed.k8s.node.kubectl), and the run's port-forwards to the Services it deployed
(how the testbed reaches Postgres, MinIO, Toxiproxy and the API there, as the user would).

A service module like testbed.services.*: ``spec(ctx, node)`` and ``probe(ctx, node)``. Its
cleanup command (run before the container goes, by the teardown or the next run's clean-up)
deletes every object of the run in the namespace (testbed.runtime, ``L.CLEANUP``).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from pathlib import Path

import yaml

from testbed.core.errors import ClusterError, TestbedError
from testbed.images import k8s_node as k8s_image
from testbed.k8s.manifests import NODE_PORTS
from testbed.k8s.meta import RUN_LABEL
from testbed.k8s.node import kubectl
from testbed.readiness import NeverReady, Probe
from testbed.runtime import NodeSpec
from testbed.services import Ctx
from testbed.topology import K8S_CLIENT

KUBECONFIG = "/root/.kube/config"
# what a run makes in the namespace; the workloads first, then their pods at once (a Celery
# worker's pod has a 600 s grace: the run is over, nothing is left to drain)
WORKLOADS = "deployments,replicasets,jobs"
REST = "services,secrets,configmaps,serviceaccounts,roles,rolebindings"
FORWARDS = "forwards.json"  # in the run's folder: the host port of each forwarded Service port
# a kubeconfig's paths that a copy into the client cannot follow: inlined as their data
_INLINE = {
    "certificate-authority": "certificate-authority-data",
    "client-certificate": "client-certificate-data",
    "client-key": "client-key-data",
}


def flatten(path: Path) -> bytes:
    """The kubeconfig at ``path`` with the files it names inlined (as ``kubectl config view
    --flatten`` would), so the copy in the client container stands alone."""
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        why = str(exc).splitlines()[0]
        raise TestbedError(f"kubeconfig {path}: not readable as a kubeconfig ({why})") from None
    if not isinstance(config, dict) or not config.get("clusters"):
        raise TestbedError(f"kubeconfig {path}: no clusters in it")
    for section, key in (("clusters", "cluster"), ("users", "user")):
        for entry in config.get(section) or []:
            _inline(entry.get(key) or {}, path.parent)
    return yaml.safe_dump(config).encode()


def _inline(entry: dict, base: Path) -> None:
    for field, data_field in _INLINE.items():
        if field in entry:
            named = base / entry.pop(field)
            try:
                entry[data_field] = base64.b64encode(named.read_bytes()).decode()
            except OSError as exc:
                raise TestbedError(f"kubeconfig: {field} {named}: {exc}") from None


def cleanup_command(run_id: str, namespace: str) -> list[str]:
    """Delete every object of the run in the namespace (by its label), bounded."""
    sel = f"-n {namespace} -l {RUN_LABEL}={run_id} --request-timeout=20s"
    every = f"{WORKLOADS},pods,{REST}"
    script = (
        # an unreachable cluster fails at once (the container is kept to try again)
        "kubectl get --raw /version --request-timeout=5s >/dev/null || exit 2;"
        f" kubectl delete {WORKLOADS} {sel} --ignore-not-found --wait=false;"
        f" kubectl delete pods {sel} --ignore-not-found --grace-period=0 --force --wait=false;"
        f" kubectl delete {REST} {sel} --ignore-not-found --wait=false;"
        # the garbage collector removes what the workloads owned a moment later: gone, or said
        f" for i in $(seq 60); do left=$(kubectl get {every} {sel} -o name 2>/tmp/err) &&"
        f' [ -z "$left" ] && exit 0; sleep 1; done;'
        f' echo "left in {namespace}: $left $(tail -c 300 /tmp/err)"; exit 1'
    )
    return ["sh", "-c", script]


def spec(ctx: Ctx, node: str = K8S_CLIENT) -> NodeSpec:
    topology = ctx.topology
    config = flatten(Path(topology.kubeconfig or ""))
    return NodeSpec(
        name=node,
        role="k8s-client",
        image=k8s_image.node_image(),
        command=[],
        env={"KUBECONFIG": KUBECONFIG},
        files={KUBECONFIG: (config, 0o600)},
        file_uid=0,
        host_network=True,
        cleanup=cleanup_command(ctx.run_id, topology.namespace),
        engine={"entrypoint": ["sleep", "infinity"]},
    )


UNANSWERED = 5  # kubectl failures in a row that end the wait, with what kubectl said


def probe(ctx: Ctx, node: str = K8S_CLIENT) -> Probe:
    """The cluster answers, the run may create Deployments in the namespace, and none of the
    names the run gives its Deployments and Services is taken there (by another testbed run,
    or by something else: an apply would take it over, the teardown delete it)."""
    ns = ctx.topology.namespace
    failures: list[str] = []

    def ready() -> bool:
        done = kubectl(ctx, "auth", "can-i", "create", "deployments", timeout=15)
        if done.returncode != 0 and done.stdout.strip() != "no":
            failures.append(done.stderr.strip()[-300:])
            if len(failures) >= UNANSWERED:  # e.g. an unreachable server, an exec plugin
                raise NeverReady(f"kubectl cannot use the kubeconfig: {failures[-1]}")
            return False
        if done.stdout.strip() != "yes":
            raise NeverReady(f"the kubeconfig's user may not create Deployments in namespace {ns}")
        taken = _taken(ctx, kubectl)
        if taken:
            raise NeverReady(
                f"namespace {ns} already holds {taken}: give the run a namespace of its own"
            )
        return True

    return Probe(f"kubectl auth can-i create deployments -n {ns}", ready, interval=1.0)


def _taken(ctx: Ctx, kubectl) -> str:
    """The Deployments and Services of the names the run gives its own that the namespace
    holds already (with the testbed run that made them, if one did), or ""."""
    topology = ctx.topology
    ours = {*topology.infra_pods, *topology.pods, *NODE_PORTS}  # NODE_PORTS: their Services
    path = (
        '{range .items[*]}{.kind} {.metadata.name} {.metadata.labels.testbed\\.io/run}{"\\n"}{end}'
    )
    done = kubectl(ctx, "get", "deployments,services", "-o", f"jsonpath={path}")
    found = []
    rows = (line.split() for line in done.stdout.splitlines())
    for kind, name, *run in (row for row in rows if len(row) >= 2):
        if name in ours and run != [ctx.run_id]:
            by = f" (testbed run {run[0]}: `testbed down --run {run[0]}`)" if run else ""
            found.append(f"{kind} {name}{by}")
    return ", ".join(found[:4])


class Forwards:
    """The run's port-forwards: one ``kubectl port-forward svc/<name>`` per Service port the
    testbed reaches, on a free port of this machine's loopback, started again whenever it ends
    (a port-forward ends with the pod it picked: a deleted pod's Service gets a new one)."""

    def __init__(self, ctx) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._file = ctx.dir / FORWARDS
        self.ports: dict[str, int] = self._load()

    def _load(self) -> dict[str, int]:
        try:
            return json.loads(self._file.read_text())
        except (OSError, ValueError):
            return {}

    def port(self, service: str, port: int, timeout: float = 15) -> int:
        """The host port of ``service``'s ``port``; a new forward is waited for until it
        listens (a probe through it is a connection to the pod: never made for nothing)."""
        key = f"{service}:{port}"
        with self._lock:
            if key not in self.ports:
                self.ports[key] = self._start(service, port)
                self._file.write_text(json.dumps(self.ports))
                _wait_listening(self.ports[key], key, timeout)
        return self.ports[key]

    def _start(self, service: str, port: int) -> int:
        local = _free_port()
        forward = (
            f"kubectl port-forward -n {self._ctx.topology.namespace} --address 127.0.0.1 "
            f"svc/{service} {local}:{port}"
        )
        loop = f"while :; do {forward} >/dev/null 2>&1; sleep 0.5; done"
        c = self._ctx.container(K8S_CLIENT)
        c.exec_run(["sh", "-c", loop], detach=True)
        return local


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"port-forward {what}: nothing listens on 127.0.0.1:{port}"
                ) from None
            time.sleep(0.2)
