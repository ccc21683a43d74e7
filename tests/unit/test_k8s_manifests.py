"""The Kubernetes backend's pure parts: the topology it describes, the objects it deploys (as
the official chart's), and what a scenario may ask of it. No Docker, no Kubernetes."""

from __future__ import annotations

import pytest
import yaml

from testbed.errors import TestbedError
from testbed.k8s import manifests as M
from testbed.scenario.load import from_data
from testbed.secrets import Secrets
from testbed.topology import K8S_NODE, K8S_PROVIDER, Topology

IMAGE = "testbed-airflow-extra:3.3.2-abc"
HOSTS = {"postgres": "172.18.0.2", "minio": "172.18.0.3", "toxiproxy": "172.18.0.4"}


@pytest.fixture(scope="module")
def secrets() -> Secrets:
    return Secrets.generate()


@pytest.fixture(scope="module")
def k8s() -> Topology:
    return Topology(backend="kubernetes", executor="KubernetesExecutor")


def by_kind(objs: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def test_topology_runs_airflow_as_pods_beside_the_database(k8s):
    assert k8s.airflow_nodes == [] and k8s.worker_names == []
    assert k8s.pods == ["api-server", "scheduler", "dag-processor", "triggerer"]
    assert K8S_NODE in k8s.infra_nodes and "redis" not in k8s.nodes
    assert K8S_PROVIDER in k8s.image_requirements and Topology().image_requirements == ()
    assert {link.label for link in k8s.links()} == {f"{p}->postgres" for p in k8s.pods}


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"backend": "kubernetes"}, "CeleryExecutor' is not built for backend kubernetes"),
        ({"executor": "KubernetesExecutor"}, "not built for backend docker"),
        ({"backend": "nomad"}, "allowed docker, kubernetes"),
        (
            {"backend": "kubernetes", "executor": "KubernetesExecutor", "kerberos": True},
            "no Kerberos",
        ),
    ],
)
def test_topology_refuses_what_is_not_built(kwargs, needle):
    with pytest.raises(TestbedError, match=needle):
        Topology(**kwargs)


def test_every_role_is_a_deployment_and_the_migration_a_job(k8s, secrets):
    objs = M.objects(k8s, secrets, IMAGE, HOSTS)
    deployments = by_kind(objs, "Deployment")
    assert sorted(deployments) == sorted(k8s.pods)
    for role, d in deployments.items():
        c = d["spec"]["template"]["spec"]["containers"][0]
        assert c["image"] == IMAGE and c["imagePullPolicy"] == "Never"
        assert c["command"][-2:] == ["airflow", role]
    job = by_kind(objs, "Job")[M.MIGRATION_JOB]["spec"]["template"]["spec"]
    assert job["containers"][0]["command"] == ["airflow", "db", "migrate"]
    ports = {n: s["spec"]["ports"][0]["nodePort"] for n, s in by_kind(objs, "Service").items()}
    assert ports == {"api-server": 30080, "scheduler": 30974}
    assert by_kind(objs, "Service")["api-server"]["spec"]["clusterIP"] == M.API_CLUSTER_IP


def test_the_scheduler_may_launch_and_adopt_task_pods_and_nobody_else(k8s, secrets):
    objs = M.objects(k8s, secrets, IMAGE, HOSTS)
    rules = by_kind(objs, "Role")["pod-launcher"]["rules"]
    pods = next(r for r in rules if r["resources"] == ["pods"])
    assert {"create", "delete", "patch", "watch"} <= set(pods["verbs"])  # patch: adoption
    binding = by_kind(objs, "RoleBinding")["pod-launcher"]
    assert [s["name"] for s in binding["subjects"]] == [M.SCHEDULER_SA]
    specs = {n: d["spec"]["template"]["spec"] for n, d in by_kind(objs, "Deployment").items()}
    assert [n for n, s in specs.items() if s["automountServiceAccountToken"]] == ["scheduler"]


def test_task_pods_come_from_the_template_the_scheduler_mounts(k8s, secrets):
    objs = M.objects(k8s, secrets, IMAGE, HOSTS)
    template = yaml.safe_load(
        by_kind(objs, "ConfigMap")["pod-template"]["data"]["pod_template.yaml"]
    )
    spec = template["spec"]
    assert spec["containers"][0]["name"] == "base" and spec["restartPolicy"] == "Never"
    assert "command" not in spec["containers"][0]  # the executor's args run as they are
    aliases = {h["hostnames"][0]: h["ip"] for h in spec["hostAliases"]}
    assert aliases == {**HOSTS, "api-server": M.API_CLUSTER_IP}  # no DNS in the cluster
    env = by_kind(objs, "Secret")["airflow-env-worker"]["stringData"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "KubernetesExecutor"
    assert env["AIRFLOW__KUBERNETES_EXECUTOR__POD_TEMPLATE_FILE"] == M.TEMPLATE_FILE
    assert env["AIRFLOW__KUBERNETES_EXECUTOR__WORKER_CONTAINER_TAG"] == "3.3.2-abc"
    sched = by_kind(objs, "Deployment")["scheduler"]["spec"]["template"]["spec"]
    mounts = {m["mountPath"] for m in sched["containers"][0]["volumeMounts"]}
    assert M.TEMPLATE_DIR in mounts


def test_secrets_are_only_in_secret_objects(k8s, secrets):
    objs = M.objects(k8s, secrets, IMAGE, HOSTS)
    others = M.to_yaml([o for o in objs if o["kind"] != "Secret"])
    for value in (
        secrets.fernet_key,
        secrets.jwt_secret,
        secrets.admin_password,
        secrets.pg_password,
    ):
        assert value not in others
    every = M.to_yaml(objs)
    assert secrets.fernet_key in every  # ... and they are there


def _scenario(topology: dict, fault: dict) -> dict:
    return {
        "name": "s",
        "topology": topology,
        "steps": [{"trigger": {"name": "r", "dag": "long_task"}}, {"fault": fault}],
    }


K8S = {"backend": "kubernetes", "executor": "KubernetesExecutor"}


def test_pod_delete_is_validated_before_boot():
    ok = _scenario(K8S, {"name": "f", "kind": "pod_delete", "target": "scheduler", "grace": "0s"})
    assert from_data(ok, "ok.yaml").steps[1].grace == 0
    cases = [
        (
            _scenario({}, {"name": "f", "kind": "pod_delete", "target": "scheduler"}),
            "needs `topology: {backend: kubernetes}`",
        ),
        (
            _scenario(K8S, {"name": "f", "kind": "pod_delete", "target": "worker-1"}),
            "unknown pod role 'worker-1'",
        ),
        (
            _scenario(K8S, {"name": "f", "kind": "kill", "target": "scheduler"}),
            "the Airflow roles are pods",
        ),
        (
            _scenario(K8S, {"name": "f", "kind": "kill", "target": "scheduler", "grace": "1s"}),
            "'grace' does not apply",
        ),
    ]
    for data, needle in cases:
        with pytest.raises(TestbedError, match=needle):
            from_data(data, "bad.yaml")


def test_steps_not_built_for_kubernetes_are_refused():
    data = {"name": "s", "topology": K8S, "steps": [{"add_node": "scheduler-2"}]}
    with pytest.raises(TestbedError, match="add_node is not built for backend kubernetes"):
        from_data(data, "bad.yaml")
