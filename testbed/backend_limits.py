"""What each backend runs and what a scenario may ask of it: the one table of backend
capabilities (:data:`BACKEND_LIMITS`: executors, node counts, Kerberos, the steps not built for
it yet). The topology checks its own fields against it; the scenario's validation asks it which
steps are built. Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass

# how the DAGs reach the nodes (testbed.dag_sync): a copy each at boot, a git checkout each
# pulled on a timer, or Airflow 3's versioned git DAG bundle
DAG_SYNC_MODES = ("copy", "git", "bundle")
# Airflow 3's two executors at once (a task picks one with executor=), as the chart's
# CeleryKubernetesExecutor was
HYBRID = "CeleryExecutor,KubernetesExecutor"


@dataclass(frozen=True)
class BackendLimits:
    """What one backend runs and what a scenario may ask of it: the one table of backend
    capabilities. The topology checks its own fields against it; the scenario's validation
    asks it which steps are built (a fault kind that needs a backend says so in the fault
    registry, ``FaultSpec.backends``)."""

    executors: tuple[str, ...]  # the first is the default
    k8s_nodes: tuple[int, int] = (1, 1)  # fewest, most Kubernetes nodes
    api_servers: int = 3  # at most
    kerberos: bool = True  # the Kerberos pieces (a KDC, a sidecar per worker, pg-krb)
    clock_jumps: bool = True  # Airflow nodes whose clock a clock_jump fault can step
    # config core.executor may repeat the topology's executor (else: only the executor field)
    executor_option: bool = True
    steps_not_built: frozenset[str] = frozenset()  # step actions not built for it yet
    # step actions built in part: (action, what of it is built), said in the backends table
    steps_in_part: tuple[tuple[str, str], ...] = ()
    dag_sync: tuple[str, ...] = DAG_SYNC_MODES  # how the DAGs may reach the nodes
    # the fault kinds it runs, where not all that name it (an existing cluster: what a
    # namespace-scoped user can do there), and why the others are refused
    faults_only: frozenset[str] | None = None
    faults_why: str = ""

    def refuses_fault(self, kind: str) -> str | None:
        """Why a fault of ``kind`` is not run here (None: it may be, as far as this says)."""
        if self.faults_only is None or kind in self.faults_only:
            return None
        allowed = ", ".join(sorted(self.faults_only))
        return f"a {kind} fault is not run here ({self.faults_why}); allowed: {allowed}"


BACKEND_LIMITS: dict[str, BackendLimits] = {
    "docker": BackendLimits(executors=("CeleryExecutor", "LocalExecutor")),
    "kubernetes": BackendLimits(
        # the last: the hybrid (Airflow 3's two executors at once; a task picks one with
        # executor=, the first is the default), as the chart's CeleryKubernetesExecutor was
        executors=("KubernetesExecutor", "CeleryExecutor", HYBRID),
        k8s_nodes=(1, 3),
        api_servers=1,
        clock_jumps=False,
        executor_option=False,
        dag_sync=("copy",),
        steps_not_built=frozenset(
            {"add_node", "remove_node", "migrate", "backup", "restore", "wait_node"}
            | {"push_dags"}  # no git server (dag_sync: copy only)
            | {"seed_history"}  # Airflow 2's rows; Airflow 2 runs on Docker only
        ),
        steps_in_part=(("upgrade", "every Deployment, to a newer Airflow 3"),),
    ),
}
BACKENDS = tuple(BACKEND_LIMITS)
# an existing cluster (``backend: kubernetes`` with a ``kubeconfig``): the testbed is a
# namespace-scoped user there, with no node, runtime or host of its own to fault
EXISTING_LIMITS = BackendLimits(
    executors=BACKEND_LIMITS["kubernetes"].executors,
    api_servers=1,
    kerberos=False,
    clock_jumps=False,
    executor_option=False,
    dag_sync=("copy",),
    steps_not_built=BACKEND_LIMITS["kubernetes"].steps_not_built | {"upgrade", "chaos"},
    faults_only=frozenset({"pod_delete", "link", "db_lock"}),
    faults_why=(
        "an existing cluster is driven as a namespace-scoped user: pods deleted, links "
        "faulted (Toxiproxy runs in the namespace), the database locked; nothing of its "
        "nodes, container runtime or hosts"
    ),
)
EXECUTORS = tuple(dict.fromkeys(e for b in BACKEND_LIMITS.values() for e in b.executors))
