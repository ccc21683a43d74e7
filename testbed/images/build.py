"""Building the testbed images on this machine: debootstrap + import, Go binaries, docker build.

Builds run with the host's network (``network_mode=host``) and trust a CA bundle
(``TESTBED_CA_BUNDLE``, default the host's ``/etc/ssl/certs/ca-certificates.crt``) while
installing, so TLS-intercepting proxies work; the bundle is removed from the final image.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import docker.errors

from testbed.core import labels as L
from testbed.core import paths, progress
from testbed.core.errors import ImageBuildError
from testbed.images import catalog, extra
from testbed.images import k8s_node as k8s_image
from testbed.images.catalog import ImageRef
from testbed.images.steps import exists_name, run, stream_build
from testbed.runtime import client

HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def exists(ref: ImageRef) -> bool:
    return exists_name(ref.name)


SIDE_BY_SIDE = 2  # images built at once: mostly downloads, unpacking, compiling
# each stage's images build on the stages before only (catalog.all_refs' kinds)
BUILD_ORDER = (("base",), ("services", "airflow-deps"), ("airflow",))


def ensure(versions: tuple[str, ...], *, verbose: bool = False) -> list[tuple[ImageRef, str]]:
    """Build whatever of the images is missing; return (ref, "built"|"present") for each. The
    base first; then the services image (Go builds on the host) beside the shared Airflow
    layer (downloads and a few C extensions), both built on the base only; then the Airflow
    images. Side by side means :data:`SIDE_BY_SIDE` at a time (one at a time with
    ``verbose``: their output would mix)."""
    refs = catalog.all_refs(versions)
    missing = [r for r in refs if not exists(r)]
    width = 1 if verbose else SIDE_BY_SIDE
    for kinds in BUILD_ORDER:
        _side_by_side([r for r in missing if r.kind in kinds], verbose, width)
    return [(r, "built" if r in missing else "present") for r in refs]


def _build_one(ref: ImageRef, verbose: bool) -> None:
    started = time.monotonic()
    progress.step(f"building {ref.name}")
    _BUILDERS[ref.kind](ref, verbose)
    progress.done(f"built {ref.name}", started)


def _side_by_side(refs: list[ImageRef], verbose: bool, width: int) -> None:
    """Build ``refs``, ``width`` at a time, in daemon threads (Ctrl-C is not held up by a build
    under way); the first failure is raised once the builds under way have ended."""
    slots, errors = threading.Semaphore(width), []

    def build(ref: ImageRef) -> None:
        with slots:
            if errors:
                return  # one failed: start no more
            try:
                _build_one(ref, verbose)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(exc)

    threads = [threading.Thread(target=build, args=(r,), daemon=True) for r in refs]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.5)
    if errors:
        raise errors[0]


def present_for(scenarios) -> bool:
    """Whether the Airflow images (a user's extra packages included) ``scenarios`` run are all
    here (the Kubernetes node is checked at boot)."""
    versions = tuple(set().union(*(s.versions() for s in scenarios)))
    names = [r.name for r in catalog.all_refs(versions)]
    for s in scenarios:
        reqs = s.topology.build().image_requirements
        names += [catalog.extra_ref(v, reqs).name for v in s.versions() if reqs]
    return all(exists_name(n) for n in names)


def ensure_kubernetes(versions: tuple[str, ...]) -> list[tuple[ImageRef, str]]:
    """The Kubernetes node image, and for each of ``versions`` the Airflow image with the
    KubernetesExecutor's provider (what ``backend: kubernetes`` runs)."""
    name = k8s_image.node_image()
    present = exists_name(name)
    k8s_image.ensure_node_image()
    repo, tag = name.split(":", 1)
    out = [(ImageRef("k8s-node", repo, tag), "present" if present else "built")]
    return out + ensure_extra(versions, (catalog.K8S_PROVIDER,))


def ensure_extra(
    versions: tuple[str, ...], requirements: tuple[str, ...]
) -> list[tuple[ImageRef, str]]:
    """Build what is missing of the derived images with a user's extra packages (one per
    Airflow version the scenario runs); nothing without extra requirements."""
    out = []
    for version in versions if requirements else ():
        ref = catalog.extra_ref(version, requirements)
        if exists(ref):
            out.append((ref, "present"))
            continue
        started = time.monotonic()
        progress.step(f"building {ref.name} (Airflow {version} + {', '.join(requirements)})")
        extra.build(ref, version, requirements, ca_bundle())
        progress.done(f"built {ref.name}", started)
        out.append((ref, "built"))
    return out


def ca_bundle() -> bytes:
    """The CA bundle trusted while installing (empty when the host has none)."""
    ca = Path(os.environ.get("TESTBED_CA_BUNDLE", HOST_CA))
    return ca.read_bytes() if ca.is_file() else b""


def build_base(ref: ImageRef, verbose: bool) -> None:
    if os.geteuid() != 0 or not shutil.which("debootstrap"):
        raise ImageBuildError(ref.name, "debootstrap needs root and the debootstrap package")
    cache = paths.cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        rootfs, tarball = Path(tmp) / "rootfs", Path(tmp) / "rootfs.tar"
        suite = catalog.LINES[ref.line].suite
        cmd = [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(catalog.BASE_PACKAGES)}",
            suite,
            str(rootfs),
            catalog.debian_mirror(),
        ]
        with progress.status(f"debootstrap {suite}") as update:
            run(cmd, ref.name, update)
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                shutil.rmtree(rootfs / junk, ignore_errors=True)
            update("packing the root file system")
            run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], ref.name, update)
            update(f"docker import as {ref.name}")
            client().api.import_image_from_file(
                str(tarball),
                repository=ref.repo,
                tag=ref.tag,
                changes=[f"LABEL {L.KIND}=base", "ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]'],
            )


def go_binary(name: str, update) -> Path:
    """Build (once, cached by version) a Go module's binary on the host."""
    module, version = catalog.GO_MODULES[name]
    target = paths.cache_dir() / "go" / f"{module.rsplit('/', 1)[-1]}-{version}"
    built = target / module.rsplit("/", 1)[-1]
    if built.exists():
        return built
    if not shutil.which("go"):
        raise ImageBuildError(
            name,
            "the Go toolchain is missing",
            tail=["install Go (https://go.dev/doc/install) or `apt-get install golang`"],
        )
    target.mkdir(parents=True, exist_ok=True)
    update(f"go install {module}@{version}")
    run(
        ["go", "install", f"{module}@{version}"],
        name,
        update,
        env={"GOBIN": str(target), "CGO_ENABLED": "0"},
    )
    return built


def _context(ref: ImageRef, tmp: Path, update) -> Path:
    ctx = tmp / "ctx"
    shutil.copytree(ref.context, ctx)
    if ref.kind == "services":
        (ctx / "bin").mkdir()
        for name in catalog.GO_MODULES:
            shutil.copy2(go_binary(name, update), ctx / "bin" / name)
    if ref.kind == "airflow-deps":
        from uv import find_uv_bin

        shutil.copy2(find_uv_bin(), ctx / "uv")
        (ctx / "deps.lock").write_text(catalog.deps_lock(ref.line))
    if ref.kind in ("airflow-deps", "airflow"):
        (ctx / "ca-bundle.crt").write_bytes(ca_bundle())
    return ctx


def _build_args(ref: ImageRef) -> tuple[dict, str]:
    """The build arguments and the Dockerfile of ``ref``."""
    if ref.kind == "airflow":
        version = ref.tag.split("-", 1)[0]
        return {"DEPS": catalog.deps_ref(ref.line).name, "AIRFLOW_VERSION": version}, "Dockerfile"
    dockerfile = catalog.DEPS_DOCKERFILE if ref.kind == "airflow-deps" else "Dockerfile"
    return {"BASE": catalog.base_ref(ref.line).name}, dockerfile


def docker_build(ref: ImageRef, verbose: bool) -> None:
    args, dockerfile = _build_args(ref)
    with tempfile.TemporaryDirectory() as tmp, progress.status(f"building {ref.name}") as update:
        ctx = _context(ref, Path(tmp), update)
        stream_build(ctx, ref, args, update, verbose, dockerfile=dockerfile)


_BUILDERS = {
    "base": build_base,
    "services": docker_build,
    "airflow-deps": docker_build,
    "airflow": docker_build,
}


def testbed_images() -> list:
    """Every image this testbed built or snapshotted (by label)."""
    return client().images.list(filters={"label": L.KIND})


def prune(
    keep_current: bool = True, versions: tuple[str, ...] = catalog.IMAGE_VERSIONS
) -> list[str]:
    """Remove testbed images whose tag is not a current one (or all, keep_current=False)."""
    current = {r.name for r in catalog.all_refs(versions)} if keep_current else set()
    removed = []
    for img in testbed_images():
        names = set(img.tags)
        if keep_current and (names & current or img.labels.get(L.PARENT) in current):
            continue  # a current image, or one derived from it (a user's extra packages)
        pgdata = any(t.startswith(f"{catalog.SNAPSHOT_REPO}:") for t in names)
        if keep_current and pgdata and catalog.snapshot_is_current(names):
            continue
        try:
            client().images.remove(img.id, force=True)
            removed.extend(names or {img.short_id})
        except docker.errors.APIError:
            pass
    return removed
