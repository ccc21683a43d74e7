"""The Kubernetes node image and the Airflow image side-loaded into it.

The node image is built by the recipe in ``k8s/`` (the go/no-go trial's, k8s/TRIAL.md): the
Kubernetes commands from the Go module proxy (``k8s/build.sh``: cached, a rebuild only links),
then Debian's containerd, runc, CNI plugins and etcd on the testbed's base image
(``k8s/build-node.sh``). Its tag is a hash of every file of the recipe. The Airflow image a
cluster runs is ``docker save``d once into the cache (``<cache>/k8s/images/<tag>/``) and
mounted into the node, whose entrypoint imports it into containerd (no registry, no pull).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
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
    """Build the node image if it is missing (the Kubernetes commands first: ~8 min cold on
    two cores, seconds when the Go cache holds them); return its name. One build at a time on
    this machine: a caller that finds one under way (another process, or :func:`build_ahead`)
    waits for it and builds only if it failed."""
    name = node_image()
    if steps.exists_name(name):
        return name
    why = unavailable()
    if why:
        raise ImageBuildError(name, why)
    started = time.monotonic()
    with progress.status(f"building {name}") as update, _one_build(update):
        if steps.exists_name(name):  # built by the holder of the lock meanwhile
            return name
        env = {"NODE_IMAGE": name, "TESTBED_BASE": catalog.base_ref().name, "GO_P": "2"}
        env["GOMAXPROCS"] = str(os.cpu_count() or 1)
        update("building the Kubernetes commands (k8s/build.sh)")
        steps.run([str(recipe_dir() / "build.sh")], name, update, env)
        update("building the node image (k8s/build-node.sh)")
        steps.run([str(recipe_dir() / "build-node.sh")], name, update, env)
    progress.done(f"built {name}", started)
    return name


@contextmanager
def _one_build(update):
    """Hold the machine's node-build lock (a file lock: other processes and threads wait)."""
    path = paths.cache_dir() / "k8s" / "node-build.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:  # in steps: Ctrl-C is not held up
                update("waiting for the node image build already under way")
                time.sleep(2.0)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_ahead() -> threading.Thread | None:
    """Start building the missing node image in a background thread (its Go build at the
    lowest CPU priority, see k8s/build.sh) while other work runs; the first caller of
    :func:`ensure_node_image` waits for it. A failed build ahead is left for that caller, which
    builds again and reports. None when the image is here or cannot be built."""
    if steps.exists_name(node_image()) or unavailable():
        return None

    def build() -> None:
        try:
            ensure_node_image()
        except Exception:  # noqa: BLE001 - the foreground build meets it again and reports it
            pass

    thread = threading.Thread(target=build, name="testbed-k8s-node-build", daemon=True)
    thread.start()
    return thread


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
