"""`testbed run --kubeconfig --registry --namespace`, as a team runs a drill on its staging
cluster: here "someone else's" cluster is a Kubernetes node the test boots on its own, with a
registry beside it (its containerd told to pull from it over plain HTTP, as an administrator
would), and a user who may do things in one namespace only (a ServiceAccount's token and a Role
there: nothing outside it is possible). The drill (`k8s_scheduler_restart`, the same file the
built-in node runs) must pass there; the images must come from the registry; the run must
leave nothing in the namespace and no container on this machine."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from testbed import runtime
from testbed.cluster import Cluster
from testbed.images import k8s_node as k8s_image
from testbed.images.registry import PORT, ensure_registry_image
from testbed.k8s.existing_objects import RUN_LABEL
from testbed.runtime import NodeSpec
from testbed.topology import K8S_NODE, Topology

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("testbed-kubernetes"),
    pytest.mark.skipif(
        k8s_image.unavailable() is not None, reason=f"kubernetes: {k8s_image.unavailable()}"
    ),
]

NAMESPACE = "team-a"
# what the team's user may do, in its namespace only (a Role: no cluster-wide rights at all)
TEAM_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "Role",
    "metadata": {"name": "team", "namespace": NAMESPACE},
    "rules": [
        {
            "apiGroups": [""],
            "resources": [
                "pods",
                "pods/exec",
                "pods/log",
                "pods/portforward",
                "services",
                "secrets",
                "configmaps",
                "serviceaccounts",
                "events",
            ],
            "verbs": ["*"],
        },
        {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": ["*"]},
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["*"]},
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["roles", "rolebindings"],
            "verbs": ["*"],
        },
    ],
}
KINDS = "deployments,replicasets,jobs,pods,services,secrets,configmaps,serviceaccounts,roles"


def admin(node, *args: str, stdin: str | None = None) -> str:
    """``kubectl`` as the cluster's administrator (inside its node)."""
    cmd = ["docker", "exec", "-i", node.name, "kubectl", *args]
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def staging(tmp_path_factory):
    """A Kubernetes node, its registry, a namespace and a namespace-scoped user's kubeconfig."""
    other = Cluster(Topology(backend="kubernetes", executor="KubernetesExecutor"))
    try:
        other.network = runtime.create_network(other.run_id, other.labels)
        other._phase("someone else's kubernetes node", [K8S_NODE])
        spec = NodeSpec("registry", "registry", ensure_registry_image(), [], ports=[PORT])
        reg = other.start_spec(spec)
        registry = f"127.0.0.1:{runtime.host_port(reg, PORT)}"  # a loopback push: plain HTTP
        node = other.container(K8S_NODE)
        _pull_from(node, registry, _ip(reg, other.network.name))
        kubeconfig = tmp_path_factory.mktemp("staging") / "kubeconfig"
        _team_kubeconfig(node, kubeconfig)
        yield kubeconfig, registry, node
    finally:
        other.down()


def _ip(container, network: str) -> str:
    container.reload()
    return container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]


def _pull_from(node, registry: str, address: str) -> None:
    """The node's containerd pulls ``registry`` (as this machine names it) from the registry's
    address on the node's network, over plain HTTP: a hosts.toml, as an administrator writes."""
    hosts = (
        f'server = "http://{address}:{PORT}"\n'
        f'[host."http://{address}:{PORT}"]\n  capabilities = ["pull", "resolve"]\n'
    )
    folder = f"/etc/containerd/certs.d/{registry}"
    runtime.put_files(node, {f"{folder}/hosts.toml": (hosts.encode(), 0o644)}, uid=0)


def _team_kubeconfig(node, path: Path) -> None:
    """The namespace, the team's ServiceAccount bound to its Role there, and a kubeconfig of
    that account's token (the API's address and CA from the administrator's)."""
    admin(node, "create", "namespace", NAMESPACE)
    admin(node, "-n", NAMESPACE, "create", "serviceaccount", "team")
    admin(node, "apply", "-f", "-", stdin=yaml.safe_dump(TEAM_ROLE))
    admin(node, "-n", NAMESPACE, "create", "rolebinding", "team", "--role=team",
          f"--serviceaccount={NAMESPACE}:team")  # fmt: skip
    token = admin(node, "-n", NAMESPACE, "create", "token", "team", "--duration=2h").strip()
    config = yaml.safe_load(admin(node, "config", "view", "--raw", "--flatten"))
    config["users"] = [{"name": "team", "user": {"token": token}}]
    config["contexts"] = [{"name": "team", "context": {"cluster": config["clusters"][0]["name"],
                                                       "user": "team"}}]  # fmt: skip
    config["current-context"] = "team"
    path.write_text(yaml.safe_dump(config))


