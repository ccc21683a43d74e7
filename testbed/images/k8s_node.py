"""The Kubernetes node image and the Airflow image side-loaded into it.

The node image is built by the recipe in ``k8s/`` (the go/no-go trial's, k8s/TRIAL.md): the
Kubernetes commands from the Go module proxy (``k8s/build.sh``: cached, a rebuild only links),
then Debian's containerd, runc, CNI plugins and etcd on the testbed's base image
(``k8s/build-node.sh``). Its tag is a hash of every file of the recipe. The Airflow image a
cluster runs is ``docker save``d once into the cache (``<cache>/k8s/images/<tag>/``) and
mounted into the node, whose entrypoint imports it into containerd (no registry, no pull).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from testbed.core import paths, progress
from testbed.core.errors import ImageBuildError
from testbed.images import catalog, steps

K8S_VERSION = "v1.34.4"
REPO = "testbed-k8s-node"
RECIPE_GLOBS = ("env.sh", "build.sh", "build-node.sh", "gomod/go.mod", "node/**/*", "pause/*")


def recipe_dir() -> Path:
    return paths.project_root() / "k8s"


def node_image() -> str:
    """``testbed-k8s-node:<version>-<hash of the recipe>``: a changed entrypoint, config or
    version names another image."""
    h = hashlib.sha256(K8S_VERSION.encode())
    root = recipe_dir()
    for pattern in RECIPE_GLOBS:
        for p in sorted(root.glob(pattern)):
            if p.is_file():
                h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return f"{REPO}:{K8S_VERSION}-{h.hexdigest()[:12]}"


def unavailable() -> str | None:
    """Why the Kubernetes backend cannot run here (None: it can): the node image is neither
    built nor buildable."""
    try:
        if steps.exists_name(node_image()):
            return None
    except Exception:  # no engine (e.g. collecting the unit tests): judged by the recipe alone
        pass
    if not (recipe_dir() / "build.sh").is_file():
        return f"the Kubernetes recipe is missing ({recipe_dir()})"
    if not shutil.which("go"):
        return "the Kubernetes node is built with Go, and `go` is not installed"
    return None


def ensure_node_image() -> str:
    """Build the node image if it is missing (the Kubernetes commands first: ~12 min cold on
    one core, seconds when the Go cache holds them); return its name."""
    name = node_image()
    if steps.exists_name(name):
        return name
    why = unavailable()
    if why:
        raise ImageBuildError(name, why)
    started = time.monotonic()
    env = {"NODE_IMAGE": name, "TESTBED_BASE": catalog.base_ref().name, "GO_P": "2"}
    env["GOMAXPROCS"] = str(os.cpu_count() or 1)
    with progress.status(f"building {name}") as update:
        update("building the Kubernetes commands (k8s/build.sh)")
        steps.run([str(recipe_dir() / "build.sh")], name, update, env)
        update("building the node image (k8s/build-node.sh)")
        steps.run([str(recipe_dir() / "build-node.sh")], name, update, env)
    progress.done(f"built {name}", started)
    return name


def saved_image(image: str) -> Path:
    """The folder holding ``image`` as a ``docker save`` tarball (made once, then reused);
    mounted into the node under /opt/images/airflow."""
    from testbed.runtime import client

    folder = paths.cache_dir() / "k8s" / "images" / image.replace(":", "-")
    tar = folder / "image.tar"
    if tar.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with progress.status(f"saving {image} for the Kubernetes node"):
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as out:
            for chunk in client().images.get(image).save(named=True):
                out.write(chunk)
        Path(out.name).rename(tar)  # whole or not at all, whoever saved it first
    progress.done(f"saved {image} ({tar.stat().st_size / 2**20:.0f} MiB)", started)
    return folder
