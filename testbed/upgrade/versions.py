"""The Airflow versions the testbed can build, and each one's schema head read from its own code.

A version's schema head is what Alembic says over Airflow's migrations folder *inside the
version's image* (a short-lived container: no network, labelled like every testbed container,
removed afterwards) — never a table kept here. The answer, with the whole migration chain
(base -> head) and Airflow's own ``_REVISION_HEADS_MAP``, is cached per image tag (the tag
covers the lock file and the Dockerfile) in ``<cache dir>/schema-heads.json``, so a second
call is instant.

When the image is not built, :func:`schema_info` can read the same migration files from the
version's wheel on the package index instead (``apache-airflow-core``; Airflow 2's
``apache-airflow``, the only source for an Airflow 2 version with no lock), downloaded with
pip, parsed with ``ast``, never imported; the answer says which source it came from.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from testbed.core import paths
from testbed.core.errors import ImageMissing, TestbedError
from testbed.images import catalog

CACHE_FILE = "schema-heads.json"
MARKER = "TESTBED_SCHEMA "
PROBE_TIMEOUT = 120.0  # importing Airflow and Alembic's walk of ~120 revisions takes ~5 s
WHEEL_TIMEOUT = 180.0

# Runs inside the image with Airflow's own Python: Alembic's ScriptDirectory over the
# installed airflow/migrations folder (works on 2.11 and 3.1-3.3), plus Airflow's map of heads.
HEAD_SCRIPT = """\
import importlib.util, json, os
from importlib.metadata import PackageNotFoundError, version
from alembic.script import ScriptDirectory
root = importlib.util.find_spec("airflow").submodule_search_locations[0]
script = ScriptDirectory(os.path.join(root, "migrations"))
try:
    airflow = version("apache-airflow-core")
except PackageNotFoundError:  # Airflow 2: one package
    airflow = version("apache-airflow")
out = {"airflow": airflow, "heads": list(script.get_heads()),
       "revisions": [r.revision for r in script.walk_revisions("base", "heads")][::-1]}
try:
    from airflow.utils.db import _REVISION_HEADS_MAP
    out["heads_map"] = dict(_REVISION_HEADS_MAP)
except Exception as exc:
    out["heads_map_error"] = f"{type(exc).__name__}: {exc}"[:300]
print("TESTBED_SCHEMA " + json.dumps(out))
"""


class UnknownVersion(TestbedError):
    """An Airflow version the testbed has no lock file for."""


class SchemaProbeError(TestbedError):
    """Reading a version's schema head failed (container exit, timeout, unreadable wheel)."""


@dataclass(frozen=True)
class SchemaInfo:
    """What a version's own code says about its metadata schema."""

    version: str
    head: str
    revisions: tuple[str, ...]  # every revision of the version, base first, head last
    source: str  # "image testbed-airflow:<tag>" or "wheel apache-airflow-core==<version>"
    heads_map: dict[str, str] = field(default_factory=dict)  # Airflow's own version -> head

    def to_json(self) -> dict:
        return {**asdict(self), "revisions": list(self.revisions)}

    @classmethod
    def from_json(cls, data: dict) -> SchemaInfo:
        return cls(
            data["version"],
            data["head"],
            tuple(data["revisions"]),
            data["source"],
            dict(data.get("heads_map") or {}),
        )


# -- versions ---------------------------------------------------------------------------------
def version_key(version: str) -> tuple[int, ...]:
    """``"3.10.1"`` -> ``(3, 10, 1)``: ordering by numbers, not by text."""
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        raise UnknownVersion(f"{version!r} is not a release version (e.g. 3.3.2)")
    return tuple(int(x) for x in version.split("."))


def buildable_versions() -> list[str]:
    """The versions with a lock file, oldest first."""
    return sorted(catalog.AIRFLOW_VERSIONS, key=version_key)


def check_buildable(version: str) -> str:
    if version not in catalog.AIRFLOW_VERSIONS:
        raise UnknownVersion(
            f"unknown Airflow version {version!r}; buildable: {', '.join(buildable_versions())}"
        )
    return version


def migration_path(revisions: Iterable[str], from_head: str, to_head: str) -> list[str]:
    """The revisions ``airflow db migrate`` applies to go from ``from_head`` to ``to_head``, in
    order, given the newer version's chain (base first); ``[]`` when the heads are equal
    (pure).

    Raises:
        ValueError: a head is not in the chain, or ``to_head`` comes before ``from_head``.
    """
    chain = list(revisions)
    for head in (from_head, to_head):
        if head not in chain:
            raise ValueError(f"revision {head} is not in the migration chain")
    lo, hi = chain.index(from_head), chain.index(to_head)
    if hi < lo:
        raise ValueError(f"{to_head} comes before {from_head}: a downgrade, not a migration")
    return chain[lo + 1 : hi + 1]


