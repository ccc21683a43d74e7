"""Celery on Kubernetes, the pure parts: the topology (the broker beside the node, a Deployment
per worker), the worker Deployments as the chart makes them, and what a scenario may ask of
them. No Docker, no Kubernetes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from testbed.core.errors import TestbedError
from testbed.core.secrets import Secrets
from testbed.k8s import manifests as M
from testbed.scenario.load import from_data
from testbed.topology import Topology

IMAGE = "testbed-airflow-extra:3.3.2-abc"
HOSTS = {"postgres": "172.18.0.2", "redis": "172.18.0.5", "minio": "172.18.0.3"}
CELERY = {"backend": "kubernetes", "executor": "CeleryExecutor"}


def deployments(topology: Topology) -> dict[str, dict]:
    objs = M.objects(topology, Secrets.generate(), IMAGE, HOSTS)
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == "Deployment"}


def test_celery_on_kubernetes_runs_a_pod_per_worker_and_the_broker_beside_the_node():
    t = Topology(3, **CELERY)
    assert t.pods[-3:] == ["worker-1", "worker-2", "worker-3"] and t.airflow_nodes == []
    assert (
        "redis" in t.infra_nodes
        and "redis" not in Topology(**{**CELERY, "executor": "KubernetesExecutor"}).infra_nodes
    )
    labels = {link.label for link in t.links()}
    assert {"scheduler->redis", "worker-2->redis", "worker-3->postgres"} <= labels
    # Toxiproxy cannot reach a pod: the Execution API is not behind a link on Kubernetes
    assert not [k for k in labels if k.endswith("->api-server")]
    assert "2 Celery worker(s)" in Topology(2, **CELERY).describe()


def test_worker_deployments_run_celery_with_the_charts_grace_spread_over_the_task_nodes():
    one_node = deployments(Topology(2, **CELERY))
    three = deployments(Topology(2, **CELERY, k8s_nodes=3))
    for d in (one_node, three):
        spec = d["worker-1"]["spec"]["template"]["spec"]
        assert spec["containers"][0]["command"] == ["airflow", "celery", "worker"]
        assert spec["containers"][0]["name"] == "worker-1"  # where exec and logs find it
        assert spec["terminationGracePeriodSeconds"] == M.WORKER_GRACE == 600
        spread = spec["topologySpreadConstraints"][0]
        assert (spread["maxSkew"], spread["whenUnsatisfiable"]) == (1, "DoNotSchedule")
        selector = spread["labelSelector"]["matchLabels"]
        labels = d["worker-2"]["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()  # the two workers spread over the nodes
    assert three["worker-1"]["spec"]["template"]["spec"]["nodeSelector"][M.POOL_LABEL] == M.TASKS
    assert (
        one_node["worker-1"]["spec"]["template"]["spec"]["nodeSelector"][M.POOL_LABEL] == M.SYSTEM
    )
    # the core roles stay on the control plane's node, with no worker's grace
    scheduler = three["scheduler"]["spec"]["template"]["spec"]
    assert scheduler["nodeSelector"][M.POOL_LABEL] == M.SYSTEM
    assert "terminationGracePeriodSeconds" not in scheduler


def _drill(topology: dict, target: str) -> dict:
    return {
        "name": "s",
        "topology": topology,
        "steps": [
            {"trigger": {"name": "r", "dag": "long_task"}},
            {"fault": {"name": "f", "kind": "pod_delete", "target": target, "grace": "60s"}},
            {"expect": {"name": "d", "check": "drained_cleanly", "fault": "f"}},
        ],
    }


def test_pod_delete_of_the_worker_a_task_runs_in_is_validated_before_boot():
    assert (
        from_data(_drill(CELERY, "host_of:r.work"), "ok.yaml").steps[1].target == "host_of:r.work"
    )
    assert from_data(_drill(CELERY, "worker-2"), "ok.yaml")
    k8s = {**CELERY, "executor": "KubernetesExecutor"}
    cases = [
        (k8s, "host_of:r.work", "a task pod is no Deployment's"),
        (CELERY, "host_of:nope.work", "unknown run 'nope'"),
        (CELERY, "worker-3", "unknown pod role 'worker-3'"),
    ]
    for topology, target, needle in cases:
        with pytest.raises(TestbedError, match=needle):
            from_data(_drill(topology, target), "bad.yaml")


def test_a_host_of_target_of_a_pod_fault_resolves_to_the_pods_role(monkeypatch):
    """The fault book asks the backend for the role of the pod a task ran in (pod_delete), and
    for its node otherwise (kill)."""
    from testbed.engine import fault_book as fb

    class Backend:
        def role_of_host(self, cluster, host):
            return {"worker-2-7f9c-x1": "worker-2"}.get(host, host)

        def node_of_host(self, cluster, host):
            return {"worker-2-7f9c-x1": "k8s-node-3"}.get(host, host)

    class Cluster:
        backend = Backend()
        topology = Topology(2, **CELERY, k8s_nodes=3)
        nodes = dict.fromkeys(topology.nodes)
        history = type("H", (), {"append": lambda self, kind, **f: None})()

    ti = {"value": {"task_id": "work", "hostname": "worker-2-7f9c-x1"}}
    monkeypatch.setattr(fb.observe, "task_instances", lambda cluster, dag, run: [ti])
    book = fb.FaultBook.__new__(fb.FaultBook)
    book.cluster, book.history = Cluster(), Cluster.history
    book._runs = lambda: {"r": ("long_task", "manual__1")}
    assert book.resolve("host_of:r.work", "pod_delete") == "worker-2"
    assert book.resolve("host_of:r.work", "kill") == "k8s-node-3"
    ti["value"]["hostname"] = "hybrid-task-on-kubernetes-x"  # a task pod: role 'worker'
    Backend.role_of_host = lambda self, cluster, host: "worker"
    with pytest.raises(fb.StepFailed, match="runs in no Deployment's pod .its role: 'worker'"):
        book.resolve("host_of:r.work", "pod_delete")
    ti["value"]["hostname"] = None  # not started yet
    with pytest.raises(fb.StepFailed, match="task has no node yet"):
        book.resolve("host_of:r.work", "pod_delete")


def test_the_hybrid_runs_celery_workers_and_configures_both_executors():
    from testbed import airflow_config as AC
    from testbed.backend_limits import HYBRID

    t = Topology(1, backend="kubernetes", executor=HYBRID)
    assert t.celery and t.pods[-1] == "worker-1" and "redis" in t.infra_nodes
    env = AC.environment(t, "scheduler", Secrets.generate())
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor,KubernetesExecutor"
    steps = [{"expect": {"name": "up", "check": "healthy", "probe": "api_health"}}]
    hybrid = {"name": "s", "topology": {"executor": HYBRID}, "steps": steps}
    with pytest.raises(TestbedError, match="not built for backend docker"):
        from_data(hybrid, "bad.yaml")
    hybrid["topology"] = {"executor": HYBRID, "backend": "kubernetes", "workers": 1}
    assert from_data(hybrid, "ok.yaml").topology.build().celery
    # the testbed's hybrid DAG exists only where both executors are configured
    trigger = {"trigger": {"name": "r", "dag": "hybrid_task"}}
    drill = {"name": "s", "topology": CELERY, "steps": [trigger, *steps]}
    with pytest.raises(TestbedError, match="hybrid_task: its file defines it only where both"):
        from_data(drill, "bad.yaml")
    drill["topology"] = {**CELERY, "executor": HYBRID}
    assert from_data(drill, "ok.yaml")


def test_a_pod_being_deleted_is_no_longer_one_of_its_roles_running_pods(monkeypatch):
    """A worker pod draining after a delete is still in phase Running: a second pod_delete, a
    heal or a probe must not take it for the role's pod."""
    from testbed.k8s import deploy
    from tests.unit.test_k8s_manifests import FakeNode

    listing = "worker-1-a-new=\nworker-1-a-old=2026-12-06T17:10:00Z\n"
    monkeypatch.setattr(deploy, "kubectl", FakeNode({"get": (0, listing, "")}))
    ctx = SimpleNamespace(topology=Topology(backend="kubernetes", executor="CeleryExecutor"))
    assert deploy.pod_names(ctx, "worker-1") == ["worker-1-a-new"]
    assert deploy.pod_names(ctx, "worker-1", running_only=False) == [
        "worker-1-a-new",
        "worker-1-a-old",
    ]


@pytest.mark.parametrize(
    ("expect", "field"),
    [
        ({"check": "task_outcome", "run": "r", "state": "success", "host": "worker-1"}, "host"),
        ({"check": "task_outcome", "run": "r", "state": "success", "hosts": ["worker-1"]}, "hosts"),
        ({"check": "drained_cleanly", "node": "worker-1"}, "node"),
    ],
)
def test_a_deployments_name_where_a_pods_is_recorded_is_refused_with_the_glob(expect, field):
    topology = {"backend": "kubernetes", "executor": "CeleryExecutor", "workers": 1}
    steps = [{"trigger": {"name": "r", "dag": "smoke"}}, {"expect": {"name": "e", **expect}}]
    data = {"name": "d", "topology": topology, "steps": steps}
    with pytest.raises(
        TestbedError, match=rf"steps\.1\.expect\.{field}: 'worker-1': .*'worker-1-\*'"
    ):
        from_data(data, "bad.yaml")
    glob = {k: ("worker-1-*" if v == "worker-1" else ["worker-1-*"] if v == ["worker-1"] else v)
            for k, v in expect.items()}  # fmt: skip
    from_data({**data, "steps": [steps[0], {"expect": {"name": "e", **glob}}]}, "ok.yaml")
