"""An existing cluster (``kubeconfig:``), the pure parts: the topology's checks, what the
scenario validation refuses there, the objects made fit for someone else's cluster
(testbed.k8s.existing_objects), the kubeconfig copied into the client, its cleanup command."""

from __future__ import annotations

import base64

import pytest
import yaml

from testbed.core.errors import ScenarioError, TestbedError
from testbed.core.secrets import Secrets
from testbed.k8s import client, existing_objects, manifests
from testbed.runtime import NodeSpec
from testbed.scenario.load import from_data
from testbed.topology import K8S_CLIENT, Topology

ON = {"kubeconfig": "/home/team/kubeconfig", "registry": "registry.team:5000"}


def existing(**kw) -> Topology:
    return Topology(**{"backend": "kubernetes", "executor": "KubernetesExecutor", **ON, **kw})


def test_an_existing_cluster_boots_a_client_and_runs_the_infrastructure_as_pods():
    t = existing(namespace="team-a")
    assert t.existing and t.infra_nodes == [K8S_CLIENT] and t.nodes == [K8S_CLIENT]
    assert t.infra_pods == ["postgres", "minio", "toxiproxy"]  # no Redis without Celery
    assert existing(executor="CeleryExecutor").infra_pods == [
        "postgres",
        "redis",
        "minio",
        "toxiproxy",
    ]
    assert t.k8s_workers == [] and t.limits.faults_only
    built = Topology(backend="kubernetes", executor="KubernetesExecutor")
    assert not built.existing and built.infra_pods == [] and built.limits.faults_only is None


@pytest.mark.parametrize(
    "kw, said",
    [
        ({"registry": None}, "kubeconfig given without registry"),
        ({"kubeconfig": None}, "registry given without kubeconfig"),
        ({"registry": "https://r/x"}, "expected HOST:PORT"),
        ({"namespace": "Team_A"}, "lowercase letters, digits and '-'"),
        ({"kerberos": True, "executor": "CeleryExecutor"}, "runs no Kerberos pieces"),
    ],
)
def test_the_topology_of_an_existing_cluster_is_checked(kw, said):
    with pytest.raises(TestbedError, match=said):
        existing(**kw)


def test_an_existing_cluster_needs_backend_kubernetes():
    with pytest.raises(TestbedError, match="needs backend: kubernetes"):
        Topology(**ON)


def scenario(kind_step: str) -> dict:
    return yaml.safe_load(f"""
name: x
topology: {{backend: kubernetes, executor: KubernetesExecutor,
            kubeconfig: /k, registry: "r:5000", namespace: team-a}}
steps:
  - trigger: {{name: r, dag: long_task}}
  - {kind_step}
  - expect: {{name: n, check: no_task_lost}}
""")


def test_namespace_scoped_faults_run_on_an_existing_cluster():
    from_data(scenario("fault: {name: f, kind: pod_delete, target: scheduler}"))
    from_data(
        scenario("fault: {name: f, kind: link, target: scheduler->postgres, toxic: stall, for: 5s}")
    )


@pytest.mark.parametrize(
    "step",
    [
        "fault: {name: f, kind: hang, target: k8s-node, for: 5s}",
        "fault: {name: f, kind: container_kill, target: scheduler}",
    ],
)
def test_other_faults_are_refused_with_the_reason(step):
    with pytest.raises(ScenarioError, match="namespace-scoped user.*allowed: db_lock, link"):
        from_data(scenario(step))


def test_an_upgrade_is_not_built_for_an_existing_cluster():
    with pytest.raises(ScenarioError, match="upgrade is not built"):
        from_data(scenario("upgrade: {to: 3.3.2}"))


def built_objects(t: Topology) -> list[dict]:
    hosts = {"postgres": "10.0.0.5", "api-server": "10.0.0.9"}
    return manifests.objects(t, Secrets.generate(), "reg:5000/testbed-airflow-extra:x", hosts)


def test_the_objects_are_fit_for_someone_elses_cluster():
    t = existing(namespace="team-a")
    dags = {
        "/opt/airflow/dags/a.py": (b"x = 1\n", 0o644),
        "/opt/airflow/dags/sub/b.sql": (b"s", 0o644),
    }
    objs = existing_objects.label(
        existing_objects.adapt(built_objects(t), t, dags), "tb1", "team-a"
    )
    assert all(o["metadata"]["namespace"] == "team-a" for o in objs)
    assert all(o["metadata"]["labels"][existing_objects.RUN_LABEL] == "tb1" for o in objs)
    services = [o for o in objs if o["kind"] == "Service"]
    assert services and all(s["spec"]["type"] == "ClusterIP" for s in services)
    assert not any("clusterIP" in s["spec"] or "nodePort" in str(s) for s in services)
    deployments = [o for o in objs if o["kind"] in ("Deployment", "Job")]
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        assert d["spec"]["template"]["metadata"]["labels"][existing_objects.RUN_LABEL] == "tb1"
        assert "nodeSelector" not in pod
        assert {c["imagePullPolicy"] for c in pod["containers"]} == {"IfNotPresent"}
        assert not any("hostPath" in v for v in pod["volumes"])
        assert {"ip": "10.0.0.9", "hostnames": ["api-server"]} in pod["hostAliases"]
    template = yaml.safe_load(
        next(o for o in objs if o["metadata"]["name"] == "pod-template")["data"][
            "pod_template.yaml"
        ]
    )
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert volumes["dags"] == {"name": "dags", "emptyDir": {}}  # the copy: no links to walk
    paths = {i["path"] for i in volumes["dags-map"]["configMap"]["items"]}
    assert paths == {"a.py", "sub/b.sql"}
    copy = template["spec"]["initContainers"][0]
    assert copy["name"] == "copy-dags" and "cp -rL" in copy["command"][-1]
    assert copy["image"] == template["spec"]["containers"][0]["image"]
    binding = next(o for o in objs if o["kind"] == "RoleBinding")
    assert binding["subjects"][0]["namespace"] == "team-a"
    env = next(o for o in objs if o["metadata"]["name"] == "airflow-env-scheduler")
    assert env["stringData"]["AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE"] == "team-a"
    dag_map = next(o for o in objs if o["metadata"]["name"] == existing_objects.DAGS_MAP)
    data = {base64.b64decode(v) for v in dag_map["binaryData"].values()}
    assert data == {b"x = 1\n", b"s"}


