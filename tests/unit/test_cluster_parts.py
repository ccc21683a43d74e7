"""The cluster's collaborators, with stand-in containers (no Docker): the names the package
exports, which service module builds a node, the run record written and read back, a removed
node's log kept, and the boot's CPU weight restored (a node that cannot be is recorded)."""

from __future__ import annotations

import docker.errors
import pytest

import testbed.cluster as cluster_pkg
from testbed.cluster import Cluster, boot, nodes, record
from testbed.core.errors import ClusterError
from testbed.k8s import node as k8s_node
from testbed.services import airflow, kerberos, postgres
from testbed.topology import K8S_NODE, Topology


class FakeContainer:
    short_id = "abc123"

    def __init__(self, update_error: Exception | None = None) -> None:
        self.update_error, self.updates, self.removed = update_error, [], False

    def logs(self, stdout: bool, stderr: bool) -> bytes:
        return b"the node's log"

    def update(self, cpu_shares: int) -> None:
        if self.update_error:
            raise self.update_error
        self.updates.append(cpu_shares)

    def remove(self, force: bool) -> None:
        self.removed = force


@pytest.fixture
def cluster(tmp_path, monkeypatch) -> Cluster:
    monkeypatch.setenv("TESTBED_HOME", str(tmp_path))
    c = Cluster(Topology(workers=1))
    c.dir.mkdir(parents=True, exist_ok=True)
    return c


def test_the_package_exports_what_importers_use():
    assert set(cluster_pkg.__all__) >= {"Cluster", "BOOT_WEIGHT", "service_module"}
    assert cluster_pkg.BOOT_WEIGHT < cluster_pkg.DEFAULT_WEIGHT


def test_each_node_is_built_by_its_roles_service_module():
    assert nodes.service_module("postgres") is postgres
    assert nodes.service_module("worker-1-kerberos") is kerberos
    assert nodes.service_module(K8S_NODE) is k8s_node
    assert nodes.service_module(f"{K8S_NODE}-2") is k8s_node
    assert nodes.service_module("scheduler-2") is airflow


def test_the_run_record_is_written_and_read_back(cluster):
    cluster.timings["total"] = 1.23456
    path = cluster.write_record(state="removed")
    assert path == cluster.dir / "run.json"
    found = record.read(cluster.run_id)
    assert found["state"] == "removed" and found["timings"] == {"total": 1.235}
    assert found["images"]["postgres"] == cluster.postgres_image
    with pytest.raises(ClusterError, match="no run record"):
        record.read("no-such-run")


def test_a_removed_nodes_log_outlives_it(cluster):
    old = cluster.nodes["scheduler"] = FakeContainer()
    cluster.remove_node("scheduler")
    assert old.removed and "scheduler" not in cluster.nodes
    assert (cluster.dir / "logs" / "scheduler-abc123.log").read_bytes() == b"the node's log"
    assert cluster.history.events("container")[-1]["state"] == "removed"
    cluster.remove_node("scheduler")  # gone already: nothing to do


def test_the_boots_cpu_weight_ends_with_the_boot(cluster):
    ok, gone = FakeContainer(), FakeContainer(docker.errors.NotFound("gone"))
    stuck = FakeContainer(docker.errors.APIError("refused"))
    cluster.nodes = {"redis": ok, "minio": gone, "postgres": stuck}
    cluster.boot_weight = boot.BOOT_WEIGHT
    boot.restore_default_weight(cluster)
    assert ok.updates == [boot.DEFAULT_WEIGHT] and cluster.boot_weight is None
    (event,) = cluster.history.events("cluster")
    assert event["phase"] == "weight" and [f[:9] for f in event["failed"]] == ["postgres:"]
    boot.restore_default_weight(cluster)  # at the default already: nothing more
    assert ok.updates == [boot.DEFAULT_WEIGHT]
