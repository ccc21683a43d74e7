"""Kerberos on Kubernetes, the pure parts: the topology (the KDC and the kerberized target beside
the node, the refresher a sidecar container of each worker's pod, not a node), the worker pods
as the guide arranges them (the keytab in the sidecar alone, the cache read-only in the worker,
no cluster secret in the sidecar), and a pod's hostname mapped to its worker's principal. No
Docker, no Kubernetes."""

from __future__ import annotations

import base64

import pytest

from testbed import airflow_config as AC
from testbed.checks.kerberos_auth import _authenticated
from testbed.core.errors import TestbedError
from testbed.core.secrets import Secrets
from testbed.k8s import manifests as M
from testbed.topology import Topology, worker_of_host

IMAGE = "testbed-airflow-extra:3.3.2-abc"
HOSTS = {"postgres": "172.18.0.2", "redis": "172.18.0.5", "kdc.testbed.internal": "172.18.0.7"}
KRB = {"backend": "kubernetes", "executor": "CeleryExecutor", "kerberos": True}
DONE = {"expect": {"name": "done", "check": "no_task_lost"}}
KEYTABS = {"worker-1": b"\x05\x02one", "worker-2": b"\x05\x02two"}


def _objects(secrets: Secrets | None = None) -> list[dict]:
    return M.objects(Topology(2, **KRB), secrets or Secrets.generate(), IMAGE, HOSTS, KEYTABS)


def _pod(objs: list[dict], name: str) -> dict:
    d = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == name)
    return d["spec"]["template"]["spec"]


def test_the_kdc_and_the_target_are_beside_the_node_and_the_sidecars_are_no_nodes():
    t = Topology(2, **KRB)
    assert "kdc" in t.infra_nodes and t.kerberos_nodes == ["pg-krb"]
    assert not [n for n in t.nodes if n.endswith("-kerberos")]
    with pytest.raises(TestbedError, match="refresher runs beside each Celery worker"):
        Topology(**{**KRB, "executor": "KubernetesExecutor"})


