"""The Kubernetes objects of an Airflow deployment, as the official Helm chart makes them:
one Deployment per role (api-server, scheduler, dag-processor, triggerer; with the
CeleryExecutor one per Celery worker, with the chart's 600 s grace for a warm shutdown), the
migration Job,
the pod template the KubernetesExecutor launches each task from, the scheduler's service
account with the pod launcher's Role, Services for the API (the Execution API's address for
task pods) and the scheduler's health check, and the configuration as Secrets.

Pure: (topology, secrets, image, addresses) -> a list of objects (dicts). Nothing here talks
to Kubernetes or Docker. Differences from the chart, on purpose: no DNS in the cluster (every
name a pod needs is a ``hostAliases`` entry: Postgres, MinIO, Toxiproxy and Redis are
containers beside the node; the API has a fixed ClusterIP), ``imagePullPolicy: Never`` (the image is
side-loaded), and the configuration is the testbed's own (testbed.airflow_config), secrets
in files read through ``*_cmd`` options.
"""

from __future__ import annotations

from typing import Any

import yaml

from testbed import airflow_config as AC
from testbed.core.secrets import Secrets
from testbed.k8s import kerberos
from testbed.k8s.meta import LABELS, NAMESPACE, _meta, _secret
from testbed.services.airflow import EXECUTION_WARMUP, ROLE_COMMANDS, role_of
from testbed.topology import Topology, role_is_worker

API_CLUSTER_IP = "10.96.0.80"  # in the apiserver's service range (10.96.0.0/16)
# role -> (container port, NodePort on the node container, published to the host)
NODE_PORTS = {"api-server": (AC.API_PORT, 30080), "scheduler": (AC.SCHEDULER_HEALTH_PORT, 30974)}
HEALTH_PATHS = {"api-server": "/api/v2/monitor/health", "scheduler": "/health"}
DAGS_ON_NODE = "/opt/testbed/dags"  # the DAG folder, copied into the node container
TEMPLATE_DIR = "/opt/testbed/pod-template"
SECRETS_SOURCE = "/run/testbed-secret"  # where a copied Secret is mounted (read-only)
TEMPLATE_FILE = f"{TEMPLATE_DIR}/pod_template.yaml"
MIGRATION_JOB = "run-airflow-migrations"
SCHEDULER_SA = "airflow-scheduler"
WORKER_SA = "airflow-worker"
WORKER = "worker"  # the config identity of the KubernetesExecutor's task pods
# the chart's workers.terminationGracePeriodSeconds: a TERMed Celery worker finishes its tasks
WORKER_GRACE = 600
# the chart's readiness probe of the api-server (a 5 s timeout, 5 failures in a row), checked
# every 2 s instead of 10 with no initial delay, so that a new pod takes traffic sooner. The
# Kubernetes default (1 s, 3 failures) took the only api-server out of its Service when it was
# slow for a few seconds under the load of a roll. The scheduler's health Service (which the
# chart does not have) gets the same probe
READINESS = {"periodSeconds": 2, "timeoutSeconds": 5, "failureThreshold": 5}
# seconds a deleted api-server pod keeps serving before its TERM (a preStop hook, which the
# chart leaves empty: `apiServer.containerLifecycleHooks`): the Service's endpoints are updated
# while it still answers. Without it a rolled api-server refused the API for ~6 s (docs/
# findings.md, "Rolling the api-server")
API_DRAIN = 10
# The api-server's startup probe: the Execution API's health, the first request into it, which
# builds its versioned routes (seconds of CPU in the one event loop, airflow.EXECUTION_WARMUP).
# Until it answers the pod is not started, so not ready: without it a rolled api-server took
# traffic as soon as its public API answered, and the first task heartbeat through the Service
# froze it (4-5 health probes in a row unanswered; docs/findings.md, "Rolling the api-server").
# 2 min at least to answer; an api-server that never does is restarted by the kubelet.
API_STARTUP = {"periodSeconds": 2, "timeoutSeconds": 5, "failureThreshold": 60}
CELERY_LABEL = "testbed.io/celery-worker"  # every Celery worker's pod (their anti-affinity)
NO_DNS = "127.0.0.1"  # a pod's only nameserver: an unknown name fails at once, not in 5 s
POOL_LABEL = "testbed.io/pool"  # each node's, set by its kubelet (K8S_POOL)
SYSTEM, TASKS = "system", "tasks"


