"""A registry image (``testbed-registry``, recipe in ``registry/``): Debian's docker-registry on
the testbed's base image, built on first use. What the test of an existing cluster runs as that
cluster's registry; a team drives its own cluster with its own registry instead."""

from __future__ import annotations

import time

from testbed.core import progress
from testbed.images import catalog, steps
from testbed.images.catalog import HERE, ImageRef, _digest, _tree_bytes

PORT = 5000


def registry_ref() -> ImageRef:
    ctx = HERE / "registry"
    tag = _digest(catalog.base_ref().name, *_tree_bytes(ctx))
    return ImageRef("registry", "testbed-registry", tag, ctx)


def ensure_registry_image() -> str:
    """The registry image's name, built first if it is missing (the base image must be)."""
    ref = registry_ref()
    if steps.exists_name(ref.name):
        return ref.name
    started = time.monotonic()
    with progress.status(f"building {ref.name}") as update:
        args = {"BASE": catalog.base_ref().name}
        steps.stream_build(ref.context, ref, args, update)
    progress.done(f"built {ref.name}", started)
    return ref.name
