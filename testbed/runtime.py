"""The thin layer over the Docker engine: networks, labelled containers, exec with timeouts, logs.

Nothing above this module talks to Docker directly. Every object created here carries the run's
labels (see :mod:`testbed.core.labels`); :func:`remove_run` and :func:`gc` remove them again.
Host ports are published on 127.0.0.1 only, chosen free by the engine.
"""

from __future__ import annotations

import io
import json
import math
import re
import tarfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network

from testbed.core import labels as L
from testbed.core.errors import DockerUnavailable, ExecTimeout

# A bridge without masquerading: containers reach each other and published ports work, but
# nothing inside can reach beyond the host (no egress), and port mappings are possible
# (an `internal` network would forbid those).
NO_EGRESS = {"com.docker.network.bridge.enable_ip_masquerade": "false"}


@cache
def client() -> docker.DockerClient:
    """The engine's client; raises DockerUnavailable with one actionable line."""
    try:
        c = docker.from_env(timeout=120)
        c.ping()
    except Exception as exc:  # the SDK raises several unrelated types here
        raise DockerUnavailable(
            f"no Docker engine answers ({type(exc).__name__})",
            hint="run `make docker` (installs docker.io and starts dockerd), or start your engine",
        ) from None
    return c


@cache
def cgroup_v1() -> bool:
    """The engine puts containers in cgroup v1, where a container's ``cpu_shares`` is its
    cgroup's ``cpu.shares``. On v2 the runtime maps shares to ``cpu.weight`` (runc up to 1.3.1
    maps 1024 to 39, not v2's default 100), so a lowered weight could not be put back."""
    return str(client().info().get("CgroupVersion", "1")) == "1"


@dataclass
class NodeSpec:
    """Everything needed to create one node (container) of a cluster."""

    name: str  # the node's hostname and network alias, e.g. "worker-1"
    role: str  # e.g. "celery-worker"
    image: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # path -> (data, mode)
    ports: list[int] = field(default_factory=list)  # container ports published on 127.0.0.1
    user: str | None = None
    workdir: str | None = None
    mem_limit: str | None = None
    file_uid: int = 50000  # owner of ``files`` (the airflow user; 0 for infrastructure roles)
    root_files: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # owned by root
    aliases: list[str] = field(default_factory=list)  # more names on the run network
    volumes: list[Volume] = field(default_factory=list)
    restart: str | None = None  # a Docker restart policy, e.g. "on-failure"
    binds: dict[str, str] = field(default_factory=dict)  # host path -> path, read-only
    engine: dict[str, Any] = field(default_factory=dict)  # more create() options (caps, tmpfs)
    # the host's network (no run network, no published ports): a client that must reach what
    # this machine reaches, as the user's own tools would
    host_network: bool = False
    cleanup: list[str] | None = None  # run in the container before it is removed (L.CLEANUP)


@dataclass(frozen=True)
class Volume:
    """A named volume of the run (``<run id>-<name>``, carrying the run's labels, so removing
    the run removes it), mounted at ``path``. ``tmpfs``: backed by memory, never the host's
    disk, ``size`` big, owned by ``uid`` with ``mode`` (e.g. a credential cache shared by two
    nodes, a worker's log disk)."""

    name: str
    path: str
    read_only: bool = False
    tmpfs: bool = False
    uid: int = 50000
    mode: str = "0700"
    size: str = "1m"  # a tmpfs's size (k, m, g)


def create_network(run_id: str, run_labels: dict[str, str]) -> Network:
    return client().networks.create(
        f"{run_id}-net", driver="bridge", options=NO_EGRESS, labels=run_labels
    )


def container_name(run_id: str, node: str) -> str:
    return f"{run_id}-{node}"


def create(spec: NodeSpec, run_id: str, network: Network, run_labels: dict[str, str]) -> Container:
    """Create (not start) a node's container, attached to the run network, files in place."""
    labels = {**run_labels, L.ROLE: spec.role, L.NODE: spec.name}
    if spec.cleanup:
        labels[L.CLEANUP] = json.dumps(spec.cleanup)
    volumes = {
        ensure_volume(v, run_id, run_labels): {
            "bind": v.path,
            "mode": "ro" if v.read_only else "rw",
        }
        for v in spec.volumes
    }
    volumes.update({host: {"bind": path, "mode": "ro"} for host, path in spec.binds.items()})
    container = client().containers.create(
        spec.image,
        command=spec.command,
        name=container_name(run_id, spec.name),
        environment=spec.env,
        labels=labels,
        user=spec.user,
        working_dir=spec.workdir,
        mem_limit=spec.mem_limit,
        init=True,
        volumes=volumes or None,
        restart_policy={"Name": spec.restart} if spec.restart else None,
        **(_host_network() if spec.host_network else _run_network(spec, network)),
        **spec.engine,
    )
    if spec.files:
        put_files(container, spec.files, uid=spec.file_uid)
    if spec.root_files:
        put_files(container, spec.root_files, uid=0)
    return container