# -- the answer -------------------------------------------------------------------------------
def schema_head(version: str) -> str:
    """The Alembic head of ``version``, read from its image (cached per image tag)."""
    return schema_info(version).head


def schema_info(
    version: str, *, allow_wheel: bool = False, timeout: float = PROBE_TIMEOUT
) -> SchemaInfo:
    """The schema of ``version`` from its image; from the cache when the same image was asked
    before. ``allow_wheel``: when the image is not built (or no Docker engine answers), read
    the version's wheel from the package index instead (``apache-airflow-core``; Airflow 2's
    ``apache-airflow``, the only source for an Airflow 2 version with no lock).

    Raises:
        UnknownVersion: no lock file for ``version``.
        ImageMissing: the image is not built (and ``allow_wheel`` is off).
        SchemaProbeError: the container or the wheel gave no usable answer.
    """
    if version not in catalog.IMAGE_VERSIONS:  # an Airflow 2 with no lock: only its wheel
        if version_key(version)[0] == 2:
            return _from_wheel(version, allow_wheel)
        check_buildable(version)
    image = catalog.airflow_ref(version).name
    cached = _cache_get(image)
    if cached is not None:
        return cached
    if _image_built(image):
        info = schema_info_from_image(version, image, timeout=timeout)
        _cache_put(image, info)
        return info
    if not allow_wheel:
        raise ImageMissing(
            f"the Airflow {version} image ({image}) is not built, and its schema head is read "
            "from the image",
            hint=f"`testbed images build --airflow-version {version}`",
        )
    return _from_wheel(version, allow_wheel)


def wheel_package(version: str) -> str:
    """The package holding a version's migrations: Airflow 3 split ``apache-airflow-core`` off."""
    return "apache-airflow" if version_key(version)[0] < 3 else "apache-airflow-core"


def _from_wheel(version: str, allow_wheel: bool) -> SchemaInfo:
    if not allow_wheel:
        raise ImageMissing(
            f"Airflow {version}'s schema head is read from its {wheel_package(version)} wheel "
            "(no image of it is built)",
            hint="leave out --image-only",
        )
    key = f"wheel:{wheel_package(version)}=={version}"
    cached = _cache_get(key)
    if cached is None:
        cached = schema_info_from_wheel(version, timeout=WHEEL_TIMEOUT)
        _cache_put(key, cached)
    return cached


def _image_built(image: str) -> bool:
    from testbed.core.errors import DockerUnavailable
    from testbed.images import build

    try:
        return build.exists_name(image)
    except DockerUnavailable:
        return False


# -- from the image ---------------------------------------------------------------------------
def schema_info_from_image(
    version: str, image: str | None = None, *, timeout: float = PROBE_TIMEOUT
) -> SchemaInfo:
    """Run :data:`HEAD_SCRIPT` in a short-lived container of the version's image."""
    image = image or catalog.airflow_ref(version).name
    from testbed import runtime
    from testbed.core.errors import ExecTimeout

    try:
        done = runtime.run_once(
            image, ["python", "-c", HEAD_SCRIPT], timeout=timeout, node="schema-probe"
        )
    except ExecTimeout as exc:
        raise SchemaProbeError(str(exc)) from None
    code, out, err = done.code, done.stdout, done.stderr
    if code != 0:
        tail = "; ".join(err.strip().splitlines()[-3:]) or "no output"
        raise SchemaProbeError(f"reading the schema head in {image} exited {code}: {tail}")
    return parse_probe_output(out, version, f"image {image}")


def parse_probe_output(stdout: str, version: str, source: str) -> SchemaInfo:
    """The :class:`SchemaInfo` in the probe's marker line (pure)."""
    line = next((ln for ln in reversed(stdout.splitlines()) if ln.startswith(MARKER)), None)
    if line is None:
        raise SchemaProbeError(f"no schema answer from {source}: {stdout.strip()[-200:]!r}")
    data = json.loads(line[len(MARKER) :])
    heads = data.get("heads") or []
    if len(heads) != 1:
        raise SchemaProbeError(f"{source} has {len(heads)} Alembic heads: {heads}")
    if data.get("airflow") != version:
        raise SchemaProbeError(f"{source} runs Airflow {data.get('airflow')}, not {version}")
    revisions = tuple(data.get("revisions") or ())
    if not revisions or revisions[-1] != heads[0]:
        raise SchemaProbeError(f"{source}: the migration chain does not end at {heads[0]}")
    return SchemaInfo(version, heads[0], revisions, source, data.get("heads_map") or {})


