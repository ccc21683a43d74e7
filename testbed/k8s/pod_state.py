"""A role's running pod as Kubernetes reports it, for the probes that record a node's state on
Docker: each container's state, restarts and start (a worker and its Kerberos sidecar), and a
container's configuration (its mounts; its environment, from the Secrets it is given).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from testbed.core.errors import ClusterError
from testbed.k8s.node import kubectl, role_selector


def running_pod(ctx, role: str) -> dict[str, Any]:
    """The role's running pod (not one being deleted), as ``kubectl get -o json`` gives it."""
    args = ["get", "pods", "-l", role_selector(ctx, role)]
    args += ["--field-selector", "status.phase=Running"]
    done = kubectl(ctx, *args, "-o", "json", timeout=10)
    if done.returncode != 0:
        raise ClusterError(f"kubectl get pods of {role}: {done.stderr.strip()[:300]}")
    pods = [
        p for p in json.loads(done.stdout)["items"] if not p["metadata"].get("deletionTimestamp")
    ]
    if not pods:
        raise ClusterError(f"no running pod of {role}")
    return pods[0]


def statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    """Every container's status entry, init containers first (a native sidecar is an init
    container that keeps running)."""
    status = pod.get("status", {})
    return [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]


def container_states(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each container's ``{"state", "restarts", "started_at"}`` (init containers included), as
    a node's are recorded (``running``, ``waiting``, ``terminated``; its current run's start)."""
    out = {}
    for s in statuses(pod):
        state = next(iter(s.get("state") or {"unknown": {}}))
        started = (s.get("state") or {}).get(state, {}).get("startedAt")
        out[s["name"]] = {
            "state": state,
            "restarts": s.get("restartCount", 0),
            "started_at": started,
        }
    return out


def container_config(ctx, pod: dict[str, Any], container: str) -> dict[str, Any]:
    """A container's mounts (``destination``, ``name``, ``rw``) and its environment: every
    variable of the Secrets it takes (``envFrom``), decoded here and never printed."""
    every = [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]
    spec = next(c for c in every if c["name"] == container)  # a native sidecar is an init one
    mounts = [
        {"destination": m["mountPath"], "name": m["name"], "rw": not m.get("readOnly", False)}
        for m in spec.get("volumeMounts", [])
    ]
    env = {e["name"]: str(e.get("value", "")) for e in spec.get("env", [])}
    for source in spec.get("envFrom", []):
        name = (source.get("secretRef") or {}).get("name")
        if name:
            env.update(_secret_env(ctx, name))
    return {"mounts": mounts, "env": env}


def _secret_env(ctx, name: str) -> dict[str, str]:
    done = kubectl(ctx, "get", "secret", name, "-o", "jsonpath={.data}", timeout=10)
    if done.returncode != 0:
        raise ClusterError(f"kubectl get secret {name}: {done.stderr.strip()[:300]}")
    data = json.loads(done.stdout or "{}")
    return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in data.items()}
