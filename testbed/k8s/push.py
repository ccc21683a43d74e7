"""The images of a run pushed to the registry an existing cluster pulls from (``registry:``):
the Airflow image (with the Kubernetes provider) and the services image (Postgres, MinIO,
Toxiproxy, Redis), each tagged ``<registry>/<name>:<tag>`` and pushed by this machine's Docker
engine (layers the registry holds already are not sent again).

A plain-HTTP registry is pushed to as Docker allows: at a loopback address (127.0.0.1:PORT)
with no engine setting, elsewhere once the engine lists it in ``insecure-registries``; the
cluster's nodes pull it as their container runtime is told (containerd: a ``hosts.toml``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import docker.errors
import requests

from testbed import runtime
from testbed.core.errors import ClusterError


def pushed(registry: str, image: str) -> str:
    """The name ``image`` has in the registry."""
    return f"{registry}/{image}"


def push(registry: str, image: str, update: Callable[[str], None]) -> str:
    """Tag ``image`` for the registry and push it; its name there. Raises with the engine's
    word when the push fails (an unreachable registry, HTTPS expected, ...)."""
    name = pushed(registry, image)
    repo, _, tag = name.rpartition(":")
    engine = runtime.client()
    try:
        engine.images.get(image).tag(repo, tag)
        t0, last = time.monotonic(), ""
        for event in engine.api.push(repo, tag=tag, stream=True, decode=True):
            if "error" in event:
                raise ClusterError(f"docker push {name}: {event['error']}")
            status = f"{event.get('status', '')} {event.get('progress', '')}".strip()
            if status and status != last:
                update(f"pushing {name} ({time.monotonic() - t0:.0f}s): {status[:60]}")
                last = status
    except (docker.errors.APIError, requests.RequestException) as exc:
        raise ClusterError(f"docker push {name}: {exc}") from None
    return name
