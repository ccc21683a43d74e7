"""The :class:`Cluster`: one running (or booting) testbed cluster, its identity (run id, labels,
images, secrets, history), its nodes, and the context the service modules build nodes from.

It hands each job to a collaborator of :mod:`testbed.cluster`: the boot
(:mod:`~testbed.cluster.boot`, with the migration in :mod:`~testbed.cluster.migration`), a
node's coming and going (:mod:`~testbed.cluster.nodes`), the run record and logs
(:mod:`~testbed.cluster.record`) and the teardown (:mod:`~testbed.cluster.teardown`). Running
commands in nodes, their host ports, the logs beyond the containers' and whether a cluster can
be reused are the backend's (testbed.backends).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from docker.models.containers import Container

from testbed import run_record, runtime
from testbed.backends import backend_for
from testbed.cluster import boot, nodes, record, teardown
from testbed.core import labels as L
from testbed.core import paths
from testbed.core.errors import ClusterError
from testbed.core.history import History
from testbed.core.secrets import Secrets
from testbed.images import catalog
from testbed.runtime import NodeSpec
from testbed.topology import Topology


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
        found = record.read(run_id)
        self = cls(run_record.topology_of(found["topology"]), run_id=run_id)
        self.secrets = Secrets.load(self.dir / "secrets")
        self.postgres_image = found["images"]["postgres"]
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

    def has(self, name: str) -> bool:
        """``name`` is one of the run's nodes, or (on Kubernetes) the role of one of its pods."""
        topology = self.topology
        return name in self.nodes or name in topology.pods or name in topology.infra_pods

    def version_of(self, node: str) -> str:
        """The Airflow version ``node`` runs (or will run when next created)."""
        return self.versions.get(node, self.topology.airflow_version)

    def image_for(self, node: str) -> str:
        return self.image_of(self.version_of(node))

    def image_of(self, version: str) -> str:
        """The image of ``version`` this cluster's nodes run."""
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

    # -- boot (testbed.cluster.boot) ----------------------------------------------------------
    def up(self) -> Cluster:
        """Boot every node and wait until each is ready; on any failure, remove everything."""
        boot.up(self)
        return self

    def _phase(self, name: str, names: list[str]) -> None:
        """Create and start ``names`` in parallel, then wait for each (the backends' phases)."""
        boot.phase(self, name, names)

    def cancel(self) -> None:
        """Stop every wait of this cluster now (boot, readiness of restarted nodes)."""
        self._cancel.set()

    def promote(self) -> None:
        """A boot at a low CPU weight gets the default weight now (what it started already
        too): someone waits for it (testbed.pool)."""
        boot.restore_default_weight(self)

    def mark_good(self) -> None:
        """Every node is known ready as of now (a later reset waits only for restarts)."""
        self.good_since = time.time()

    # -- nodes (testbed.cluster.nodes) --------------------------------------------------------
    def add_node(
        self, node: str, timeout: float | None = None, env: dict[str, str] | None = None
    ) -> Container:
        """Boot one more node (e.g. a replacement ``scheduler-2``) and wait until it is ready;
        ``env`` is added to its spec's environment (a node booted with other settings)."""
        return nodes.start_and_wait(self, node, timeout=timeout, env=env)

    def start_node(self, node: str) -> Container:
        """Create and start a node without waiting (see :meth:`wait_node`)."""
        return nodes.start(self, nodes.spec(self, node))

    def wait_node(self, node: str, timeout: float | None = None) -> float:
        """Wait until an existing node passes its readiness probe; return the seconds waited."""
        return nodes.wait(self, node, timeout)

    def start_spec(self, spec: NodeSpec) -> Container:
        """Create and start a node from an explicit spec (e.g. a one-shot migrator)."""
        return nodes.start(self, spec)

    def remove_node(self, node: str) -> None:
        """Remove a node's container (and with it everything on its local disk)."""
        nodes.remove(self, node)

    def replace_node(
        self, node: str, wait: bool = True, env: dict[str, str] | None = None
    ) -> Container:
        """Remove a node's container and boot a fresh one for the same node (same hostname);
        ``env`` is added to the spec's environment (e.g. other Airflow settings, a skewed
        clock). The next replace without ``env`` restores the topology's node."""
        self.remove_node(node)
        if wait:
            return self.add_node(node, env=env)
        return nodes.start(self, nodes.spec(self, node, env))

    def aliases(self, node: str) -> list[str]:
        """Every name ``node`` has on the run network (a reconnect must restore them all)."""
        return nodes.aliases(self, node)

    # -- record, logs, teardown (testbed.cluster.record, testbed.cluster.teardown) ----------
    def urls(self) -> dict[str, str]:
        return record.urls(self)

    def write_record(self, state: str) -> Path:
        return record.write(self, state)

    def save_logs(self) -> Path:
        return record.save_logs(self)

    def down(self, reason: str = "teardown") -> list[str]:
        """Save container logs, remove every object of this run; return what could not go."""
        return teardown.down(self, reason)

    def __enter__(self) -> Cluster:
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()
