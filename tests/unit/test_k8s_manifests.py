"""The Kubernetes backend's pure parts: the topology it describes, the objects it deploys (as
the official chart's), and what a scenario may ask of it. No Docker, no Kubernetes."""

from __future__ import annotations

import pytest
import yaml

from testbed.core.errors import TestbedError
from testbed.core.secrets import Secrets
from testbed.images.catalog import K8S_PROVIDER
from testbed.k8s import manifests as M
from testbed.scenario.load import from_data
from testbed.topology import K8S_NODE, Topology

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
        (
            {"backend": "kubernetes", "executor": "LocalExecutor"},
            "LocalExecutor' is not built for backend kubernetes",
        ),
        ({"executor": "KubernetesExecutor"}, "not built for backend docker"),
        ({"backend": "nomad"}, "allowed docker, kubernetes"),
        (
            {"backend": "kubernetes", "executor": "KubernetesExecutor", "kerberos": True},
            "the ticket refresher runs beside each Celery worker",
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
    values = [v for v in vars(secrets).values() if isinstance(v, str) and len(v) >= 12]
    assert len(values) >= 7  # every generated secret, not a chosen few
    for value in values:
        assert value not in others
    every = M.to_yaml(objs)
    assert secrets.fernet_key in every  # ... and they are there


def _scenario(topology: dict, fault: dict) -> dict:
    return {
        "name": "s",
        "topology": topology,
        "steps": [
            {"trigger": {"name": "r", "dag": "long_task"}},
            {"fault": fault},
            {"expect": {"name": "done", "check": "no_task_lost"}},
        ],
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


def test_hang_of_one_process_is_validated_before_boot():
    ok = {
        "name": "f",
        "kind": "hang",
        "target": "k8s-node",
        "process": "kube-apiserver",
        "for": "5s",
    }
    assert from_data(_scenario(K8S, ok), "ok.yaml").steps[1].params() == {
        "process": "kube-apiserver"
    }
    cases = [
        ({**ok, "target": "postgres"}, "runs in a Kubernetes node"),
        ({**ok, "mode": "pause"}, "leave 'mode' out"),
        ({**ok, "process": "dockerd"}, "kube-apiserver"),  # the allowed names are listed
    ]
    for fault, needle in cases:
        with pytest.raises(TestbedError, match=needle):
            from_data(_scenario(K8S, fault), "bad.yaml")


def test_named_pids_finds_the_processes_of_that_program_only():
    """Against this machine's real process table: a child ``sleep`` of this test is found
    under a stand-in container whose init is this process; a name nobody runs is an error."""
    import os
    import subprocess

    from testbed.faults import FaultError, named_pids

    class Box:
        name = "box"
        attrs = {"State": {"Pid": os.getpid()}}

        def reload(self) -> None:
            pass

    child = subprocess.Popen(["sleep", "30"])
    try:
        _exec_done(child.pid, b"sleep")  # a forked child shows the parent's argv until its exec
        assert named_pids(Box(), "sleep") == [child.pid]
        with pytest.raises(FaultError, match="no process named 'kubelet'"):
            named_pids(Box(), "kubelet")
    finally:
        child.kill()
        child.wait()


def _exec_done(pid: int, argv0: bytes, timeout: float = 10) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            if fh.read().split(b"\0", 1)[0] == argv0:
                return
        time.sleep(0.01)
    raise AssertionError(f"pid {pid} never ran {argv0!r}")


def test_more_nodes_put_task_pods_in_their_own_pool(secrets):
    from testbed.k8s.node import pod_subnet

    three = Topology(backend="kubernetes", executor="KubernetesExecutor", k8s_nodes=3)
    assert three.k8s_workers == ["k8s-node-2", "k8s-node-3"]
    assert three.nodes.count("k8s-node-3") == 1 and "k8s-node-2" not in three.infra_nodes
    assert [pod_subnet(n) for n in ("k8s-node", "k8s-node-3")] == ["10.244.0.0/24", "10.244.2.0/24"]
    objs = M.objects(three, secrets, IMAGE, HOSTS)
    template = yaml.safe_load(
        by_kind(objs, "ConfigMap")["pod-template"]["data"]["pod_template.yaml"]
    )
    assert template["spec"]["nodeSelector"] == {M.POOL_LABEL: M.TASKS}
    for d in by_kind(objs, "Deployment").values():
        assert d["spec"]["template"]["spec"]["nodeSelector"] == {M.POOL_LABEL: M.SYSTEM}
    one = M.objects(
        Topology(backend="kubernetes", executor="KubernetesExecutor"), secrets, IMAGE, HOSTS
    )
    alone = yaml.safe_load(by_kind(one, "ConfigMap")["pod-template"]["data"]["pod_template.yaml"])
    assert "nodeSelector" not in alone["spec"]  # one node: the task pods beside the roles
    with pytest.raises(TestbedError, match="k8s_nodes must be 1..3"):
        Topology(k8s_nodes=2)


def test_more_k8s_inputs_refused_before_boot():
    cases = [
        (
            {"name": "f", "kind": "pod_delete", "target": "host_of:r.work"},
            K8S,
            "a task pod is no Deployment's",
        ),
        ({"name": "f", "kind": "remove", "target": "k8s-node"}, K8S, "holds the cluster's CA"),
        (
            {"name": "f", "kind": "hang", "target": "k8s-node-2", "process": "etcd"},
            {**K8S, "k8s_nodes": 2},
            "runs only kubelet, kube-proxy, containerd",
        ),
        (
            {"name": "f", "kind": "pod_delete", "target": "scheduler", "grace": "0.5s"},
            K8S,
            "'grace' is whole seconds",
        ),
        (
            {"name": "f", "kind": "pod_delete", "target": "scheduler"},
            {**K8S, "config": {"core.executor": "CeleryExecutor"}},
            "set the topology's executor instead",
        ),
    ]
    for fault, topology, needle in cases:
        with pytest.raises(TestbedError, match=needle):
            from_data(_scenario(topology, fault), "bad.yaml")
    kubelet = {"name": "f", "kind": "hang", "target": "k8s-node-2", "process": "kubelet"}
    assert from_data(_scenario({**K8S, "k8s_nodes": 2}, kubelet), "ok.yaml")


class FakeNode:
    """A stand-in for the testbed's ``kubectl`` inside the node: records each call, answers
    from a table (no Docker)."""

    def __init__(self, answers: dict[str, tuple[int, str, str]]) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.answers = answers

    def __call__(self, ctx, *args, stdin=None, timeout=30):
        import subprocess

        self.calls.append(args)
        code, out, err = self.answers.get(args[0], (0, "", ""))
        return subprocess.CompletedProcess(args, code, out, err)


def test_pod_delete_with_grace_deletes_gracefully_and_records_the_pods(monkeypatch):
    from testbed.faults import pod as kf

    fake = FakeNode({})
    monkeypatch.setattr(kf, "kubectl", fake)
    monkeypatch.setattr(kf.deploy, "pod_names", lambda ctx, role: ["scheduler-abc"])
    events = []

    class Cluster:
        history = type("H", (), {"append": lambda self, kind, **f: events.append(f)})()

    f = kf.PodDelete(Cluster(), "scheduler", grace=30)
    f.inject()
    assert fake.calls == [("delete", "pod", "scheduler-abc", "--wait=false", "--grace-period=30")]
    assert f.deleted == ["scheduler-abc"] and events[-2]["pods"] == ["scheduler-abc"]
    # the pod's name is the hostname a task records: its TERM is judged against it
    assert events[-1] == {"node": "scheduler-abc", "signal": "TERM", "fault": f.name}
    fake.answers["delete"] = (1, "", "Forbidden")
    with pytest.raises(kf.FaultError, match="Forbidden"):
        kf.PodDelete(Cluster(), "scheduler", grace=30).inject()


def test_pod_pids_finds_processes_by_their_pod_cgroup(tmp_path, monkeypatch):
    """The cgroup of each process under the node decides (read from /proc, faked here)."""
    from testbed.faults import pod as kf

    cgroups = {
        11: "4:pids:/docker/abc/kubepods/besteffort/pod1234-uid/ctr1\n",
        12: "4:pids:/docker/abc/kubepods/besteffort/pod9999-other/ctr2\n",
        13: "4:pids:/docker/abc\n",
    }
    real_open = open

    def fake_open(path, *a, **kw):
        if str(path).startswith("/proc/") and str(path).endswith("/cgroup"):
            return __import__("io").StringIO(cgroups[int(str(path).split("/")[2])])
        return real_open(path, *a, **kw)

    monkeypatch.setattr(kf, "descendants", lambda pid: list(cgroups))
    monkeypatch.setattr("builtins.open", fake_open)

    class Node:
        attrs = {"State": {"Pid": 1}}

        def reload(self) -> None:
            pass

    assert kf.pod_pids(Node(), ["/pod1234-uid/"]) == [11]  # a pod's processes
    assert kf.pod_pids(Node(), ["/pod1234-uid/ctr1"]) == [11]  # one container's
    assert kf.pod_pids(Node(), ["/pod1234-uid/ctr2", "/pod-nope/"]) == []


def test_exec_in_pod_keeps_stdout_alone_when_it_worked(monkeypatch):
    from testbed.core.errors import ExecTimeout
    from testbed.k8s import node as kn

    fake = FakeNode({"exec": (0, '{"a": 1}\n', "a warning on stderr\n")})
    monkeypatch.setattr(kn, "kubectl", fake)
    r = kn.exec_in_pod(None, "scheduler", ["python", "-c", "x"], timeout=30)
    assert r.output.strip().splitlines()[-1] == '{"a": 1}'
    assert fake.calls[0][:6] == ("exec", "deploy/scheduler", "-c", "scheduler", "--", "timeout")
    fake.answers["exec"] = (1, "", "boom\n")
    assert "boom" in kn.exec_in_pod(None, "scheduler", ["x"], timeout=5).output
    fake.answers["exec"] = (137, "", "")
    with pytest.raises(ExecTimeout):
        kn.exec_in_pod(None, "scheduler", ["x"], timeout=5)


def test_node_ready_stamp_is_not_the_timeout_line():
    from testbed.k8s.node import ready_stamp

    line = ready_stamp("k8s-node")
    assert line.search("[k8s-node    4.7s] node k8s-node Ready\n")
    assert not line.search("[k8s-node  300.0s] TIMEOUT waiting for node k8s-node Ready\n")


def test_logged_may_read_a_role_pod_on_kubernetes_but_not_an_unknown_node():
    def drill(node: str) -> dict:
        return {
            "name": "s",
            "topology": K8S,
            "steps": [
                {"fault": {"name": "f", "kind": "pod_delete", "target": "scheduler"}},
                {
                    "expect": {
                        "name": "l",
                        "check": "logged",
                        "node": node,
                        "line": "x",
                        "after": "f",
                    }
                },
            ],
        }

    assert from_data(drill("scheduler"), "ok.yaml").steps[1].check == "logged"
    with pytest.raises(TestbedError, match="unknown node 'worker-1'"):
        from_data(drill("worker-1"), "bad.yaml")
