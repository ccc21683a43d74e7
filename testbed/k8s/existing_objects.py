"""The objects of a deployment into an existing cluster's namespace (``kubeconfig:``): the
built-in node's objects (:mod:`testbed.k8s.manifests`) made fit for a cluster the testbed did
not build, and the infrastructure (Postgres, MinIO, Toxiproxy, Redis) as pods beside them.

What differs from the built-in node, and why:

- the images come from the user's registry (``imagePullPolicy: IfNotPresent``), not side-loaded;
- no node pools (their nodes carry no ``testbed.io/pool`` label) and no fixed ClusterIP or
  NodePort (the range and the ports are the cluster's): the Services are ``ClusterIP`` ones,
  applied first, and the pods reach them by ``hostAliases`` of the addresses Kubernetes gave
  (as on the built-in node, no cluster DNS is assumed);
- the DAG folder is a ConfigMap (a namespace-scoped user has no host path on the nodes);
- every object is in the run's namespace and carries the run's label, which is how the
  teardown finds what to delete (:data:`RUN_LABEL`).

Pure: objects in, objects out. Nothing here talks to Kubernetes or Docker.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import yaml

from testbed import airflow_config as AC
from testbed.core.errors import TestbedError
from testbed.k8s import manifests
from testbed.k8s.meta import LABELS, RUN_LABEL
from testbed.runtime import NodeSpec
from testbed.topology import Topology

DAGS_MAP = "airflow-dags"
DAGS_SOURCE = "/opt/testbed/dags-map"  # the ConfigMap's volume, in the copy-dags init container
# a ConfigMap holds 1 MiB at most (etcd's object limit, less the object's own fields)
MAX_DAGS_BYTES = 900 * 1024
INFRA_COMPONENT = "testbed-infrastructure"  # the infrastructure pods' ``tier`` label


def label(objs: list[dict[str, Any]], run_id: str, namespace: str) -> list[dict[str, Any]]:
    """Every object in ``namespace`` with the run's label, its pod templates' too, the
    KubernetesExecutor's among them (a task pod carries it: the teardown deletes it by that
    label, a failed one too), and every selector narrowed to the run's pods (the namespace may
    hold an Airflow of the official chart, whose pods carry the same ``component`` labels)."""
    out = copy.deepcopy(objs)
    mine = {RUN_LABEL: run_id}
    for obj in out:
        meta = obj["metadata"]
        meta["namespace"] = namespace
        meta.setdefault("labels", {}).update(mine)
        spec = obj.get("spec", {})
        if obj["kind"] == "Service":
            spec["selector"].update(mine)
        if "template" in spec:
            spec["template"].setdefault("metadata", {}).setdefault("labels", {}).update(mine)
        if "matchLabels" in spec.get("selector", {}):
            spec["selector"]["matchLabels"].update(mine)
        _edit_template(obj, lambda t: t["metadata"].setdefault("labels", {}).update(mine))
    return out


def _edit_template(obj: dict[str, Any], change) -> None:
    """Apply ``change`` to the KubernetesExecutor's pod template, if ``obj`` is its ConfigMap
    (the template is YAML text in it)."""
    if obj["kind"] != "ConfigMap" or obj["metadata"]["name"] != "pod-template":
        return
    template = yaml.safe_load(obj["data"]["pod_template.yaml"])
    change(template)
    obj["data"]["pod_template.yaml"] = yaml.safe_dump(template, sort_keys=False)


def adapt(objs: list[dict[str, Any]], topology: Topology, dags: dict[str, tuple[bytes, int]]):
    """The built-in node's objects (``manifests.objects``), for an existing cluster: pulled
    images, no pools, ClusterIP Services, the DAG ConfigMap, the namespace in the RBAC subject
    and the executor's options. Objects in the order to apply them."""
    out = copy.deepcopy(objs)
    ns = topology.namespace
    for obj in out:
        kind = obj["kind"]
        if kind == "Service":
            obj["spec"] = _cluster_ip(obj["spec"])
        elif kind == "RoleBinding":
            for subject in obj["subjects"]:
                subject["namespace"] = ns
        elif kind == "Secret" and obj["metadata"]["name"].startswith("airflow-env-"):
            key = AC.env_name("kubernetes_executor", "namespace")
            if key in obj["stringData"]:
                obj["stringData"][key] = ns
        _edit_template(obj, lambda t: _pod(t["spec"], dags))
        pod = obj.get("spec", {}).get("template", {}).get("spec")
        if pod:
            _pod(pod, dags)
    return [dags_map(dags), *out]


def _cluster_ip(spec: dict[str, Any]) -> dict[str, Any]:
    ports = [{"port": p["port"], "targetPort": p["targetPort"]} for p in spec["ports"]]
    return {"type": "ClusterIP", "selector": spec["selector"], "ports": ports}


def _pod(spec: dict[str, Any], dags: dict[str, tuple[bytes, int]]) -> None:
    spec.pop("nodeSelector", None)
    for c in [*spec.get("initContainers", []), *spec["containers"]]:
        c["imagePullPolicy"] = "IfNotPresent"
    for i, vol in enumerate(spec.get("volumes", [])):
        if vol["name"] == "dags":
            spec["volumes"][i] = {"name": "dags", "emptyDir": {}}
            spec["volumes"].append({"name": "dags-map", "configMap": _dag_items(dags)})
            spec.setdefault("initContainers", []).insert(0, _copy_dags(spec))