def _run_network(spec: NodeSpec, network: Network) -> dict[str, Any]:
    """On the run network under the node's names, its ports published on 127.0.0.1."""
    aliases = [spec.name, *spec.aliases]
    return {
        "hostname": spec.name,
        "ports": {f"{p}/tcp": ("127.0.0.1", None) for p in spec.ports},
        "network": network.name,
        "networking_config": {network.name: client().api.create_endpoint_config(aliases=aliases)},
    }


def _host_network() -> dict[str, Any]:
    return {"network_mode": "host"}


def volume_name(run_id: str, name: str) -> str:
    return f"{run_id}-{name}"


def ensure_volume(volume: Volume, run_id: str, run_labels: dict[str, str]) -> str:
    """The run's volume of that name, created (with the run's labels) if it does not exist."""
    name = volume_name(run_id, volume.name)
    try:
        client().volumes.get(name)
    except docker.errors.NotFound:
        opts = None
        if volume.tmpfs:
            opts = {
                "type": "tmpfs",
                "device": "tmpfs",
                "o": f"size={volume.size},uid={volume.uid},mode={volume.mode}",
            }
        client().volumes.create(name, driver="local", driver_opts=opts, labels=run_labels)
    return name


def put_files(container: Container, files: dict[str, tuple[bytes, int]], uid: int = 50000) -> None:
    """Copy files into a (possibly not yet started) container, with their modes, modified now
    (a Python file replaced by one of the same size must not be read from a stale .pyc). The
    time is rounded up to the second: a DAG file written in the second a parse of it ended is
    still newer than that parse, and Airflow parses it again first."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, (data, mode) in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.uid, info.gid = len(data), mode, uid, 0
            info.mtime = math.ceil(time.time())
            tar.addfile(info, io.BytesIO(data))
    container.put_archive("/", buf.getvalue())


def host_port(container: Container, port: int) -> int:
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"].get(f"{port}/tcp") or []
    for b in bindings:
        if b.get("HostIp") in ("127.0.0.1", "0.0.0.0", ""):
            return int(b["HostPort"])
    raise KeyError(f"port {port} of {container.name} is not published")


@dataclass
class ExecResult:
    exit_code: int
    output: str


def root_sh(container: Container, script: str, *args: str, timeout: float, node: str) -> ExecResult:
    """Run a shell ``script`` as root in a running container, ``args`` as its ``$1``, ``$2``..."""
    cmd = ["sh", "-c", script, "sh", *args]
    return exec_run(container, cmd, timeout=timeout, user="root", node=node)


def exec_run(
    container: Container,
    cmd: list[str],
    *,
    timeout: float,
    user: str | None = None,
    node: str | None = None,
) -> ExecResult:
    """Run ``cmd`` in a running container; raise ExecTimeout after ``timeout`` seconds.

    The timeout is enforced twice: inside the container (coreutils ``timeout -s KILL`` ends the
    command) and on the host (a stuck engine call, e.g. on a paused container, is abandoned).
    Exit code 137 (SIGKILL) is the timeout only once the timeout has passed: before that,
    something else killed the command (the kernel's OOM killer), and the result says so.
    """
    wrapped = ["timeout", "-s", "KILL", f"{timeout:g}", *cmd]
    result: dict[str, object] = {}

    def target() -> None:
        try:
            code, out = container.exec_run(wrapped, user=user or "", demux=False)
            result["value"] = ExecResult(code, (out or b"").decode("utf-8", "replace"))
        except Exception as exc:  # surfaced to the caller below
            result["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    started = time.monotonic()
    t.start()
    t.join(timeout + 5)
    timed_out = time.monotonic() - started >= timeout
    if t.is_alive() or (
        timed_out and "value" in result and result["value"].exit_code == 137  # type: ignore[union-attr]
    ):
        raise ExecTimeout(node or container.name, cmd, timeout)
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["value"]  # type: ignore[return-value]


def logs_tail(container: Container, lines: int = 40) -> list[str]:
    try:
        raw = container.logs(tail=lines, stdout=True, stderr=True)
    except docker.errors.APIError:
        return []
    return raw.decode("utf-8", "replace").splitlines()


def state(container: Container) -> str:
    try:
        container.reload()
    except docker.errors.NotFound:
        return "removed"
    s = container.attrs["State"]
    if s.get("Status") == "exited":
        return f"exited({s.get('ExitCode')})"
    return s.get("Status", "unknown")


def states(run_id: str) -> dict[str, str]:
    """Every container of the run by id, and its state as :func:`state` says it: from one list
    call (the engine's snapshot, which no container's own lock holds up), not one inspect each."""
    rows = client().api.containers(all=True, filters={"label": f"{L.RUN}={run_id}"})
    return {row["Id"]: _row_state(row) for row in rows}


def _row_state(row: dict) -> str:
    if row.get("State") == "exited":  # the list says the exit code only in its Status text
        code = re.match(r"Exited \((-?\d+)\)", row.get("Status", ""))
        return f"exited({code.group(1) if code else None})"
    return row.get("State", "unknown")


def containers(filters: dict) -> list[Container]:
    """Containers matching Docker list filters, running or not.

    The SDK's own list inspects each row and fails with NotFound when a container goes
    away between the list and the inspect (a run's one-shot helpers come and go during
    boot); such a container is simply no longer there, so it is skipped.
    """
    c = client()
    found = []
    for row in c.api.containers(all=True, filters=filters):
        try:
            found.append(c.containers.get(row["Id"]))
        except docker.errors.NotFound:
            pass
    return found


def run_objects(run_id: str | None = None) -> tuple[list[Container], list[Network], list]:
    """Containers, networks and volumes of one run (or of every run when run_id is None)."""
    flt = {"label": f"{L.RUN}={run_id}" if run_id else L.RUN}
    c = client()
    return (
        containers(flt),
        c.networks.list(filters=flt),
        c.volumes.list(filters=flt),
    )


def remove_objects(
    containers: Iterable[Container], networks: Iterable[Network], volumes: Iterable
) -> list[str]:
    """Remove the given objects, containers first (side by side: each is a kill and a wait on
    the engine); return what could not be removed."""
    failed: list[str] = []

    def remove(obj: Container) -> None:
        try:
            unclean = _clean_up(obj)
            if unclean:  # kept: the next clean-up tries again (it holds what to clean up)
                hint = f"kept {obj.name} to try again; `docker rm -f {obj.name}` gives up"
                failed.extend([*unclean, hint])
                return
            obj.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            failed.append(f"container {obj.name}: {exc.explanation}")

    containers = list(containers)
    if containers:
        with ThreadPoolExecutor(min(8, len(containers))) as pool:
            list(pool.map(remove, containers))
    for obj in [*networks, *volumes]:
        try:
            obj.remove()
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            failed.append(f"{obj.name}: {exc.explanation}")
    return failed


CLEANUP_TIMEOUT = 90.0


def _clean_up(container: Container) -> list[str]:
    """The container's cleanup command (label L.CLEANUP), run before its removal (the
    container started again first if it had stopped): what could not be cleaned up, or
    nothing."""
    cmd = labels_of(container).get(L.CLEANUP)
    if not cmd:
        return []
    try:
        if container.status != "running":
            container.start()
        r = exec_run(container, json.loads(cmd), timeout=CLEANUP_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - said, and the removal goes on
        return [f"cleanup in {container.name}: {exc}"[:300]]
    if r.exit_code != 0:
        return [f"cleanup in {container.name}: {r.output.strip()[-300:]}"]
    return []


def remove_run(run_id: str) -> list[str]:
    return remove_objects(*run_objects(run_id))


def gc(*, everything: bool = False) -> tuple[set[str], list[str]]:
    """Remove the objects of runs whose owner process is gone (or of all runs)."""
    groups = run_objects()
    pick = [[o for o in g if everything or not L.owner_alive(labels_of(o))] for g in groups]
    runs = {labels_of(o).get(L.RUN, "?") for g in pick for o in g}
    return runs, remove_objects(*pick)


def labels_of(obj) -> dict[str, str]:
    return obj.attrs.get("Labels") or obj.attrs.get("Config", {}).get("Labels") or {}


def started_at(container: Container) -> datetime | None:
    """When the container last started (Docker's ``State.StartedAt``, read afresh), or None."""
    container.reload()
    return docker_time(container.attrs["State"].get("StartedAt", ""))


def docker_time(text: str) -> datetime | None:
    """Docker's ``2026-11-25T12:00:00.123456789Z`` (None for its zero time or garbage)."""
    if not text or text.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(text[:26].rstrip("Z") + "+00:00")
    except ValueError:
        return None


@dataclass(frozen=True)
class OnceResult:
    code: int
    stdout: str
    stderr: str


def run_once(
    image: str, command: list[str], *, timeout: float, node: str, **options: Any
) -> OnceResult:
    """Run ``command`` in a new container of ``image`` with no network, labelled as a run of
    its own named ``node`` (``testbed gc`` removes it should this process die), and remove it
    afterwards, also on timeout; ``options`` go to the engine's create (volumes, user,
    environment, entrypoint).

    Raises:
        ExecTimeout: the command did not end within ``timeout`` seconds.
    """
    from testbed.core import bounded

    run_id = L.new_run_id("tbq")
    labels = {**L.run_labels(run_id), L.ROLE: node, L.NODE: node}
    container = client().containers.create(
        image, command=command, name=container_name(run_id, node), labels=labels,
        network_mode="none", init=True, **options,
    )  # fmt: skip
    try:
        container.start()
        try:
            status = bounded.call(
                lambda: container.wait(timeout=timeout), timeout + 5, f"{node} in {image}"
            )
        except Exception:  # NoAnswer, or the engine's own read timeout
            raise ExecTimeout(f"{node} ({image})", command, timeout) from None
        out = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
        err = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
        return OnceResult(int(status.get("StatusCode", -1)), out, err)
    finally:
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
