"""A cluster's topology: which roles run, the executor (Celery workers, or with the LocalExecutor
tasks run under the scheduler, no broker), how many Celery workers, which Airflow version and
config overrides, the links (component -> Postgres/Redis) routed through Toxiproxy, and
whether the Kerberos pieces run (a KDC, a ticket-refresher sidecar per worker, a kerberized
Postgres the tasks use), and the user's own workload: a DAG folder and extra Python packages
(installed into an image derived from the Airflow one); and the backend: Docker containers, or
(``kubernetes``) the Airflow roles as pods of a Kubernetes node container (testbed.k8s), with
what each backend supports (:data:`BACKEND_LIMITS`: executors, node counts, Kerberos, the
steps not built for it yet).

Pure data, no Docker: the cluster boots what this describes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement

from testbed import secret_options, timescale, topology_checks
from testbed.backend_limits import BACKEND_LIMITS, BACKENDS, EXISTING_LIMITS, BackendLimits
from testbed.core.errors import TestbedError
from testbed.dag_sync import GIT_SERVER
from testbed.images.catalog import (
    DEFAULT_AIRFLOW_VERSION,
    GIT_PROVIDER,
    IMAGE_VERSIONS,
    K8S_PROVIDER,
    major,
)

INFRA = ("postgres", "redis", "minio", "toxiproxy")
K8S_NODE = "k8s-node"  # the Kubernetes node container (backend: kubernetes)
# backend: kubernetes runs the Airflow roles as pods of one node container; the database,
# the log store, Toxiproxy and (CeleryExecutor) the broker stay containers beside it (managed
# services outside the cluster, as the guide recommends for the database)
K8S_INFRA = ("postgres", "redis", "minio", "toxiproxy", K8S_NODE)
# what runs inside a node (a ``hang`` fault's ``process``): on every node, and the control plane
K8S_NODE_PROCESSES = ("kubelet", "kube-proxy", "containerd")
K8S_PROCESSES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    *K8S_NODE_PROCESSES,
)
# the roles that reach the api-server's Execution API (besides the workers)
EXECUTION_API_CLIENTS = ("dag-processor", "triggerer")
AIRFLOW_CORE = ("api-server", "scheduler", "dag-processor", "triggerer")
WEBSERVER = "webserver"  # Airflow 2's API and UI, where Airflow 3 runs the api-server
KERBEROS_INFRA = ("kdc",)
PG_KRB = "pg-krb"  # the kerberized target: a second Postgres that accepts only GSSAPI
SIDECAR_SUFFIX = "-kerberos"
PROXY_BASE_PORT = 20000
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
K8S_CLIENT = "k8s-client"  # the container kubectl runs in, for an existing cluster


def runs_celery(executor: str) -> bool:
    """``executor`` (one, or several comma-separated) includes the CeleryExecutor."""
    return "CeleryExecutor" in executor.split(",")


def worker_name(i: int) -> str:
    return f"worker-{i}"


def role_is_worker(node: str) -> bool:
    """``worker-3`` is a Celery worker; ``worker-3-kerberos`` (its sidecar) is not."""
    return re.fullmatch(r"worker-\d+", node) is not None


def worker_of_host(host: str) -> str:
    """The Celery worker a task's hostname names: itself on Docker (``worker-1``), its
    Deployment on Kubernetes (the pod ``worker-1-<ReplicaSet hash>-<pod suffix>``)."""
    found = re.fullmatch(r"(worker-\d+)-[a-z0-9]+-[a-z0-9]+", host)
    return found.group(1) if found else host


def holds_dags(node: str, local: bool = False) -> bool:
    """A node that parses or runs DAGs from its own copy of the DAG folder: a Celery worker, a
    dag-processor, and with the LocalExecutor the scheduler (its tasks run under it)."""
    role = re.sub(r"-\d+$", "", node)
    return role_is_worker(node) or role == "dag-processor" or (local and role == "scheduler")


def sidecar_name(worker: str) -> str:
    """The node running ``airflow kerberos`` for one worker, e.g. ``worker-1-kerberos``."""
    return f"{worker}{SIDECAR_SUFFIX}"


@dataclass(frozen=True)
class Link:
    """One component's connection to a backing service, routed through Toxiproxy."""

    client: str  # node name, e.g. "scheduler"
    upstream: str  # "postgres" | "redis" | "api-server" (its Execution API) | "minio" (logs)
    listen_port: int  # port on the toxiproxy node

    @property
    def name(self) -> str:  # the Toxiproxy proxy name
        return f"{self.client}.{self.upstream}"

    @property
    def label(self) -> str:
        return f"{self.client}->{self.upstream}"