def test_a_drill_runs_on_an_existing_cluster_and_leaves_nothing(staging, tmp_path):
    kubeconfig, registry, node = staging
    # the team's user can do nothing outside its namespace
    team = f"--as=system:serviceaccount:{NAMESPACE}:team"
    for where in (["-n", "default"], ["-A"]):  # neither another namespace nor cluster-wide
        denied = subprocess.run(
            ["docker", "exec", node.name, "kubectl", "auth", "can-i", "create", "deployments",
             team, *where], capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert denied.stdout.strip() == "no", where
    cmd = [sys.executable, "-m", "testbed", "run", "k8s_scheduler_restart", "--json"]
    cmd += ["--kubeconfig", str(kubeconfig), "--registry", registry, "--namespace", NAMESPACE]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    verdict = json.loads(done.stdout)[0]
    assert verdict["ok"] and verdict["clean"], verdict
    run_id = Path(verdict["record"]).parents[1].name
    # the images were pushed to the registry and pulled from it by the node's containerd
    catalog = requests.get(f"http://{registry}/v2/_catalog", timeout=10).json()
    assert {"testbed-services", "testbed-airflow-extra"} <= set(catalog["repositories"]), catalog
    pulled = subprocess.run(
        ["docker", "exec", node.name, "ctr", "-n", "k8s.io", "images", "ls", "-q"],
        capture_output=True, text=True, timeout=30,
    ).stdout.split()  # fmt: skip
    assert any(i.startswith(f"{registry}/testbed-airflow") for i in pulled), pulled
    # nothing of the run is left in the namespace (nothing but the team's own account, Role
    # and binding, and what Kubernetes puts in every namespace), no container on this machine
    assert _left_in_namespace(node) == set()
    assert [list(g) for g in runtime.run_objects(run_id)] == [[], [], []]


TEAMS_OWN = {
    "serviceaccount/default",
    "serviceaccount/team",
    "role.rbac.authorization.k8s.io/team",
    "configmap/kube-root-ca.crt",
}


def _left_in_namespace(node) -> set[str]:
    listed = admin(node, "-n", NAMESPACE, "get", KINDS, "-o", "name").split()
    return set(listed) - TEAMS_OWN


def test_up_leaves_airflow_running_there_and_down_removes_it(staging):
    """`testbed up --kubeconfig`: Airflow stays in the namespace, every role's Deployment
    ready, until `testbed down` deletes the run's objects (the images are in the registry
    already: nothing is sent again)."""
    kubeconfig, registry, node = staging
    cmd = [sys.executable, "-m", "testbed", "up", "--no-build", "--kubeconfig", str(kubeconfig)]
    cmd += ["--registry", registry, "--namespace", NAMESPACE]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    run_id = re.search(r"booting run (\S+)", done.stderr + done.stdout)
    assert done.returncode == 0 and run_id, done.stderr[-3000:]
    try:  # whatever a check below says, the run goes
        sel = f"{RUN_LABEL}={run_id[1]}"
        path = '{range .items[*]}{.metadata.name}={.status.readyReplicas}{"\\n"}{end}'
        ready = admin(
            node, "-n", NAMESPACE, "get", "deployments", "-l", sel, "-o", f"jsonpath={path}"
        )
        roles = dict(line.split("=") for line in ready.split())
        assert set(roles) == {"postgres", "minio", "toxiproxy", "api-server", "scheduler",
                              "dag-processor", "triggerer"}, roles  # fmt: skip
        assert set(roles.values()) == {"1"}, roles
        # applied server-side: no Secret's values in a last-applied-configuration annotation
        assert "secret/airflow-env-scheduler" in admin(
            node, "-n", NAMESPACE, "get", "secrets", "-l", sel, "-o", "name"
        )
        notes = admin(node, "-n", NAMESPACE, "get", "secrets", "-l", sel, "-o",
                      "jsonpath={.items[*].metadata.annotations}")  # fmt: skip
        assert "last-applied-configuration" not in notes
    finally:
        down = subprocess.run([sys.executable, "-m", "testbed", "down", "--run", run_id[1]],
                              capture_output=True, text=True, timeout=300)  # fmt: skip
    assert down.returncode == 0, down.stderr[-2000:]
    assert _left_in_namespace(node) == set()
    assert [list(g) for g in runtime.run_objects(run_id[1])] == [[], [], []]
