"""The backend seam: each backend implements the protocol, ``backend_for`` picks the one a
topology names, and a Cluster delegates to it (reuse, exec, host ports, audit, images); the run
record's topology (testbed.run_record) round-trips."""

from __future__ import annotations

import pytest

from testbed import backends
from testbed.backends import (
    Backend,
    DockerBackend,
    ExistingClusterBackend,
    KubernetesBackend,
    backend_for,
)
from testbed.backends import kubernetes as kb
from testbed.cluster import Cluster
from testbed.runtime import ExecResult
from testbed.topology import K8S_NODE, Topology

K8S = Topology(backend="kubernetes", executor="KubernetesExecutor")


@pytest.mark.parametrize("cls", [DockerBackend, KubernetesBackend, ExistingClusterBackend])
def test_each_backend_implements_the_protocol(cls):
    backend = cls()
    assert isinstance(backend, Backend)
    members = ("name", "reusable", "boots_ahead", "images", "boot_infrastructure", "boot_roles")
    members += ("exec_in",)
    members += ("host_port", "save_logs", "audit", "node_of_host")
    for name in members:
        assert name in Backend.__annotations__ or callable(getattr(Backend, name, None))
        assert hasattr(backend, name)


def test_backend_for_picks_the_topologys_backend():
    assert type(backend_for(Topology())) is DockerBackend
    assert type(backend_for(K8S)) is KubernetesBackend
    assert backend_for(K8S).name == "kubernetes" and backend_for(Topology()).name == "docker"
    existing = Topology(
        backend="kubernetes", executor="KubernetesExecutor", kubeconfig="/k", registry="r:5000"
    )
    assert type(backend_for(existing)) is ExistingClusterBackend
    assert backends.__all__ == [
        "Backend",
        "DockerBackend",
        "ExistingClusterBackend",
        "KubernetesBackend",
        "backend_for",
    ]


def test_both_backends_clusters_are_reusable(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTBED_HOME", str(tmp_path))
    assert Cluster(Topology()).reusable is True
    k8s = Cluster(K8S)
    assert isinstance(k8s.backend, KubernetesBackend) and k8s.reusable is True


def test_a_kubernetes_reset_deletes_task_pods_and_needs_every_deployment_ready(monkeypatch):
    from tests.unit.test_k8s_manifests import FakeNode

    class FakeCluster:
        topology = Topology(2, backend="kubernetes", executor="CeleryExecutor")

    fake, probed = FakeNode({}), []
    audits = [["deployment scheduler has no ready pod"], []]
    moved = [["minio 172.18.0.3 -> 172.18.0.9"], [], [], []]
    d = kb.k8s_deploy
    monkeypatch.setattr(d, "kubectl", fake)
    monkeypatch.setattr(d, "audit_settled", lambda c, timeout, why: audits.pop(0))
    monkeypatch.setattr(d, "moved_addresses", lambda c: moved.pop(0))
    monkeypatch.setattr(d, "wait_role", lambda c, role: probed.append(role))
    with pytest.raises(d.ClusterError, match="host aliases are stale: minio"):
        KubernetesBackend().reset(FakeCluster())
    with pytest.raises(d.ClusterError, match="reset: deployment scheduler"):
        KubernetesBackend().reset(FakeCluster())
    assert probed == []
    KubernetesBackend().reset(FakeCluster())  # every Deployment ready: reusable
    assert fake.calls[0][:4] == ("delete", "pods", "-l", "kubernetes_executor=True")
    assert probed == FakeCluster.topology.pods  # each role answered its boot probe again
    fake.answers["delete"] = (1, "", "the server is not answering")
    with pytest.raises(d.ClusterError, match="not answering"):
        KubernetesBackend().reset(FakeCluster())
    assert DockerBackend().reset(None) is None


def test_kubernetes_exec_and_ports_go_to_pods_for_roles_and_containers_otherwise(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("TESTBED_HOME", str(tmp_path))
    cluster = Cluster(K8S)
    cluster.nodes = {K8S_NODE: "c-node", "postgres": "c-pg"}
    calls = []
    monkeypatch.setattr(
        kb.k8s_node,
        "exec_in_pod",
        lambda ctx, role, cmd, timeout: calls.append(("pod", role)) or ExecResult(0, "pod"),
    )
    monkeypatch.setattr(
        kb.runtime,
        "exec_run",
        lambda c, cmd, timeout, node: calls.append(("container", c)) or ExecResult(0, "c"),
    )
    monkeypatch.setattr(kb.runtime, "host_port", lambda c, port: (c, port))
    assert cluster.exec_in("scheduler", ["true"], timeout=5).output == "pod"
    assert cluster.exec_in("postgres", ["true"], timeout=5).output == "c"
    assert calls == [("pod", "scheduler"), ("container", "c-pg")]
    assert cluster.host_port("api-server", 8080) == ("c-node", 30080)
    assert cluster.host_port("postgres", 5432) == ("c-pg", 5432)
    with pytest.raises(KeyError, match="not published"):
        cluster.host_port("api-server", 9999)


def test_the_audits_kubernetes_part_waits_unless_a_node_is_stuck(monkeypatch):
    class FakeCluster:
        nodes = {K8S_NODE: object()}

    waits = []
    monkeypatch.setattr(kb.k8s_deploy, "audit_settled", lambda c, timeout: waits.append(timeout))
    KubernetesBackend().audit(FakeCluster(), [])
    KubernetesBackend().audit(FakeCluster(), [f"{K8S_NODE} is paused"])
    assert waits == [kb.K8S_SETTLE, 0]
    FakeCluster.nodes = {}
    assert KubernetesBackend().audit(FakeCluster(), []) == []
    assert DockerBackend().audit(FakeCluster(), []) == []


def test_images_and_hosts():
    assert DockerBackend().images() == []
    assert KubernetesBackend().images()[0].startswith("testbed-k8s-node:")
    assert DockerBackend().node_of_host(None, "worker-1") == "worker-1"


@pytest.mark.parametrize(
    "topology",
    [
        Topology(2, config={"core": {"parallelism": "8"}}, kerberos=True, timescale=0.5),
        Topology(backend="kubernetes", executor="KubernetesExecutor", k8s_nodes=2),
    ],
)
def test_the_run_records_topology_round_trips(topology):
    from testbed import run_record

    fields = run_record.topology_fields(topology)
    assert fields["backend"] == topology.backend and "config_in_force" in fields
    assert run_record.topology_of(fields) == topology
