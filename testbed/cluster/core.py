"""A topology turned into running nodes: boot in dependency order (independent roles in
parallel), readiness per role, the migration shortcut, the run record, and teardown.

Boot order: network -> postgres, redis, minio, toxiproxy (and the KDC, with Kerberos)
(parallel) -> log bucket -> ``airflow db migrate`` (or a migrated snapshot) -> api-server,
scheduler, dag-processor, triggerer and the workers (and, with Kerberos, each worker's ticket
refresher and the kerberized Postgres) (parallel). The Airflow roles are the backend's to boot
(testbed.backends): containers on Docker; with ``backend: kubernetes`` the Kubernetes node
boots with the infrastructure, and the roles are deployed into it as pods (testbed.k8s.deploy)
instead of containers. Running commands in nodes, their host ports, the logs beyond the
containers' and whether a cluster can be reused are the backend's too. A failure or Ctrl-C at
any point removes everything the run created before the error propagates.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

import docker.errors
import requests
from docker.models.containers import Container

from testbed import iptables, paths, progress, run_record, runtime
from testbed import labels as L
from testbed.backends import backend_for
from testbed.errors import ClusterError, ImageMissing
from testbed.history import History
from testbed.images import build as image_build
from testbed.images import catalog
from testbed.k8s import node as k8s_node
from testbed.readiness import wait_ready
from testbed.runtime import NodeSpec
from testbed.secrets import Secrets
from testbed.services import airflow, kdc, kerberos, minio, pg_krb, postgres, redis, toxiproxy
from testbed.topology import K8S_NODE, PG_KRB, SIDECAR_SUFFIX, Topology

SERVICE_MODULES = {
    "postgres": postgres,
    "redis": redis,
    "minio": minio,
    "toxiproxy": toxiproxy,
    "kdc": kdc,
    PG_KRB: pg_krb,
    K8S_NODE: k8s_node,
}
MIGRATE_TIMEOUT = 300
DEFAULT_WEIGHT = 1024  # cgroup v1 cpu.shares of a container given none
BOOT_WEIGHT = 128  # cpu.shares of a boot beside a drill: 1/8 of a drill's under contention


def service_module(node: str):
    if node.endswith(SIDECAR_SUFFIX):
        return kerberos
    if node.startswith(K8S_NODE):
        return k8s_node
    return SERVICE_MODULES.get(node, airflow)


class Cluster:
    """One running (or booting) testbed cluster. Use as a context manager, or ``up``/``down``."""

    def __init__(
        self,
        topology: Topology | None = None,
        *,
        run_id: str | None = None,
        detached: bool = False,
        use_snapshot: bool = True,
        ready_timeout: float = 180,
        boot_weight: int | None = None,
    ) -> None:
        self.topology = topology or Topology()
        self.backend = backend_for(self.topology)
        # CPU weight of the boot's containers (cgroup v1 cpu.shares, DEFAULT_WEIGHT when not
        # given), back to the default at all-green: a cluster booted beside another one's
        # drill yields the CPU to it, so the drill keeps its timing (cgroup v1 only)
        self.boot_weight = boot_weight if boot_weight and runtime.cgroup_v1() else None
        self.run_id = run_id or L.new_run_id()
        self.labels = L.run_labels(self.run_id, detached=detached)
        self.dir = paths.run_dir(self.run_id)
        self.history = History(self.dir / "history.jsonl")
        self.secrets = Secrets.generate()
        self.use_snapshot = use_snapshot
        self.ready_timeout = ready_timeout
        self.services_image = catalog.services_ref().name
        self.airflow_image = catalog.airflow_ref(self.topology.airflow_version).name
        self.snapshot = catalog.snapshot_name(self.airflow_image, self.services_image)
        self.postgres_image = self.services_image
        self.network = None
        self.nodes: dict[str, Container] = {}
        self.versions: dict[str, str] = {}  # node -> Airflow version, where not the topology's
        # False once a scenario changed what a reset cannot undo; False from the start where
        # the backend has no reset (Kubernetes: every scenario gets a fresh cluster)
        self.reusable = self.backend.reusable
        self.timings: dict[str, float] = {}
        self._cancel = threading.Event()
        self._created: dict[str, Container] = {}  # made during the infrastructure phase
        self.good_since = 0.0

    @classmethod
    def attach(cls, run_id: str) -> Cluster:
        """A handle on a cluster booted earlier (e.g. by `testbed up`), from its run record."""
        record_path = paths.run_dir(run_id) / "run.json"
        if not record_path.exists():
            raise ClusterError(
                f"no run record at {record_path}",
                hint="`testbed status` lists the running clusters",
            )
        record = json.loads(record_path.read_text())
        self = cls(run_record.topology_of(record["topology"]), run_id=run_id)
        self.secrets = Secrets.load(self.dir / "secrets")
        self.postgres_image = record["images"]["postgres"]
        containers, networks, _ = runtime.run_objects(run_id)
        for c in containers:
            self.nodes[c.labels.get(L.NODE, c.name)] = c
        self.network = networks[0] if networks else None
        return self

    # -- the Ctx protocol the service modules use -------------------------------------------
    def container(self, node: str) -> Container:
        try:
            return self.nodes[node]
        except KeyError:
            raise ClusterError(
                f"no node {node!r} in run {self.run_id}; nodes: {', '.join(self.nodes)}"
            ) from None

    def version_of(self, node: str) -> str:
        """The Airflow version ``node`` runs (or will run when next created)."""
        return self.versions.get(node, self.topology.airflow_version)

    def image_for(self, node: str) -> str:
        version = self.version_of(node)
        reqs = self.topology.image_requirements
        if reqs:  # the user's extra packages (and Kubernetes' provider), in a derived image
            return catalog.extra_ref(version, reqs).name
        return catalog.airflow_ref(version).name

    def exec_in(self, node: str, cmd: list[str], *, timeout: float) -> runtime.ExecResult:
        """Run ``cmd`` in a node's container, or in a role's pod on Kubernetes."""
        return self.backend.exec_in(self, node, cmd, timeout=timeout)

    def set_version(self, node: str, version: str) -> None:
        """Create ``node`` from ``version``'s image from now on (an upgrade); the cluster can
        no longer be reset to its topology, so a pool boots a fresh one after this scenario."""
        self.versions[node] = version
        if version != self.topology.airflow_version:
            self.reusable = False

    def host_port(self, node: str, port: int) -> int:
        """The host port of a node's ``port`` (a role's NodePort on Kubernetes), looked up
        every time: a restarted container gets a new host port from the engine."""
        return self.backend.host_port(self, node, port)

    # -- boot -------------------------------------------------------------------------------
    def up(self) -> Cluster:
        """Boot every node and wait until each is ready; on any failure, remove everything."""
        started = time.monotonic()
        try:
            self._check_images()
            self.secrets.save(self.dir / "secrets")
            self.history.append(
                "cluster",
                phase="boot",
                run_id=self.run_id,
                topology=self.topology.nodes,
                config=self.topology.flat_effective(),
                timescale=self.topology.timescale,
                boot_weight=self.boot_weight,
            )
            self.network = runtime.create_network(self.run_id, self.labels)
            # creating containers is the engine's work: overlap it with the infrastructure's
            # boot (not the Kerberos nodes': their specs hold keytabs the KDC exports once up)
            with ThreadPoolExecutor(4) as early:
                made = [early.submit(self._create, n) for n in self.topology.airflow_nodes]
                self._phase("infrastructure", self.topology.infra_nodes)
                minio.create_log_bucket(self)
                self._migrate()
                for f in made:
                    f.result()
            try:
                self.backend.boot_roles(self)
            finally:
                self._created.clear()  # only the boot's own specs: later starts create anew
            self._restore_default_weight()
        except BaseException:
            self._cancel.set()
            self.down(reason="boot failed")
            raise
        self.timings["total"] = time.monotonic() - started
        self.mark_good()
        self.history.append("cluster", phase="ready", timings=self.timings)
        self.write_record(state="running")
        return self

    def _restore_default_weight(self) -> None:
        """The boot's low CPU weight ends with the boot: every node back to the default. A node
        left at the low weight slows this cluster's drills, no more: warned and recorded."""
        if not self.boot_weight:
            return
        self.boot_weight, failed = None, []
        for node, c in list(self.nodes.items()):
            try:
                c.update(cpu_shares=DEFAULT_WEIGHT)
            except docker.errors.NotFound:
                pass
            except (docker.errors.APIError, requests.RequestException) as exc:
                failed.append(f"{node}: {exc}"[:200])
        if failed:
            progress.warn(f"left at the boot's low CPU weight: {'; '.join(failed)}")
        self.history.append("cluster", phase="weight", cpu_shares=DEFAULT_WEIGHT, failed=failed)

    def _check_images(self) -> None:
        wanted = [self.services_image, self.airflow_image, self.image_for("scheduler")]
        wanted += self.backend.images()
        missing = [n for n in wanted if not image_build.exists_name(n)]
        if missing:
            raise ImageMissing(
                f"image(s) not built: {', '.join(dict.fromkeys(missing))}",
                hint="run `testbed images build` (--kubernetes for the node) or `make images`; "
                "a scenario's extra "
                "requirements are built by `testbed run`",
            )
        if self.use_snapshot and postgres.snapshot_exists(self.snapshot):
            self.postgres_image = self.snapshot

    def _phase(self, name: str, nodes: list[str]) -> None:
        """Create and start ``nodes`` in parallel, then wait for each to be ready."""
        t0 = time.monotonic()
        with progress.status(f"booting {name}") as update, ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(self._start_and_wait, n, update) for n in nodes]
            try:
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                for f in done:
                    f.result()  # the first failure propagates
            except BaseException:
                self._cancel.set()
                raise
        self.timings[name] = time.monotonic() - t0
        progress.done(f"{name} ready: {', '.join(nodes)}", t0)

    def _start_and_wait(
        self,
        node: str,
        update: Callable[[str], None],
        timeout: float | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        spec = self._spec(node)
        spec.env.update(env or {})
        self._start(spec)
        probe = service_module(node).probe(self, node)
        waited = wait_ready(
            node,
            self.nodes[node],
            probe,
            timeout=timeout or self.ready_timeout,
            cancel=self._cancel,
            on_wait=update,
        )
        self.history.append(
            "container", node=node, state="ready", probe=probe.what, waited=round(waited, 3)
        )

    def add_node(
        self, node: str, timeout: float | None = None, env: dict[str, str] | None = None
    ) -> Container:
        """Boot one more node (e.g. a replacement ``scheduler-2``) and wait until it is ready;
        ``env`` is added to its spec's environment (a node booted with other settings)."""
        self._start_and_wait(node, lambda _msg: None, timeout, env)
        return self.nodes[node]

    def start_node(self, node: str) -> Container:
        """Create and start a node without waiting (see :meth:`wait_node`)."""
        return self._start(self._spec(node))

    def wait_node(self, node: str, timeout: float | None = None) -> float:
        """Wait until an existing node passes its readiness probe; return the seconds waited."""
        probe = service_module(node).probe(self, node)
        waited = wait_ready(
            node,
            self.nodes[node],
            probe,
            timeout=timeout or self.ready_timeout,
            cancel=self._cancel,
        )
        self.history.append(
            "container", node=node, state="ready", probe=probe.what, waited=round(waited, 3)
        )
        return waited

    def cancel(self) -> None:
        """Stop every wait of this cluster now (boot, readiness of restarted nodes)."""
        self._cancel.set()

    def mark_good(self) -> None:
        """Every node is known ready as of now (a later reset waits only for restarts)."""
        self.good_since = time.time()

    def remove_node(self, node: str) -> None:
        """Remove a node's container (and with it everything on its local disk)."""
        old = self.nodes.pop(node, None)
        if old is not None:
            self._save_log(node, old, f"{node}-{old.short_id}.log")  # evidence outlives it
            old.remove(force=True)
            self.history.append("container", node=node, state="removed")

    def replace_node(
        self, node: str, wait: bool = True, env: dict[str, str] | None = None
    ) -> Container:
        """Remove a node's container and boot a fresh one for the same node (same hostname);
        ``env`` is added to the spec's environment (e.g. other Airflow settings, a skewed
        clock). The next replace without ``env`` restores the topology's node."""
        self.remove_node(node)
        if wait:
            return self.add_node(node, env=env)
        spec = self._spec(node)
        spec.env.update(env or {})
        return self._start(spec)

    def aliases(self, node: str) -> list[str]:
        """Every name ``node`` has on the run network (a reconnect must restore them all)."""
        try:
            return [node, *self._spec(node).aliases]
        except Exception:  # e.g. a migrator: its short name is all it has
            return [node]

    def start_spec(self, spec: NodeSpec) -> Container:
        """Create and start a node from an explicit spec (e.g. a one-shot migrator)."""
        return self._start(spec)

    def _spec(self, node: str) -> NodeSpec:
        return service_module(node).spec(self, node)

    def _create(self, node: str) -> None:
        """Create (not start) a node's container ahead of its start (the boot's first phase)."""
        if not self._cancel.is_set():
            spec = self._spec(node)
            self._created[node] = runtime.create(spec, self.run_id, self.network, self.labels)

    def _start(self, spec: NodeSpec) -> Container:
        if self._cancel.is_set():
            raise ClusterError("boot cancelled")
        c = self._created.pop(spec.name, None)
        if c is None:
            c = runtime.create(spec, self.run_id, self.network, self.labels)
        self.nodes[spec.name] = c
        if self.boot_weight:
            c.update(cpu_shares=self.boot_weight)
        c.start()
        self.history.append("container", node=spec.name, state="started", image=spec.image)
        return c

    def _migrate(self) -> None:
        if self.postgres_image == self.snapshot:
            self.history.append("migration", mode="snapshot", image=self.snapshot)
            progress.step(f"database: migrated snapshot {self.snapshot}")
            return
        t0 = time.monotonic()
        with progress.status("airflow db migrate (first boot of this image pair)") as update:
            c = self._start(airflow.migrate_spec(self))
            update("running airflow db migrate")
            try:
                code = c.wait(timeout=MIGRATE_TIMEOUT)["StatusCode"]
            except Exception:
                code = -1
            if code != 0:
                raise ClusterError(
                    "airflow db migrate failed:\n    " + "\n    ".join(runtime.logs_tail(c))
                )
            c.remove(force=True)
            del self.nodes["migrate"]
            self.timings["migrate"] = time.monotonic() - t0
            if self.use_snapshot:
                update(f"committing snapshot {self.snapshot}")
                postgres.take_snapshot(self, self.snapshot)
        self.history.append("migration", mode="migrate", seconds=self.timings["migrate"])
        progress.done("database migrated" + (" and snapshotted" if self.use_snapshot else ""), t0)

    # -- records, logs, teardown ------------------------------------------------------------
    def urls(self) -> dict[str, str]:
        return {
            "api": airflow.api_url(self),
            "scheduler_health": airflow.scheduler_health_url(self),
            "minio": minio.url(self),
            "toxiproxy": toxiproxy.api(self),
            "postgres": f"postgresql://airflow@127.0.0.1:{self.host_port('postgres', 5432)}",
        }

    def write_record(self, state: str) -> Path:
        record = {
            "run_id": self.run_id,
            "state": state,
            "topology": run_record.topology_fields(self.topology),
            "images": {
                "airflow": self.airflow_image,
                "services": self.services_image,
                "postgres": self.postgres_image,
            },
            "nodes": list(self.nodes),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "secrets_dir": str(self.dir / "secrets"),
        }
        if state == "running":
            record["urls"] = self.urls()
        path = self.dir / "run.json"
        path.write_text(json.dumps(record, indent=2))
        return path

    def save_logs(self) -> Path:
        for node, c in list(self.nodes.items()):
            self._save_log(node, c, f"{node}.log")
        self.backend.save_logs(self, self.dir / "logs")
        return self.dir / "logs"

    def _save_log(self, node: str, container: Container, name: str) -> None:
        """Keep a container's log in the run record (at teardown, or before a node goes)."""
        folder = self.dir / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            (folder / name).write_bytes(container.logs(stdout=True, stderr=True))
        except docker.errors.APIError:
            pass

    def down(self, reason: str = "teardown") -> list[str]:
        """Save container logs, remove every object of this run; return what could not go."""
        self._cancel.set()
        self.save_logs()
        failed = runtime.remove_run(self.run_id)
        try:  # a peer partition whose heal never ran (a second Ctrl-C) leaves host rules
            iptables.delete_run_rules(self.run_id)
        except Exception as exc:
            failed.append(f"iptables rules of {self.run_id}: {exc}")
        self.history.append("cluster", phase="down", reason=reason, failed=failed)
        if self.dir.exists():
            self.write_record(state="removed")
        self.nodes.clear()
        return failed

    def __enter__(self) -> Cluster:
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()
