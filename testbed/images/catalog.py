"""Names and input hashes of the testbed images (pure: no Docker, unit-testable).

A tag is ``<repo>:<hash>`` where the hash covers every input of the build: the Dockerfile and
the files copied in, the parent image's tag, the Debian suite and mirror, the Go module
versions, the Airflow lock and the tools lock (``airflow/tools.lock``: py-spy and other
diagnostic tools, kept out of Airflow's lock so adding one never re-locks Airflow, and out of
``locks/`` so it is never taken for an Airflow version). Change any of them and the tag changes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

HERE = Path(__file__).resolve().parent
DEFAULT_AIRFLOW_VERSION = "3.3.2"


@dataclass(frozen=True)
class Line:
    """An Airflow major version's images: the Debian suite of their base (its Python is the
    one Airflow runs on), and the version whose lock the shared layer holds."""

    major: int
    suite: str
    python: str
    default: str


# Airflow 3 runs on trixie's Python 3.13; Airflow 2 does not (2.11.1+ refuse 3.13, 2.10 stops
# at 3.12): bookworm's 3.11 runs both 2.10 and 2.11
LINES = {
    3: Line(3, "trixie", "3.13", DEFAULT_AIRFLOW_VERSION),
    2: Line(2, "bookworm", "3.11", "2.11.2"),
}


def major(version: str) -> int:
    return int(version.split(".", 1)[0])


def line_of(version: str) -> Line:
    return LINES[major(version)]


_LOCKED = sorted(p.stem for p in (HERE / "airflow" / "locks").glob("*.txt"))
# the versions a cluster boots (Airflow 3), and the Airflow 2 versions whose images build (the
# start of a 2 -> 3 upgrade)
AIRFLOW_VERSIONS = tuple(v for v in _LOCKED if major(v) == 3)
AIRFLOW_2_VERSIONS = tuple(v for v in _LOCKED if major(v) == 2)
IMAGE_VERSIONS = AIRFLOW_VERSIONS + AIRFLOW_2_VERSIONS
TOOLS_LOCK = "tools.lock"  # in the airflow build context, beside the Dockerfile
DEPS_DOCKERFILE = "deps.Dockerfile"  # the layer every version shares, in the same context
# Airflow's own packages: installed per version; everything else of the line's default
# version's lock is in its shared image (a version whose pins differ re-installs only those).
PER_VERSION = frozenset({"apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk"})

SNAPSHOT_REPO = "testbed-pgdata"  # a migrated metadata database, per Airflow and services image
# the provider the KubernetesExecutor lives in, installed into a derived image like a user's
# extra packages (the version tested with every Airflow version the images build)
K8S_PROVIDER = "apache-airflow-providers-cncf-kubernetes==10.25.0"
# the provider Airflow 3's git DAG bundle lives in (topology dag_sync: bundle; its image has the
# git program too, which dag_sync: git needs): the highest release each Airflow lock allows, up
# to the one Airflow 3.3.2's constraints would pick (the last before their cut); 0.4 needs a
# newer common-compat provider than Airflow 3.1's locks pin, 0.3.2 installs on all
GIT_PROVIDER = "apache-airflow-providers-git>=0.3.2,<=0.4.3"
# Debian packages a Python package needs at run time, by the package's normalized name: the
# extra image of a requirement installs them (the git provider runs the `git` program)
SYSTEM_PACKAGES = {"apache-airflow-providers-git": ("git",)}
DEBIAN_SUITE = LINES[3].suite  # the services image's base, and Airflow 3's
BASE_PACKAGES = ("ca-certificates",)
GO_MODULES = {
    # binary name in the image -> (go install path, version)
    "minio": ("github.com/minio/minio", "v0.0.0-20260212201848-7aac2a2c5b7c"),
    "toxiproxy-server": ("github.com/Shopify/toxiproxy/v2/cmd/server", "v2.5.0"),
}
BASE_RECIPE_VERSION = "1"  # bump when the debootstrap recipe in base.py changes


def debian_mirror() -> str:
    return os.environ.get("TESTBED_DEBIAN_MIRROR", "http://deb.debian.org/debian")


@dataclass(frozen=True)
class ImageRef:
    kind: str  # base | services | airflow-deps | airflow | airflow-extra | k8s-node
    repo: str
    tag: str
    context: Path | None = None  # build context folder (None for base)
    line: int = 3  # the Airflow major version whose base, shared layer or image it is

    @property
    def name(self) -> str:
        return f"{self.repo}:{self.tag}"


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:12]


def _tree_bytes(folder: Path, only: list[str] | None = None) -> list[bytes]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if only is not None:
        files = [p for p in files if p.relative_to(folder).as_posix() in only]
    return [p.relative_to(folder).as_posix().encode() + b"\0" + p.read_bytes() for p in files]


def base_ref(line: int = 3) -> ImageRef:
    suite = LINES[line].suite
    tag = _digest(BASE_RECIPE_VERSION, suite, debian_mirror(), *BASE_PACKAGES)
    return ImageRef("base", "testbed-base", tag, line=line)


def services_ref() -> ImageRef:
    ctx = HERE / "services"
    gomods = [f"{k}={m}@{v}" for k, (m, v) in sorted(GO_MODULES.items())]
    tag = _digest(base_ref().name, *gomods, *_tree_bytes(ctx))
    return ImageRef("services", "testbed-services", tag, ctx)


def deps_lock(line: int = 3) -> str:
    """The shared image's lock: the line's default version's lock without :data:`PER_VERSION`."""
    text = (HERE / "airflow" / "locks" / f"{LINES[line].default}.txt").read_text()
    kept = [b for b in _requirement_blocks(text) if _block_name(b) not in PER_VERSION]
    return "".join(kept)