# -- from the wheel ---------------------------------------------------------------------------
MIGRATIONS_PREFIX = "airflow/migrations/versions/"


def schema_info_from_wheel(version: str, *, timeout: float = WHEEL_TIMEOUT) -> SchemaInfo:
    """Download the version's wheel (``apache-airflow-core``; Airflow 2's ``apache-airflow``),
    without dependencies, and read its migrations."""
    package = wheel_package(version)
    with tempfile.TemporaryDirectory(prefix="testbed-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["-q", "-d", tmp, f"{package}=={version}"]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SchemaProbeError(f"pip download of {package}=={version} timed out") from None
        wheels = sorted(Path(tmp).glob(f"{package.replace('-', '_')}-*.whl"))
        if r.returncode != 0 or not wheels:
            tail = "; ".join(r.stderr.strip().splitlines()[-2:]) or f"exit {r.returncode}"
            raise SchemaProbeError(
                f"could not download {package}=={version}: {tail}",
                hint=f"build the image instead: `testbed images build --airflow-version {version}`",
            )
        with zipfile.ZipFile(wheels[0]) as whl:
            sources = [
                whl.read(n).decode("utf-8")
                for n in whl.namelist()
                if n.startswith(MIGRATIONS_PREFIX) and n.endswith(".py")
            ]
    head, revisions = parse_migrations(sources)
    return SchemaInfo(version, head, revisions, f"wheel {package}=={version}")


def parse_migrations(sources: Iterable[str]) -> tuple[str, tuple[str, ...]]:
    """The single head and the revisions base -> head of a set of Alembic migration files
    (module-level ``revision`` / ``down_revision`` literals; pure, nothing is imported).

    Raises:
        SchemaProbeError: no revision, or more (or fewer) than one head.
    """
    down: dict[str, tuple[str, ...]] = {}
    for source in sources:
        values = _literals(source, ("revision", "down_revision"))
        rev = values.get("revision")
        if not isinstance(rev, str):
            continue  # __init__.py and helpers
        prev = values.get("down_revision")
        down[rev] = tuple(prev) if isinstance(prev, (tuple, list)) else ((prev,) if prev else ())
    if not down:
        raise SchemaProbeError("no Alembic revision found in the migration files")
    referenced = {d for ds in down.values() for d in ds}
    heads = sorted(set(down) - referenced)
    if len(heads) != 1:
        raise SchemaProbeError(f"{len(heads)} Alembic heads in the migration files: {heads}")
    return heads[0], _ancestors_first(heads[0], down)


def _literals(source: str, names: tuple[str, ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        for t in targets:
            if isinstance(t, ast.Name) and t.id in names:
                try:
                    out[t.id] = ast.literal_eval(node.value)  # type: ignore[union-attr]
                except ValueError:
                    pass
    return out


def _ancestors_first(head: str, down: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Every revision reachable from ``head``, each after all of its ancestors."""
    order: list[str] = []
    seen: set[str] = set()
    stack: list[tuple[str, bool]] = [(head, False)]
    while stack:
        rev, expanded = stack.pop()
        if expanded:
            order.append(rev)
            continue
        if rev in seen:
            continue
        seen.add(rev)
        stack.append((rev, True))
        for parent in sorted(down.get(rev, ()), reverse=True):
            if parent in down and parent not in seen:
                stack.append((parent, False))
    return tuple(order)


# -- the cache --------------------------------------------------------------------------------
_CACHE_LOCK = threading.Lock()


def cache_path() -> Path:
    return paths.cache_dir() / CACHE_FILE


def _cache_read() -> dict:
    try:
        return json.loads(cache_path().read_text())
    except (OSError, ValueError):
        return {}


def _cache_get(key: str) -> SchemaInfo | None:
    with _CACHE_LOCK:
        entry = _cache_read().get(key)
    try:
        return SchemaInfo.from_json(entry) if entry else None
    except (KeyError, TypeError):
        return None  # an entry of an older shape: ask again


def _cache_put(key: str, info: SchemaInfo) -> None:
    """Write the cache whole, through a temporary file (a reader never sees half of it)."""
    with _CACHE_LOCK:
        data = _cache_read()
        data[key] = info.to_json()
        target = cache_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".schema-heads-")
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
        os.replace(tmp, target)