def test_a_dag_folder_past_what_a_configmap_holds_is_refused():
    big = {"/opt/airflow/dags/big.py": (b"#" * (existing_objects.MAX_DAGS_BYTES + 1), 0o644)}
    with pytest.raises(TestbedError, match="holds 900 KiB at most"):
        existing_objects.dags_map(big)


def test_an_infrastructure_spec_becomes_a_pod_whose_secrets_no_spec_shows():
    spec = NodeSpec(
        "minio",
        "minio",
        "img",
        ["minio", "server"],
        env={"MINIO_ROOT_PASSWORD": "s3cret"},
        files={"/etc/x.json": (b"{}", 0o444)},
        ports=[9000],
    )
    secret, deployment = existing_objects.infra(spec, "reg:5000/svc:1", {"postgres": "10.0.0.5"})
    assert "s3cret" not in str(deployment)
    assert secret["stringData"] == {"MINIO_ROOT_PASSWORD": "s3cret"}
    c = deployment["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "reg:5000/svc:1" and c["command"] == ["minio", "server"]
    assert c["volumeMounts"] == [
        {"name": "files", "mountPath": "/etc/x.json", "subPath": "f0", "readOnly": True}
    ]
    toxi = NodeSpec("toxiproxy", "toxiproxy", "img", [], ports=[8474])
    t = existing(executor="CeleryExecutor")
    ports = existing_objects.infra_ports(t, toxi)
    assert ports[0] == 8474 and [link.listen_port for link in t.links()] == ports[1:]


def test_the_kubeconfig_is_copied_with_the_files_it_names_inlined(tmp_path):
    (tmp_path / "ca.crt").write_bytes(b"CA")
    config = {
        "clusters": [
            {"name": "c", "cluster": {"server": "https://x", "certificate-authority": "ca.crt"}}
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
    flat = yaml.safe_load(client.flatten(tmp_path / "kubeconfig"))
    cluster = flat["clusters"][0]["cluster"]
    assert "certificate-authority" not in cluster
    assert base64.b64decode(cluster["certificate-authority-data"]) == b"CA"
    (tmp_path / "bad").write_text("just: text")
    with pytest.raises(TestbedError, match="no clusters in it"):
        client.flatten(tmp_path / "bad")


def test_the_cleanup_deletes_by_the_runs_label_in_its_namespace_and_waits():
    script = client.cleanup_command("tb1", "team-a")[-1]
    assert script.count("-n team-a -l testbed.io/run=tb1") == 4
    assert "--grace-period=0 --force" in script and "exit 1" in script


def test_task_pods_and_selectors_carry_the_runs_label():
    t = existing(namespace="team-a", executor="CeleryExecutor")
    objs = existing_objects.label(existing_objects.adapt(built_objects(t), t, {}), "tb1", "ns")
    template = yaml.safe_load(
        next(o for o in objs if o["metadata"]["name"] == "pod-template")["data"][
            "pod_template.yaml"
        ]
    )
    assert template["metadata"]["labels"][existing_objects.RUN_LABEL] == "tb1"
    for obj in objs:
        if obj["kind"] == "Service":
            assert obj["spec"]["selector"][existing_objects.RUN_LABEL] == "tb1"
        if obj["kind"] == "Deployment":
            assert obj["spec"]["selector"]["matchLabels"][existing_objects.RUN_LABEL] == "tb1"


class FakeCtx:
    def __init__(self, listing: str, **kw) -> None:
        self.topology = existing(**kw)
        self.run_id = "tb1"
        self.listing = listing

    def kubectl(self, _ctx, *args, **_kw):
        import subprocess

        return subprocess.CompletedProcess(args, 0, self.listing, "")


def test_a_namespace_whose_names_are_taken_is_refused_with_who_took_them():
    listing = "Deployment scheduler tb0\nService postgres\nDeployment my-app\nService minio tb1\n"
    ctx = FakeCtx(listing)
    said = client._taken(ctx, ctx.kubectl)
    assert "Deployment scheduler (testbed run tb0: `testbed down --run tb0`)" in said
    assert "Service postgres" in said and "my-app" not in said and "minio" not in said
    free = FakeCtx("Deployment my-app\nService scheduler tb1\n")
    assert client._taken(free, free.kubectl) == ""


def test_a_chaos_step_is_refused_on_an_existing_cluster():
    data = scenario("fault: {name: f, kind: pod_delete, target: scheduler}")
    data["steps"] = [{"chaos": {"seed": 1, "duration": "60s"}}]
    with pytest.raises(ScenarioError, match="chaos step is not built for an existing cluster"):
        from_data(data)


def test_the_command_line_refuses_a_file_that_is_no_kubeconfig_before_anything_boots(tmp_path):
    from testbed.cli_cluster import existing_target

    (tmp_path / "notes.md").write_text("```\ntext\n```\n")
    with pytest.raises(TestbedError, match="not readable as a kubeconfig"):
        existing_target(tmp_path / "notes.md", "r:5000", "ns")
    with pytest.raises(TestbedError, match="--registry: only with --kubeconfig"):
        existing_target(None, "r:5000", "ns")
    assert existing_target(None, None, "default") is None