def _requirement_blocks(text: str) -> list[str]:
    """A lock's requirements, each with its hash and comment lines (no header)."""
    blocks: list[str] = []
    for line in text.splitlines(keepends=True):
        if line[:1].isalnum():
            blocks.append(line)
        elif blocks:
            blocks[-1] += line
    return blocks


def _block_name(block: str) -> str:
    return block.split("==", 1)[0].split("[", 1)[0].strip().lower().replace("_", "-")


def deps_ref(line: int = 3) -> ImageRef:
    ctx = HERE / "airflow"
    inputs = _tree_bytes(ctx, only=[DEPS_DOCKERFILE, TOOLS_LOCK])
    tag = _digest(base_ref(line).name, deps_lock(line), *inputs)
    return ImageRef("airflow-deps", "testbed-airflow-deps", tag, ctx, line=line)


def airflow_ref(version: str = DEFAULT_AIRFLOW_VERSION) -> ImageRef:
    if version not in IMAGE_VERSIONS:
        from testbed.core.errors import ImageMissing

        raise ImageMissing(
            f"no lock file for Airflow {version}",
            hint=f"buildable versions: {', '.join(IMAGE_VERSIONS)}; add one with "
            f"`make lock AIRFLOW_VERSIONS={version}`",
        )
    line = major(version)
    ctx = HERE / "airflow"
    inputs = _tree_bytes(ctx, only=["Dockerfile", f"locks/{version}.txt"])
    tag = f"{version}-{_digest(deps_ref(line).name, version, *inputs)}"
    return ImageRef("airflow", "testbed-airflow", tag, ctx, line=line)


def extra_ref(version: str, requirements: tuple[str, ...]) -> ImageRef:
    """The Airflow image of ``version`` with a user's extra packages: tagged by the Airflow
    image it derives from and the (sorted) requirement lines, so the same inputs name the same
    image and a second build is a no-op."""
    parent = airflow_ref(version)
    lines = sorted({r.strip() for r in requirements})
    apt = system_packages(tuple(lines))  # in the tag only when there are any: tags stay put
    tag = f"{version}-{_digest(parent.name, *lines, *(('apt', *apt) if apt else ()))}"
    return ImageRef("airflow-extra", "testbed-airflow-extra", tag, None)


def system_packages(requirements: tuple[str, ...]) -> tuple[str, ...]:
    """The Debian packages the requirements need at run time (sorted, each once)."""
    names = {canonicalize_name(Requirement(r).name) for r in requirements}
    return tuple(sorted({p for n in names for p in SYSTEM_PACKAGES.get(n, ())}))


def lock_pins(version: str) -> dict[str, str]:
    """The exact pins of an Airflow lock file: {normalized package name: version}."""
    return _pins(HERE / "airflow" / "locks" / f"{version}.txt")


def _pins(path: Path) -> dict[str, str]:
    return _pins_of(path.read_text())


def _pins_of(text: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "--")) or "==" not in line:
            continue
        name, _, rest = line.partition("==")
        name = name.split("[", 1)[0].strip().lower().replace("_", "-")
        pins[name] = rest.split()[0].rstrip("\\").strip().rstrip(";")
    return pins


def tools_pins() -> dict[str, str]:
    """The exact pins of the tools lock (installed beside Airflow): {package: version}."""
    return _pins(HERE / "airflow" / TOOLS_LOCK)


def all_refs(versions: tuple[str, ...] = (DEFAULT_AIRFLOW_VERSION,)) -> list[ImageRef]:
    """What ``versions`` need: the services image (on Airflow 3's base) and, for each Airflow
    line among them, its base and shared layer; then the versions' images."""
    lines = sorted({3} | {major(v) for v in versions}, reverse=True)
    shared = [base_ref(n) for n in lines] + [services_ref()] + [deps_ref(n) for n in lines]
    return [*shared, *(airflow_ref(v) for v in versions)]


def snapshot_tag(airflow_image: str, services_image: str) -> str:
    return f"{airflow_image.split(':', 1)[1]}--{services_image.split(':', 1)[1]}"


def snapshot_name(airflow_image: str, services_image: str) -> str:
    """The image of the metadata database migrated by ``airflow_image`` on ``services_image``."""
    return f"{SNAPSHOT_REPO}:{snapshot_tag(airflow_image, services_image)}"


def snapshot_is_current(tags: set[str]) -> bool:
    """Whether a snapshot image belongs to the current airflow and services images."""
    current = {snapshot_name(airflow_ref(v).name, services_ref().name) for v in AIRFLOW_VERSIONS}
    return bool(tags & current)
