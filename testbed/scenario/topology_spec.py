"""The ``topology`` part of a scenario: how many workers, which Airflow version, config
overrides, Kerberos, the user's own DAGs and requirements, the timescale, the backend; built
into the :class:`testbed.topology.Topology` the cluster is booted from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from testbed import timescale
from testbed.backend_limits import BACKEND_LIMITS, BACKENDS, DAG_SYNC_MODES, EXECUTORS
from testbed.core.values import ConfigKey, Duration, nested_config
from testbed.images.catalog import DEFAULT_AIRFLOW_VERSION, IMAGE_VERSIONS
from testbed.scenario.base import Strict
from testbed.topology import Topology, runs_celery


class TopologySpec(Strict):
    workers: int = Field(2, ge=1, le=8)  # Celery workers (the CeleryExecutor only)
    airflow_version: Literal[tuple(IMAGE_VERSIONS)] = DEFAULT_AIRFLOW_VERSION  # type: ignore[valid-type]
    config: dict[ConfigKey, str | int | float | bool] = {}
    kerberos: bool = False  # a KDC, a ticket-refresher sidecar per worker, a kerberized Postgres
    # The user's own workload: a DAG folder (relative to the scenario file) used instead of the
    # testbed's, and extra packages (PEP 508 lines, or a requirements file's path) installed
    # into an image derived from the Airflow one.
    dags: str | None = None
    requirements: list[str] | str = []
    # Compressed time: every Airflow timer the drill depends on, and the scenario's own waits,
    # scaled by this factor (see testbed/timescale.py); TESTBED_TIMESCALE overrides it.
    timescale: float = Field(1.0, ge=0.2, le=1.0)
    # more than one api-server (one DNS name for all): the guide's zero-downtime rolling upgrade
    api_servers: int = Field(1, ge=1, le=3)
    # where the Airflow roles run: containers, or pods of a Kubernetes node (testbed.k8s)
    backend: Literal[BACKENDS] = "docker"  # type: ignore[valid-type]
    # the backend's first by default (Docker: CeleryExecutor); on Docker also LocalExecutor, the
    # guide's single-machine executor: tasks run as the scheduler's subprocesses, no broker and
    # no Celery workers (`workers` is refused), `core.parallelism` caps them
    executor: Literal[EXECUTORS] | None = None  # type: ignore[valid-type]
    k8s_nodes: int = Field(1, ge=1, le=3)  # backend kubernetes: 2-3 puts task pods on their own
    # every Airflow node's clock can be stepped while it runs (libfaketime preloaded, on the true
    # time until a clock_jump fault moves it); set by the scenario when a step has a clock_jump
    clock_jumps: bool = False
    # how the DAGs reach the nodes: copy (each node's own copy at boot), git (a git server; each
    # node clones it and pulls every dag_sync_every, the guide's cron job), bundle (Airflow 3's
    # git DAG bundle: runs pinned to a commit, refreshed every dag_sync_every)
    dag_sync: Literal[DAG_SYNC_MODES] = "copy"  # type: ignore[valid-type]
    dag_sync_every: Duration = Field(300.0, ge=5, le=3600)
    # an existing Kubernetes cluster (backend: kubernetes) instead of a node the testbed builds:
    # its kubeconfig, the registry it pulls the pushed images from (HOST:PORT), the namespace
    # the run's objects go in (usually given on the command line: `testbed run --kubeconfig`)
    kubeconfig: str | None = None
    registry: str | None = None
    namespace: str = "default"

    @model_validator(mode="after")
    def _every_needs_git(self) -> TopologySpec:
        if "dag_sync_every" in self.model_fields_set and self.dag_sync == "copy":
            raise ValueError(
                "dag_sync_every: how often a git checkout pulls or a git bundle refreshes; "
                "set dag_sync: git or bundle (with copy each node's DAGs are copied at boot)"
            )
        return self

    @model_validator(mode="after")
    def _workers_need_celery(self) -> TopologySpec:
        executor = self.executor or BACKEND_LIMITS[self.backend].executors[0]
        if "workers" in self.model_fields_set and not runs_celery(executor):
            raise ValueError(
                f"workers: the {executor} runs no Celery workers (tasks run "
                + ("under the scheduler" if executor == "LocalExecutor" else "as pods")
                + "); remove workers, or use executor: CeleryExecutor"
            )
        return self

    def build(self) -> Topology:
        nested = nested_config(self.config)
        reqs = self.requirements
        return Topology(
            self.workers,
            self.airflow_version,
            nested,
            kerberos=self.kerberos,
            dags=self.dags,
            requirements=tuple(reqs if isinstance(reqs, list) else [reqs]),
            timescale=timescale.from_env(self.timescale),
            api_servers=self.api_servers,
            backend=self.backend,
            executor=self.executor or BACKEND_LIMITS[self.backend].executors[0],
            k8s_nodes=self.k8s_nodes,
            clock_jumps=self.clock_jumps,
            dag_sync=self.dag_sync,
            dag_sync_every=self.dag_sync_every,
            kubeconfig=self.kubeconfig,
            registry=self.registry,
            namespace=self.namespace,
        )