def serves_scheduler_health(version: str) -> bool:
    """Whether the schedulers of Airflow ``version`` run Airflow's health server here: not on
    Airflow 2, whose forked server can take the scheduler's own database replies
    (docs/findings.md); there the job table's heartbeat is their liveness."""
    return major(version) != 2


@dataclass(frozen=True)
class Topology:
    workers: int = 2
    airflow_version: str = DEFAULT_AIRFLOW_VERSION
    config: dict[str, dict[str, str]] = field(default_factory=dict)
    kerberos: bool = False  # a KDC, a sidecar per worker, the kerberized target
    dags: str | None = None  # the user's DAG folder (absolute); None: the testbed's own DAGs
    requirements: tuple[str, ...] = ()  # extra packages (PEP 508), in a derived image
    timescale: float = 1.0  # every Airflow timer a drill depends on, scaled (testbed.timescale)
    # api-servers: "api-server", then "api-server-2", ...; every one answers to the DNS name
    # api-server on the run network (Docker's round robin stands in for a load balancer)
    api_servers: int = 1
    backend: str = "docker"  # "kubernetes": the Airflow roles are pods (testbed.k8s)
    executor: str = "CeleryExecutor"
    # Kubernetes nodes: k8s-node (control plane, the Airflow roles), then k8s-node-2, ... (the
    # task pods' pool, when there are any)
    k8s_nodes: int = 1
    # every Airflow node started under libfaketime on the true time, so a clock_jump fault can
    # step one node's clock while its processes run (testbed.faketime)
    clock_jumps: bool = False
    # how the DAGs reach the nodes (DAG_SYNC_MODES; testbed.dag_sync), and how often a git
    # checkout pulls or a git bundle refreshes (seconds)
    dag_sync: str = "copy"
    dag_sync_every: float = 300.0
    # an existing Kubernetes cluster (backend: kubernetes) instead of the node the testbed
    # builds: its kubeconfig (a path on this machine), the registry its nodes pull the pushed
    # images from (HOST:PORT, as this machine pushes to it too), the namespace the run's
    # objects go in (testbed.k8s.existing)
    kubeconfig: str | None = None
    registry: str | None = None
    namespace: str = "default"

    def __post_init__(self) -> None:
        self._check_workload()
        timescale.check(self.timescale)
        if not 1 <= self.workers <= 8:
            raise TestbedError(f"workers must be 1..8, got {self.workers}")
        if not 1 <= self.api_servers <= 3:
            raise TestbedError(f"api_servers must be 1..3, got {self.api_servers}")
        if self.airflow_version not in IMAGE_VERSIONS:
            raise TestbedError(
                f"airflow_version {self.airflow_version!r} is not buildable; "
                f"allowed: {', '.join(IMAGE_VERSIONS)}"
            )
        self._check_backend()
        if self.line == 2:
            topology_checks.airflow_2(self)
        for section, keys in self.config.items():
            for key in [section, *keys]:
                if not _NAME.match(key):
                    raise TestbedError(
                        f"config key {key!r} is not a lowercase Airflow option name "
                        "(e.g. scheduler.scheduler_health_check_threshold)"
                    )
        secret_options.check(self.config)

    def _check_workload(self) -> None:
        """Requirement lines and timer values (the DAG folder's existence is checked where a
        scenario or `testbed up` names it: a record's folder may be gone when it is torn down)."""
        timescale.check_timers(self.config)
        for line in self.requirements:
            try:
                req = Requirement(line)
            except InvalidRequirement as exc:
                raise TestbedError(
                    f"requirements: {line!r} is not a package requirement "
                    f"(e.g. humanize==4.12.3): {exc}"
                ) from None
            if req.url:
                raise TestbedError(
                    f"requirements: {line!r} points at a URL; only packages from the index "
                    "(name, version specifier, extras) are allowed"
                )

    def _check_backend(self) -> None:
        """The topology against its backend's limits (:data:`BACKEND_LIMITS`)."""
        if self.backend not in BACKENDS:
            raise TestbedError(f"backend {self.backend!r}: allowed {', '.join(BACKENDS)}")
        topology_checks.existing(self)
        limits = self.limits
        if self.executor not in limits.executors:
            raise TestbedError(
                f"executor {self.executor!r} is not built for backend {self.backend}; "
                f"allowed: {', '.join(limits.executors)}"
            )
        lo, hi = limits.k8s_nodes
        if not lo <= self.k8s_nodes <= hi:  # named where more than one is built
            spans = [
                f"{b.k8s_nodes[0]}..{b.k8s_nodes[1]} (backend {name})"
                for name, b in BACKEND_LIMITS.items()
                if b.k8s_nodes[1] > 1
            ]
            raise TestbedError(f"k8s_nodes must be {' or '.join(spans)}, got {self.k8s_nodes}")
        option = self.config.get("core", {}).get("executor")
        if option is not None and (not limits.executor_option or option != self.executor):
            raise TestbedError(
                f"config core.executor {option!r}: set the topology's executor instead "
                f"(executor: {self.executor} here; allowed: {', '.join(limits.executors)})"
            )
        if self.kerberos and not self.celery:
            raise TestbedError(
                f"kerberos: the ticket refresher runs beside each Celery worker; the "
                f"{self.executor} has none (use executor: CeleryExecutor)"
            )
        if self.kerberos and self.kubernetes and self.executor != "CeleryExecutor":
            raise TestbedError(
                f"kerberos on kubernetes: only with executor CeleryExecutor (the refresher is a "
                f"sidecar of the Celery worker pods; the {self.executor}'s task pods have none)"
            )
        if self.kerberos and not limits.kerberos:
            raise TestbedError(f"backend {self.backend} runs no Kerberos pieces (kerberos: false)")
        if self.clock_jumps and not limits.clock_jumps:
            raise TestbedError(
                f"clock_jumps: clock_jump faults run on the docker backend only, not {self.backend}"
            )
        if self.dag_sync not in limits.dag_sync:
            raise TestbedError(
                f"dag_sync {self.dag_sync!r} is not built for backend {self.backend}; "
                f"allowed: {', '.join(limits.dag_sync)}"
            )
        if self.api_servers > limits.api_servers:
            raise TestbedError(
                f"backend {self.backend} runs {limits.api_servers} api-server(s) at most "
                f"(api_servers: {limits.api_servers}), got {self.api_servers}"
            )

    @property
    def line(self) -> int:
        """The Airflow major version the cluster boots (2: a webserver serves the API)."""
        return major(self.airflow_version)

    @property
    def scheduler_health_served(self) -> bool:
        """Whether the schedulers run Airflow's health server (:func:`serves_scheduler_health`)."""
        return serves_scheduler_health(self.airflow_version)

    @property
    def limits(self) -> BackendLimits:
        """What this topology's backend runs and supports (an existing cluster: what a
        namespace-scoped user can do there)."""
        return EXISTING_LIMITS if self.existing else BACKEND_LIMITS[self.backend]

    @property
    def kubernetes(self) -> bool:
        return self.backend == "kubernetes"

    @property
    def existing(self) -> bool:
        """The Airflow roles and the infrastructure go into an existing Kubernetes cluster's
        namespace (``kubeconfig``), not a node the testbed builds."""
        return self.kubeconfig is not None

    @property
    def celery(self) -> bool:
        """Celery workers and their broker (Redis) run: the CeleryExecutor (alone or with the
        KubernetesExecutor)."""
        return runs_celery(self.executor)

    @property
    def local(self) -> bool:
        """The LocalExecutor: tasks run as the scheduler's subprocesses (no broker, no workers)."""
        return self.executor == "LocalExecutor"

    @property
    def task_hosts(self) -> list[str]:
        """The nodes task processes run on: the Celery workers, or the scheduler (on
        Kubernetes the worker roles: a task records its pod's name, ``worker-1-<hash>``)."""
        return ["scheduler"] if self.local else self.worker_names

    def describe(self) -> str:
        """What boots, in one line (the dry-run plan's topology line)."""
        parts = [f"Airflow {self.airflow_version}", self.executor]
        if self.kubernetes:
            parts.append(f"on Kubernetes ({self.k8s_nodes} node(s); the roles as pods)")
        if self.local:
            parallelism = self.config.get("core", {}).get("parallelism", 32)
            parts.append(f"tasks run under the scheduler (parallelism {parallelism}), no broker")
        elif self.celery:
            parts.append(f"{len(self.worker_names)} Celery worker(s)")
        if self.api_servers > 1:
            parts.append(f"{self.api_servers} api-servers")
        if self.kerberos:
            parts.append("Kerberos (a KDC, a ticket refresher beside each worker)")
        if self.dag_sync != "copy":
            how = "a git checkout on each node" if self.dag_sync == "git" else "a git DAG bundle"
            parts.append(f"DAGs from {GIT_SERVER} ({how}, every {self.dag_sync_every:g}s)")
        if self.clock_jumps:
            parts.append("clocks that can jump (libfaketime preloaded on every Airflow node)")
        if self.timescale != 1.0:
            parts.append(f"timescale {self.timescale:g} (Airflow's timers and the drill's waits)")
        return ", ".join(parts)

    @property
    def image_requirements(self) -> tuple[str, ...]:
        """The extra packages of the derived Airflow image: the user's, and on Kubernetes the
        provider the KubernetesExecutor lives in."""
        git = (GIT_PROVIDER,) if self.dag_sync != "copy" else ()
        return (*self.requirements, *((K8S_PROVIDER,) if self.kubernetes else ()), *git)

    @property
    def k8s_workers(self) -> list[str]:
        """The Kubernetes nodes beyond the control plane's (joined once it is up)."""
        if self.existing:  # the cluster's own nodes: none the testbed makes
            return []
        return [f"{K8S_NODE}-{i}" for i in range(2, self.k8s_nodes + 1)]

    @property
    def pods(self) -> list[str]:
        """The Airflow roles run as Kubernetes Deployments (none on the Docker backend): the
        core roles, and with the CeleryExecutor one Deployment per Celery worker."""
        return [*AIRFLOW_CORE, *self.worker_names] if self.kubernetes else []

    @property
    def worker_names(self) -> list[str]:
        """The Celery workers (none with the KubernetesExecutor, a pod per task, or the
        LocalExecutor, the scheduler's subprocesses)."""
        if not self.celery:
            return []
        return [worker_name(i) for i in range(1, self.workers + 1)]

    @property
    def api_server_names(self) -> list[str]:
        """The nodes that serve the REST API: the api-servers, or on Airflow 2 the webservers
        (``api_servers`` of them: ``webserver``, ``webserver-2``, ...)."""
        return _numbered(WEBSERVER if self.line == 2 else "api-server", self.api_servers)

    @property
    def airflow_nodes(self) -> list[str]:
        """The Airflow roles run as containers (none on Kubernetes: see :attr:`pods`)."""
        if self.kubernetes:
            return []
        return [*self.api_server_names, *AIRFLOW_CORE[1:], *self.worker_names]

    @property
    def infra_nodes(self) -> list[str]:
        """The nodes booted before the metadata database is migrated."""
        kdc = KERBEROS_INFRA if self.kerberos else ()
        if self.existing:  # the client; the infrastructure runs as pods (infra_pods)
            return [K8S_CLIENT]
        if self.kubernetes:
            return [*(n for n in K8S_INFRA if self.celery or n != "redis"), *kdc]
        infra = [n for n in INFRA if self.celery or n != "redis"]  # Redis: Celery's broker
        git = (GIT_SERVER,) if self.dag_sync != "copy" else ()
        return [*infra, *kdc, *git]

    @property
    def infra_pods(self) -> list[str]:
        """The infrastructure as pods of an existing cluster's namespace (none elsewhere)."""
        if not self.existing:
            return []
        return [n for n in INFRA if self.celery or n != "redis"]

    @property
    def kerberos_nodes(self) -> list[str]:
        """The kerberized target and one sidecar per worker (booted beside the Airflow nodes,
        once the KDC is ready); none without ``kerberos``. On Kubernetes a worker's sidecar is
        a container of its pod, not a node."""
        if not self.kerberos:
            return []
        if self.kubernetes:
            return [PG_KRB]
        return [PG_KRB, *(sidecar_name(w) for w in self.worker_names)]

    @property
    def nodes(self) -> list[str]:
        return [*self.infra_nodes, *self.k8s_workers, *self.airflow_nodes, *self.kerberos_nodes]

    def links(self) -> list[Link]:
        """Every (component, backing service) pair, each with its own Toxiproxy port."""
        pairs = [(n, "postgres") for n in AIRFLOW_CORE]
        if self.celery:
            pairs.append(("scheduler", "redis"))
        for w in self.worker_names:
            pairs += [(w, "redis"), (w, "postgres")]
        if self.kubernetes:  # the pods' links to the containers beside the node (Toxiproxy
            # cannot reach a pod: the api-server's Execution API is reached directly)
            return [Link(c, u, PROXY_BASE_PORT + i) for i, (c, u) in enumerate(pairs)]
        # Airflow 3's api-servers (on Airflow 2 too: their links are ready for the upgrade)
        pairs += [(n, "postgres") for n in _numbered("api-server", self.api_servers)[1:]]
        pairs.append(("migrate", "postgres"))  # the others above keep their ports
        # Airflow 3's own path: what runs tasks, triggers and callbacks reaches the api-server's
        # Execution API (after the database links, whose ports stay as they were)
        pairs += [(n, "api-server") for n in EXECUTION_API_CLIENTS if n in self.nodes]
        pairs += [(w, "api-server") for w in self.worker_names]
        # remote log storage: the workers' uploads, the api-server's reads (after the rest)
        pairs += [(n, "minio") for n in (*self.worker_names, "api-server")]
        if self.local:  # the scheduler's task processes: the Execution API, log uploads
            pairs += [("scheduler", "api-server"), ("scheduler", "minio")]
        if self.line == 2:  # the webservers last: Airflow 3's links keep their ports through a
            # 2 -> 3 upgrade (which replaces the webservers by the api-server)
            webservers = self.api_server_names
            pairs += [(n, u) for n in webservers for u in ("postgres", "minio")]
        return [Link(c, u, PROXY_BASE_PORT + i) for i, (c, u) in enumerate(pairs)]

    def link(self, client: str, upstream: str) -> Link:
        for link in self.links():
            if (link.client, link.upstream) == (client, upstream):
                return link
        raise TestbedError(
            f"no link {client}->{upstream}; links: {', '.join(k.label for k in self.links())}"
        )

    def flat_config(self) -> dict[str, str]:
        """Overrides as {"section.key": "value"} (for the run record)."""
        return _flat(self.config)

    def effective_config(self) -> dict[str, dict[str, str]]:
        """The overrides the nodes get: the topology's, with every timer scaled."""
        return timescale.effective(self.config, self.timescale)

    def flat_effective(self) -> dict[str, str]:
        """The effective overrides as {"section.key": "value"} (what config_in_force checks)."""
        return _flat(self.effective_config())


def _numbered(base: str, count: int) -> list[str]:
    """``base``, then ``base-2`` ... ``base-<count>``."""
    return [base, *(f"{base}-{i}" for i in range(2, count + 1))]


def _flat(config: dict[str, dict[str, str]]) -> dict[str, str]:
    return {f"{s}.{k}": str(v) for s, keys in config.items() for k, v in keys.items()}
