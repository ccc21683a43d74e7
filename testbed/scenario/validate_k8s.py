"""What a scenario may not ask of the Kubernetes backend beyond its table of limits: an
upgrade step that downgrades or rolls some Deployments only, a Deployment's name where a
check matches the pod name a task recorded, and a fresh container for a node the pods reach
by address."""

from __future__ import annotations

from typing import Any

# The checks that match the hostname a task recorded (``task_outcome``) or the pod a TERM went to
# (``drained_cleanly``): on Kubernetes a pod's name, never its Deployment's.
HOST_FIELDS = {"task_outcome": ("host", "hosts"), "drained_cleanly": ("node",)}


def upgrade_refusal(step: Any, going_up: bool) -> list[tuple[str, str]]:
    """An upgrade rolls every Deployment to a newer version (the chart's ``helm upgrade``)."""
    if step.nodes is None and going_up:
        return []
    field, why = ("nodes", "`nodes:`") if step.nodes is not None else ("to", "a downgrade")
    return [(field, f"on Kubernetes an upgrade rolls every Deployment to a newer version "
             f"(the chart's `helm upgrade`); {why} is not built for it")]  # fmt: skip


def deployment_as_host(check: str, p: dict, pods: list[str]) -> list[tuple[str, str]]:
    """A Deployment's name where a pod's is recorded would never match: refused with the glob
    that does."""
    out = []
    for field in HOST_FIELDS.get(check, ()) if pods else ():
        given = p.get(field)
        for name in given if isinstance(given, list) else [given]:
            if name in pods:
                why = "on Kubernetes a task records its pod's name, not its Deployment's"
                out.append((field, f"{name!r}: {why}; use {name + '-*'!r}"))
    return out


# The containers beside the node that the pods reach at the address they had at boot (a
# ``hostAliases`` entry; testbed.k8s.deploy.addresses): a fresh container may get another.
BY_ADDRESS = ("postgres", "redis", "minio", "toxiproxy", "kdc", "pg-krb")


def address_kept(kind: str, target: str) -> list[tuple[str, str]]:
    """A fault that makes ``target`` anew (``replace``, ``remove``) would strand the pods."""
    if target not in BY_ADDRESS:
        return []
    why = "the pods reach it at its boot address (a hostAliases entry), which a fresh container"
    return [("kind", f"a {kind} of {target} on Kubernetes: {why} may not keep; kill, stop or "
             "hang it")]  # fmt: skip


def container_errors(role: str, container: str | None, topology: Any) -> list[tuple[str, str]]:
    """A container of the role's pod: its own (named as the role), or a Celery worker's
    Kerberos sidecar (``kerberos``) in a topology with Kerberos."""
    from testbed.k8s.kerberos import SIDECAR
    from testbed.topology import role_is_worker

    allowed = [role] + [SIDECAR] * (topology.kerberos and role_is_worker(role))
    if container is None or container in allowed:
        return []
    return [("container", f"{role}'s pod has the containers {', '.join(allowed)}; "
             f"not {container!r}")]  # fmt: skip