def objects(
    topology: Topology,
    secrets: Secrets,
    image: str,
    hosts: dict[str, str],
    keytabs: dict[str, bytes] | None = None,
) -> list[dict[str, Any]]:
    """Every object, in the order ``kubectl apply`` should create them. ``hosts``: the address
    of each name the pods use (postgres, minio, toxiproxy; redis with Celery; the KDC and the
    kerberized target with Kerberos); the API's is added here where not given. ``keytabs``:
    each worker's, with Kerberos (its sidecar's alone, testbed.k8s.kerberos)."""
    hosts = {"api-server": API_CLUSTER_IP, **hosts}  # an existing cluster's: its own
    roles = [*topology.pods, "migrate", WORKER]
    out: list[dict[str, Any]] = [_config(role, topology, secrets, image) for role in roles]
    out += [_files(role, topology, secrets) for role in roles]
    out += _rbac()
    out.append(_template_map(pod_template(topology, image, hosts)))
    out += [_service(role, *ports) for role, ports in NODE_PORTS.items()]
    out.append(_migration_job(image, hosts))
    pool = TASKS if topology.k8s_workers else SYSTEM  # Celery workers: where task pods go
    deployments = [_deployment(role, image, hosts, pool) for role in topology.pods]
    if topology.kerberos:
        out += kerberos.objects(topology, keytabs or {})
        for d in deployments:
            if role_is_worker(d["metadata"]["name"]):
                kerberos.add_sidecar(d["spec"]["template"]["spec"], d["metadata"]["name"])
    return out + deployments


def to_yaml(objs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objs, sort_keys=False)


def executor_config(image: str) -> dict[str, str]:
    """``[kubernetes_executor]``: task pods from the template, of this image, in this namespace."""
    repo, _, tag = image.rpartition(":")
    options = {
        "namespace": NAMESPACE,
        "pod_template_file": TEMPLATE_FILE,
        "worker_container_repository": repo,
        "worker_container_tag": tag,
        "delete_worker_pods": "True",
        "in_cluster": "True",
    }
    return {AC.env_name("kubernetes_executor", k): v for k, v in options.items()}


def _config(role: str, topology: Topology, secrets: Secrets, image: str) -> dict[str, Any]:
    """The role's environment (Airflow options, the JWT and API secrets among them): a Secret,
    so that no pod spec shows it."""
    env = {**AC.environment(topology, role, secrets), **executor_config(image)}
    return _secret(f"airflow-env-{role}", role, env)


def _files(role: str, topology: Topology, secrets: Secrets) -> dict[str, Any]:
    """The files behind the ``*_cmd`` options (database URL, fernet key, ...)."""
    return _secret(f"airflow-files-{role}", role, AC.secret_files(topology, role, secrets))


def _rbac() -> list[dict[str, Any]]:
    """The scheduler launches, watches, adopts (patches labels) and deletes task pods."""
    rules = [
        {
            "apiGroups": [""],
            "resources": ["pods"],
            "verbs": ["create", "get", "list", "watch", "delete", "patch"],
        },
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["list", "watch"]},
    ]
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta("pod-launcher"),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "pod-launcher",
        },
        "subjects": [{"kind": "ServiceAccount", "name": SCHEDULER_SA, "namespace": NAMESPACE}],
    }
    accounts = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(sa)}
        for sa in (SCHEDULER_SA, WORKER_SA)
    ]
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta("pod-launcher"),
        "rules": rules,
    }
    return [*accounts, role, binding]


def _pod_spec(
    role: str, image: str, hosts: dict[str, str], container: str, pool: str | None = SYSTEM
) -> dict[str, Any]:
    """What every Airflow pod shares: the image (never pulled), the names it needs, the
    role's configuration and secret files, the DAG folder; the node pool it runs in (the
    control plane's node is the ``system`` pool, other nodes the ``tasks`` pool)."""
    mounts = [
        {"name": "secrets", "mountPath": AC.SECRETS_DIR, "readOnly": True},
        {"name": "dags", "mountPath": AC.DAGS_FOLDER, "readOnly": True},
    ]
    return {
        "serviceAccountName": SCHEDULER_SA if role == "scheduler" else WORKER_SA,
        "automountServiceAccountToken": role == "scheduler",
        "hostAliases": [{"ip": ip, "hostnames": [name]} for name, ip in sorted(hosts.items())],
        **({"nodeSelector": {POOL_LABEL: pool}} if pool else {}),
        "dnsPolicy": "None",
        "dnsConfig": {"nameservers": [NO_DNS]},
        "containers": [
            {
                "name": container,
                "image": image,
                "imagePullPolicy": "Never",
                "envFrom": [{"secretRef": {"name": f"airflow-env-{role}"}}],
                "volumeMounts": mounts,
            }
        ],
        "volumes": [
            # 0440, group root: the image's airflow user (uid 50000) is in group 0
            {
                "name": "secrets",
                "secret": {"secretName": f"airflow-files-{role}", "defaultMode": 0o440},
            },
            {"name": "dags", "hostPath": {"path": DAGS_ON_NODE, "type": "Directory"}},
        ],
    }


def pod_template(topology: Topology, image: str, hosts: dict[str, str]) -> dict[str, Any]:
    """The KubernetesExecutor's task pod: the executor fills in the container's args (the
    workload) and its labels; the container must be named ``base``."""
    pool = TASKS if topology.k8s_workers else None  # one node: beside the Airflow roles
    spec = _pod_spec(WORKER, image, hosts, container="base", pool=pool)
    spec["restartPolicy"] = "Never"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _meta("task", WORKER), "spec": spec}