def test_only_the_sidecar_mounts_the_keytab_and_the_worker_reads_the_cache_only():
    objs = _objects()
    for worker in ("worker-1", "worker-2"):
        spec = _pod(objs, worker)
        (main,), (sidecar,) = spec["containers"], spec["initContainers"]
        assert (main["name"], sidecar["name"]) == (worker, "kerberos")
        # a native sidecar: running all along, the worker started once it has a ticket
        assert sidecar["restartPolicy"] == "Always"
        assert sidecar["startupProbe"]["exec"]["command"][:2] == ["klist", "-s"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["keytab"]["secret"]["secretName"] == f"keytab-{worker}"
        assert volumes["ccache"]["emptyDir"] == {"medium": "Memory"}
        both = [main, sidecar]
        mounts = {c["name"]: {m["name"]: m for m in c["volumeMounts"]} for c in both}
        assert "keytab" in mounts["kerberos"] and "keytab" not in mounts[worker]
        assert mounts[worker]["ccache"]["readOnly"] is True
        assert not mounts["kerberos"]["ccache"].get("readOnly")
        assert mounts[worker]["ccache"]["mountPath"] == AC.CCACHE_DIR
    for role in ("scheduler", "api-server", "dag-processor", "triggerer"):
        pod = _pod(objs, role)  # no sidecar beyond the workers
        assert len(pod["containers"]) == 1 and "initContainers" not in pod


def test_each_keytab_secret_holds_its_own_workers_keytab():
    secrets = {o["metadata"]["name"]: o for o in _objects() if o["kind"] == "Secret"}
    for worker, keytab in KEYTABS.items():
        data = secrets[f"keytab-{worker}"]["data"]["krb5.keytab"]
        assert base64.b64decode(data) == keytab


def test_the_sidecar_gets_its_principal_and_keytab_and_no_cluster_secret():
    secrets = Secrets.generate()
    objs = _objects(secrets)
    env = next(o for o in objs if o["metadata"]["name"] == "airflow-env-worker-2-kerberos")
    values = env["stringData"]
    assert values[AC.env_name("kerberos", "principal")].startswith("airflow/worker-2.")
    assert values[AC.env_name("kerberos", "keytab")] == f"{AC.SECRETS_DIR}/krb5.keytab"
    assert not [k for k in values if "SQL_ALCHEMY" in k or "BROKER" in k or "FERNET" in k]
    for secret in (secrets.fernet_key, secrets.jwt_secret):
        assert not [v for v in values.values() if secret in v]
    conf = next(
        o for o in objs if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "krb5-conf"
    )
    assert "kdc = kdc.testbed.internal:88" in conf["data"]["krb5.conf"]


def test_a_task_pods_hostname_names_its_worker_deployments_principal():
    assert worker_of_host("worker-2-5bc8745685-4fszz") == "worker-2"
    assert worker_of_host("worker-2") == "worker-2"  # Docker: the node is the worker
    assert worker_of_host("smoke-hello-an6cpu92") == "smoke-hello-an6cpu92"
    ti = {"hostname": "worker-2-5bc8745685-4fszz", "state": "success", "task_id": "whoami"}
    ti["map_index"] = 0
    seen = {
        "gss_authenticated": True,
        "encrypted": True,
        "hostname": "worker-2-5bc8745685-4fszz",
        "principal": "airflow/worker-2.testbed.internal@TESTBED.INTERNAL",
    }
    template = "airflow/{host}.testbed.internal@TESTBED.INTERNAL"
    assert _authenticated(ti, {"whoami[0]": seen}, template) is None
    wrong = {**seen, "principal": "airflow/worker-1.testbed.internal@TESTBED.INTERNAL"}
    assert "not 'airflow/worker-2" in _authenticated(ti, {"whoami[0]": wrong}, template)


def test_kerberos_on_kubernetes_is_refused_beside_task_pods():
    with pytest.raises(TestbedError, match="only with executor CeleryExecutor"):
        Topology(**{**KRB, "executor": "CeleryExecutor,KubernetesExecutor"})


def test_a_worker_filter_and_count_name_the_deployment_not_the_pod():
    from testbed.checks.kerberos_auth import _on

    pod = {"hostname": "worker-1-5bc8745685-4fszz"}
    assert _on(pod, ["worker-1"]) and _on(pod, ["worker-1-5bc8745685-4fszz"])
    assert not _on(pod, ["worker-2"])


def test_a_container_the_pods_reach_by_address_is_never_made_anew_on_kubernetes():
    from testbed.scenario.load import from_data

    for kind, target in (("replace", "pg-krb"), ("remove", "kdc"), ("replace", "postgres")):
        data = {
            "name": "s",
            "topology": {**KRB, "workers": 1},
            "steps": [{"fault": {"name": "f", "kind": kind, "target": target}}, DONE],
        }
        with pytest.raises(TestbedError, match="hostAliases entry"):
            from_data(data, "s.yaml")
    data["steps"] = [{"fault": {"name": "f", "kind": "kill", "target": "pg-krb"}}, DONE]
    assert from_data(data, "s.yaml").steps[0].kind == "kill"


def test_only_the_names_of_keytab_variables_are_recorded():
    from testbed.observe.kerberos import _keytab_names

    env = ["KRB5_KTNAME=/secret/path", "PATH=/bin", "AIRFLOW__KERBEROS__KEYTAB=/k", "X=KTNAME"]
    assert _keytab_names(env) == ["KRB5_KTNAME", "AIRFLOW__KERBEROS__KEYTAB"]


def test_a_native_sidecars_state_is_read_from_the_init_container_statuses():
    from testbed.k8s.pod_state import container_states

    running = {"running": {"startedAt": "2026-12-07T02:00:00Z"}}
    pod = {
        "status": {
            "initContainerStatuses": [{"name": "kerberos", "restartCount": 2, "state": running}],
            "containerStatuses": [
                {"name": "worker-1", "restartCount": 0, "state": {"waiting": {}}},
            ],
        }
    }
    states = container_states(pod)
    assert states["kerberos"] == {
        "state": "running",
        "restarts": 2,
        "started_at": "2026-12-07T02:00:00Z",
    }
    assert states["worker-1"]["state"] == "waiting"


def test_a_container_is_killed_by_its_runtime_id_read_from_the_pods_status():
    from testbed.faults.pod import _container_id

    pod = {
        "status": {
            "initContainerStatuses": [{"name": "kerberos", "containerID": "containerd://ab12"}],
            "containerStatuses": [
                {"name": "worker-1", "containerID": "containerd://cd34"},
                {"name": "starting"},  # no id before its first start
            ],
        }
    }
    assert _container_id(pod, "kerberos") == "ab12"  # a native sidecar: an init container
    assert _container_id(pod, "worker-1") == "cd34"
    assert _container_id(pod, "starting") is None and _container_id(pod, "other") is None


def test_a_container_kill_names_the_roles_own_container_unless_told():
    from types import SimpleNamespace

    from testbed.faults.pod import ContainerKill

    cluster = SimpleNamespace()
    assert ContainerKill(cluster, "worker-1", container="kerberos").describe() == {
        "container": "kerberos"
    }
    assert ContainerKill(cluster, "scheduler").describe() == {"container": "scheduler"}
