"""The images a set of scenarios needs, built where missing: each Airflow version they run,
the derived images of a user's extra packages (or a backend's provider), and the images a
backend needs of its own (the Kubernetes node)."""

from __future__ import annotations

from testbed.backends import backend_for
from testbed.images import build
from testbed.images import k8s_node as k8s_image
from testbed.images.catalog import ImageRef


def ensure_scenarios(scenarios) -> list[tuple[ImageRef, str]]:
    """Every image the scenarios need (``(ref, "present" | "built")`` per image); for a
    Kubernetes scenario each of its versions' images also saved for side-loading (the one it
    boots on, and those an upgrade step loads into the nodes: never in the middle of a
    drill)."""
    out = build.ensure(tuple(sorted(set().union(*(s.versions() for s in scenarios)))))
    for s in scenarios:
        topology = s.topology.build()
        extra = build.ensure_extra(tuple(sorted(s.versions())), topology.image_requirements)
        out += extra
        if backend_for(topology).images():
            for ref, _ in extra:
                k8s_image.saved_image(ref.name)
    if any(backend_for(s.topology.build()).images() for s in scenarios):
        out += build.ensure_kubernetes(())  # the only backend with images of its own: the node's
    return out


def build_ahead(scenarios) -> None:
    """Start building, in the background at a low CPU priority, the images of their own that
    the scenarios' backends need and that are missing (the Kubernetes node: minutes of Go
    build), so that other work runs meanwhile; the first scenario that needs one waits for it
    (:func:`ensure_scenarios`)."""
    if any(backend_for(s.topology.build()).images() for s in scenarios):
        k8s_image.build_ahead()