def _template_map(template: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta("pod-template", "scheduler"),
        "data": {"pod_template.yaml": yaml.safe_dump(template, sort_keys=False)},
    }


def _service(role: str, port: int, node_port: int) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "NodePort",
        "selector": {"component": role},
        "ports": [{"port": port, "targetPort": port, "nodePort": node_port}],
    }
    if role == "api-server":  # task pods reach the Execution API here (a hostAliases entry)
        spec["clusterIP"] = API_CLUSTER_IP
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(role, role), "spec": spec}


def _migration_job(image: str, hosts: dict[str, str]) -> dict[str, Any]:
    spec = _pod_spec("migrate", image, hosts, container="run-airflow-migrations")
    spec["containers"][0]["command"] = ROLE_COMMANDS["migrate"]
    spec["restartPolicy"] = "OnFailure"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _meta(MIGRATION_JOB, "run-airflow-migrations"),
        "spec": {"backoffLimit": 2, "template": {"metadata": {"labels": LABELS}, "spec": spec}},
    }


def _writable_secrets(spec: dict[str, Any]) -> None:
    """The simple auth manager opens its passwords file for appending (``a+``), and a Secret
    volume is read-only: the files are copied into a memory-backed folder at the start."""
    c = spec["containers"][0]
    c["volumeMounts"][0]["mountPath"] = SECRETS_SOURCE
    c["volumeMounts"].append({"name": "secrets-rw", "mountPath": AC.SECRETS_DIR})
    spec["volumes"].append({"name": "secrets-rw", "emptyDir": {"medium": "Memory"}})
    spec["securityContext"] = {"fsGroup": 0}  # the folder group-writable for group root
    d = AC.SECRETS_DIR
    copy = f'cp -Lf {SECRETS_SOURCE}/* {d}/ && chmod 600 {d}/* && exec "$@"'
    c["command"] = ["sh", "-c", copy, "--", *c["command"]]


def _deployment(role: str, image: str, hosts: dict[str, str], pool: str) -> dict[str, Any]:
    worker = role_is_worker(role)
    spec = _pod_spec(role, image, hosts, container=role, pool=pool if worker else SYSTEM)
    c = spec["containers"][0]
    c["command"] = ROLE_COMMANDS[role_of(role)]
    if role in NODE_PORTS:
        port = NODE_PORTS[role][0]
        c["ports"] = [{"containerPort": port}]
        path = HEALTH_PATHS[role]
        c["readinessProbe"] = {"httpGet": {"path": path, "port": port}, **READINESS}
    if role == "api-server":
        _writable_secrets(spec)
        c["lifecycle"] = {"preStop": {"exec": {"command": ["sleep", str(API_DRAIN)]}}}
        warmup = {"path": EXECUTION_WARMUP, "port": AC.API_PORT}
        c["startupProbe"] = {"httpGet": warmup, **API_STARTUP}
    if role == "scheduler":
        spec["volumes"].append({"name": "pod-template", "configMap": {"name": "pod-template"}})
        c["volumeMounts"].append({"name": "pod-template", "mountPath": TEMPLATE_DIR})
    labels = {**LABELS, "component": role}
    if worker:
        _celery_worker(spec, labels)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(role, role),
        "spec": {
            "replicas": 1,
            "strategy": _strategy(role),
            "selector": {"matchLabels": {"component": role}},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def _strategy(role: str) -> dict[str, Any]:
    """How a new image rolls out, as the chart's objects roll. A Celery worker and the
    triggerer: the old pod gone (a worker's warm shutdown) before the new one starts, as the
    chart's StatefulSets roll one pod at a time. The api-server and the scheduler: Kubernetes'
    default (the chart sets none), the dag-processor: the chart's (maxSurge 100 %,
    maxUnavailable 50 %); with one replica all three start the new pod before the old one gets
    its TERM."""
    if role_is_worker(role) or role == "triggerer":
        return {"type": "Recreate"}
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


def _celery_worker(spec: dict[str, Any], labels: dict[str, str]) -> None:
    """As the chart runs a Celery worker: a grace long enough for the warm shutdown (one TERM:
    no new tasks, the running ones finish), and the workers spread over the nodes of their
    pool. The chart's default is a preferred anti-affinity, which counts a pod still draining:
    a replacement made during a warm shutdown could land beside the other worker, and one
    node's loss would then take both. A spread constraint ignores a terminating pod, so the
    replacement goes back to the node that is freeing up."""
    labels[CELERY_LABEL] = "true"
    spec["terminationGracePeriodSeconds"] = WORKER_GRACE
    spec["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {CELERY_LABEL: "true"}},
        }
    ]
