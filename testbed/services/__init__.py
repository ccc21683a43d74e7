"""One module per role: its container spec (image, command, environment, files, ports), its
readiness probe, and how host-side code gets a client for it.

Each module exposes ``spec(ctx, node) -> NodeSpec`` and ``probe(ctx, node) -> Probe``; ``ctx``
is the booting :class:`~testbed.cluster.Cluster` (topology, secrets, images, nodes, host ports).
"""

from __future__ import annotations

from typing import Protocol

from docker.models.containers import Container

from testbed.core.secrets import Secrets
from testbed.runtime import ExecResult
from testbed.topology import Topology

SECRETS_DIR = "/run/testbed"


class Ctx(Protocol):
    topology: Topology
    secrets: Secrets
    services_image: str
    airflow_image: str
    postgres_image: str

    def container(self, node: str) -> Container: ...

    def exec_in(self, node: str, cmd: list[str], *, timeout: float) -> ExecResult: ...

    def image_for(self, node: str) -> str: ...

    def host_port(self, node: str, port: int) -> int: ...


def secret_file(name: str, value: str) -> tuple[str, tuple[bytes, int]]:
    return f"{SECRETS_DIR}/{name}", (value.encode(), 0o600)
