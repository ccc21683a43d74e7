"""What a scenario may not ask of the Kubernetes backend beyond its table of limits: an
upgrade step that downgrades or rolls some Deployments only, and a Deployment's name where a
check matches the pod name a task recorded."""

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
