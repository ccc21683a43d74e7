"""Topology: node names, Toxiproxy links, validation of bad input."""

from __future__ import annotations

import pytest

from testbed import airflow_config
from testbed.core.errors import TestbedError
from testbed.core.secrets import Secrets
from testbed.topology import PROXY_BASE_PORT, Topology


def test_nodes_and_workers():
    t = Topology(workers=3)
    assert t.worker_names == ["worker-1", "worker-2", "worker-3"]
    assert t.nodes[:4] == ["postgres", "redis", "minio", "toxiproxy"]
    assert t.nodes[-3:] == t.worker_names
    assert len(set(t.nodes)) == len(t.nodes)


def test_every_component_has_its_own_link_and_port():
    t = Topology(workers=2)
    labels = [k.label for k in t.links()]
    assert "scheduler->postgres" in labels and "scheduler->redis" in labels
    assert "worker-2->redis" in labels and "worker-2->postgres" in labels
    assert "api-server->redis" not in labels
    ports = [k.listen_port for k in t.links()]
    assert len(set(ports)) == len(ports) and min(ports) == PROXY_BASE_PORT
    assert t.link("worker-1", "redis").name == "worker-1.redis"


def test_more_api_servers_each_with_a_database_link_that_moves_no_other_port():
    one, two = Topology(workers=2), Topology(workers=2, api_servers=2)
    assert two.airflow_nodes[:3] == ["api-server", "api-server-2", "scheduler"]
    ports = {k.label: k.listen_port for k in one.links()}
    ports2 = {k.label: k.listen_port for k in two.links()}
    assert "api-server-2->postgres" in ports2
    moved = {k for k in ports if ports[k] != ports2[k]}
    later = {k for k in ports if k.endswith(("->api-server", "->minio"))}
    assert moved == {"migrate->postgres"} | later  # the database links stay put


def test_remote_log_storage_is_reached_by_a_link_per_worker_and_the_api_server():
    t = Topology(workers=2)
    assert [k.label for k in t.links() if k.upstream == "minio"] == [
        "worker-1->minio",
        "worker-2->minio",
        "api-server->minio",
    ]
    env = airflow_config.environment(t, "worker-2", Secrets.generate())
    port = t.link("worker-2", "minio").listen_port
    assert f'"endpoint_url": "http://toxiproxy:{port}"' in env["AIRFLOW_CONN_MINIO"]
    env = airflow_config.environment(t, "scheduler", Secrets.generate())
    assert '"endpoint_url": "http://minio:9000"' in env["AIRFLOW_CONN_MINIO"]  # no link of its own


def test_what_runs_tasks_triggers_and_callbacks_reaches_the_execution_api_by_a_link():
    t = Topology(workers=2)
    api = [k.label for k in t.links() if k.upstream == "api-server"]
    assert api == [
        "dag-processor->api-server",
        "triggerer->api-server",
        "worker-1->api-server",
        "worker-2->api-server",
    ]
    assert not [k for k in t.links() if k.client == "scheduler" and k.upstream == "api-server"]
    k8s = Topology(backend="kubernetes", executor="KubernetesExecutor")
    assert not [k for k in k8s.links() if k.upstream == "api-server"]  # pods: a ClusterIP


def test_unknown_link_names_the_existing_ones():
    with pytest.raises(TestbedError, match="links: api-server->postgres"):
        Topology().link("minio", "postgres")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"workers": 0}, "workers must be 1..8"),
        ({"workers": 9}, "workers must be 1..8"),
        ({"airflow_version": "2.9.3"}, "allowed: 3.1.7, 3.1.8, 3.2.2, 3.3.1, 3.3.2"),
        ({"config": {"Scheduler": {"x": "1"}}}, "'Scheduler' is not a lowercase"),
        ({"api_servers": 0}, "api_servers must be 1..3"),
    ],
)
def test_bad_topology_is_rejected(kwargs, message):
    with pytest.raises(TestbedError, match=message):
        Topology(**kwargs)


def test_flat_config():
    t = Topology(config={"scheduler": {"scheduler_health_check_threshold": 10}})
    assert t.flat_config() == {"scheduler.scheduler_health_check_threshold": "10"}


def test_the_plan_line_says_what_boots():
    k8s = Topology(backend="kubernetes", executor="KubernetesExecutor", k8s_nodes=3, timescale=0.5)
    assert k8s.describe() == (
        "Airflow 3.3.2, KubernetesExecutor, on Kubernetes (3 node(s); the roles as pods), "
        "timescale 0.5 (Airflow's timers and the drill's waits)"
    )
    krb = Topology(kerberos=True, api_servers=2, workers=1).describe()
    assert "1 Celery worker(s), 2 api-servers, Kerberos" in krb and "timescale" not in krb