def _copy_dags(spec: dict[str, Any]) -> dict[str, Any]:
    """The DAG files copied out of the ConfigMap's volume into the pod's DAG folder: Airflow
    walks its folder following links, and a ConfigMap volume is links into a timestamped
    folder (``..data``), which it takes for a loop."""
    main = spec["containers"][0]
    return {
        "name": "copy-dags",
        "image": main["image"],
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", f"cp -rL {DAGS_SOURCE}/* {AC.DAGS_FOLDER}/"],
        "volumeMounts": [
            {"name": "dags-map", "mountPath": DAGS_SOURCE, "readOnly": True},
            {"name": "dags", "mountPath": AC.DAGS_FOLDER},
        ],
    }


def _dag_items(dags: dict[str, tuple[bytes, int]]) -> dict[str, Any]:
    prefix = len(AC.DAGS_FOLDER) + 1
    items = [
        {"key": f"f{i}", "path": path[prefix:], "mode": 0o444}
        for i, path in enumerate(sorted(dags))
    ]
    return {"name": DAGS_MAP, "items": items}


def dags_map(dags: dict[str, tuple[bytes, int]]) -> dict[str, Any]:
    """The DAG folder as a ConfigMap (each file under a key of its own; the volume's items put
    it back at its path, subfolders included); raises past what a ConfigMap holds."""
    size = sum(len(data) for data, _ in dags.values())
    if size > MAX_DAGS_BYTES:
        raise TestbedError(
            f"dags: {size // 1024} KiB; an existing cluster gets the DAG folder as a ConfigMap, "
            f"which holds {MAX_DAGS_BYTES // 1024} KiB at most"
        )
    data = {
        f"f{i}": base64.b64encode(dags[path][0]).decode() for i, path in enumerate(sorted(dags))
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": DAGS_MAP, "labels": dict(LABELS)},
        "binaryData": data,
    }


def services(topology: Topology, infra: list[NodeSpec]) -> list[dict[str, Any]]:
    """The Services applied first (their ClusterIPs are the pods' ``hostAliases``): each
    infrastructure pod's, with its ports, and the api-server's and the scheduler's."""
    out = [_service(s.name, infra_ports(topology, s)) for s in infra]
    for role, (port, _node_port) in manifests.NODE_PORTS.items():
        obj = manifests._service(role, port, 0)
        obj["spec"] = _cluster_ip(obj["spec"])
        out.append(obj)
    return out


def infra_ports(topology: Topology, spec: NodeSpec) -> list[int]:
    """What an infrastructure pod listens on: its spec's ports, and Toxiproxy's every link."""
    ports = list(spec.ports)
    if spec.name == "toxiproxy":
        ports += [link.listen_port for link in topology.links()]
    return ports


def _service(name: str, ports: list[int]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {**LABELS, "component": name}},
        "spec": {
            "type": "ClusterIP",
            "selector": {"component": name, "tier": INFRA_COMPONENT},
            "ports": [{"name": f"p{p}", "port": p, "targetPort": p} for p in ports],
        },
    }


def infra(spec: NodeSpec, image: str, hosts: dict[str, str]) -> list[dict[str, Any]]:
    """An infrastructure node's spec as a pod: a Secret of its files (each mounted at its
    path) and its environment (a password among them: no pod spec shows it), a Deployment of
    one replica, run as the image's user (root for the infrastructure)."""
    name = spec.name
    files = sorted(spec.files.items())
    data = {f"f{i}": base64.b64encode(d).decode() for i, (_, (d, _m)) in enumerate(files)}
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"infra-{name}", "labels": {**LABELS, "component": name}},
        "type": "Opaque",
        "data": data,
        "stringData": dict(spec.env),
    }
    mounts = [
        {"name": "files", "mountPath": path, "subPath": f"f{i}", "readOnly": True}
        for i, (path, _) in enumerate(files)
    ]
    items = [{"key": f"f{i}", "path": f"f{i}", "mode": m} for i, (_, (_d, m)) in enumerate(files)]
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": spec.command,
        "volumeMounts": mounts,
    }
    if spec.env:  # from the Secret, key by key (the files' keys are no environment names)
        ref = lambda k: {"secretKeyRef": {"name": f"infra-{name}", "key": k}}  # noqa: E731
        container["env"] = [{"name": k, "valueFrom": ref(k)} for k in sorted(spec.env)]
    labels = {**LABELS, "component": name, "tier": INFRA_COMPONENT}
    pod = {
        "hostAliases": [{"ip": ip, "hostnames": [h]} for h, ip in sorted(hosts.items())],
        "dnsPolicy": "None",
        "dnsConfig": {"nameservers": [manifests.NO_DNS]},
        "automountServiceAccountToken": False,
        "containers": [container],
        "volumes": [{"name": "files", "secret": {"secretName": f"infra-{name}", "items": items}}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"component": name, "tier": INFRA_COMPONENT}},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }
    return [secret, deployment]
