"""The one table of fault kinds the scenario DSL names: per kind, where its class lives, the
model of its parameters (the fields of a ``fault`` step it takes beyond every fault's, in
:mod:`testbed.faults.params`), how it is healed, what it does to a running task's log, whether
seeded chaos may draw it, the backends it runs on, and a line saying what it does.

Pure data (no Docker, no HTTP client): the scenario model (one ``fault`` step model per kind,
:mod:`testbed.scenario.steps_fault`), the checks (:data:`LOSING_FAULTS`) and the chaos
generator (:data:`CHAOS_KINDS`) read it; only :mod:`testbed.faults.kinds` imports the classes,
for the engine. Adding a kind: its class in a family module, its parameter model in
:mod:`testbed.faults.params` (if it takes any), and one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.faults import params as P


@dataclass(frozen=True)
class FaultSpec:
    kind: str
    impl: str  # "module:Class" (or a factory taking the cluster, target, name and params)
    doc: str
    params: type[P.Params] = P.Params  # the fields of the `fault` step it takes (none)
    healed_by_step: bool = False  # no `for:`: a `heal` step (or the scenario's end) heals it
    loses_task_log: bool = False  # a task running on the target uploads no log (checks.logs)
    chaos: bool = False  # seeded chaos may draw it (testbed.scenario.chaos_generate)
    backends: tuple[
        str, ...
    ] = ()  # it runs only on these (testbed.backend_limits.BACKENDS); (): all
    # what its target names (TARGETS): a node, a pod role, a link or a glob of links, a node
    # holding a keytab, a node a fresh container re-creates whole with a skewed clock, the
    # metadata database's node, a node running Airflow, a node holding its own DAG files
    targets: str = "node"
    needs_kerberos: bool = False  # only in a topology with the Kerberos pieces
    recreates_node: bool = False  # a fresh container for the node (its disk and state go)


TARGETS = (
    "node",
    "pod",
    "link",
    "keytab_holder",
    "skewable",
    "database",
    "airflow_node",
    "dag_holder",
)


_F = "testbed.faults"
REGISTRY: dict[str, FaultSpec] = {
    s.kind: s
    for s in (
        FaultSpec(
            "hang",
            f"{_F}.process:Hang",
            "Freeze a node: docker pause, or SIGSTOP of its main process or of a named one.",
            params=P.HangParams,
            chaos=True,
        ),
        FaultSpec(
            "kill",
            f"{_F}.process:Kill",
            "Signal a node: SIGKILL, or TERM, INT, QUIT, HUP to its main process.",
            params=P.KillParams,
            loses_task_log=True,
            chaos=True,
        ),
        FaultSpec(
            "stop",
            f"{_F}.process:Stop",
            "Stop a node gracefully: SIGTERM, then SIGKILL after the deadline.",
            params=P.StopParams,
            loses_task_log=True,
        ),
        FaultSpec(
            "restart",
            f"{_F}.process:Restart",
            "Restart a node's container.",
            healed_by_step=True,
            loses_task_log=True,
            chaos=True,
        ),
        FaultSpec(
            "replace",
            f"{_F}.node:Replace",
            "A fresh container for a node, maybe with other Airflow options or its own secret.",
            params=P.ReplaceParams,
            healed_by_step=True,
            loses_task_log=True,
            recreates_node=True,
        ),
        FaultSpec(
            "remove",
            f"{_F}.node:Remove",
            "Remove a node's container and its disk; the heal boots a fresh one.",
            healed_by_step=True,
            loses_task_log=True,
            recreates_node=True,
        ),
        FaultSpec(
            "partition",
            f"{_F}.network:Partition",
            "Cut a node off the cluster network, or drop its link to one peer (iptables).",
            params=P.PartitionParams,
            chaos=True,
        ),
        FaultSpec(
            "link",
            f"{_F}.link:LinkFault",
            "A Toxiproxy toxic, or down, on one link or a glob of links (e.g. *->redis).",
            params=P.LinkParams,
            chaos=True,
            targets="link",
        ),
        FaultSpec(
            "rotate_key",
            f"{_F}.kerberos:RotateKey",
            "New keys on the KDC for the principal a node's keytab holds; the heal deploys them.",
            targets="keytab_holder",
            needs_kerberos=True,
        ),
        FaultSpec(
            "clock_skew",
            f"{_F}.kerberos:ClockSkew",
            "A node's clock off by an offset (the node re-created under libfaketime).",
            params=P.ClockSkewParams,
            healed_by_step=True,
            targets="skewable",
            needs_kerberos=True,
            # on Kubernetes the pods reach the target by the address it had (a hostAliases
            # entry), which a re-created container does not keep
            backends=("docker",),
        ),
        FaultSpec(
            "clock_jump",
            f"{_F}.clock:ClockJump",
            "Step an Airflow node's clock by `offset` while its processes run (as an NTP step "
            "does); monotonic clocks stay true. The heal steps it back.",
            params=P.ClockJumpParams,
            backends=("docker",),
            targets="airflow_node",
        ),
        FaultSpec(
            "cpu_throttle",
            f"{_F}.resource:CpuThrottle",
            "Starve a node of CPU (a CFS quota of `cpus`, e.g. 0.1); it runs on, slowly.",
            params=P.CpuThrottleParams,
            backends=("docker",),
        ),
        FaultSpec(
            "memory_limit",
            f"{_F}.resource:MemoryLimit",
            "Lower a node's memory limit live (`memory`, e.g. 300m): past it, the kernel's OOM "
            "killer kills the node's biggest process (often a task).",
            params=P.MemoryLimitParams,
            backends=("docker",),
        ),
        FaultSpec(
            "disk_full",
            f"{_F}.disk:DiskFull",
            "Fill the filesystem of a folder on a node (`path`; a worker's log folder by "
            "default), leaving `free` bytes: writes there fail with ENOSPC.",
            params=P.DiskFullParams,
            backends=("docker",),
        ),
        FaultSpec(
            "dns_failure",
            f"{_F}.network:DnsFailure",
            "A node's name lookups fail (its resolver answers nothing); open connections stay.",
            backends=("docker",),
        ),
        FaultSpec(
            "db_lock",
            f"{_F}.database:DbLock",
            "Hold row locks in the metadata database from an idle session (`table`, `where`), "
            "as a dead process's connection left idle in transaction does.",
            params=P.DbLockParams,
            targets="database",
        ),
        FaultSpec(
            "pod_delete",
            "testbed.faults.pod:PodDelete",
            "Delete a role's pod(s) on Kubernetes, with a grace period; the heal waits for new.",
            params=P.PodDeleteParams,
            healed_by_step=True,
            loses_task_log=True,  # a Celery worker's pod deleted mid-task (grace 0)
            chaos=True,
            backends=("kubernetes",),
            targets="pod",
        ),
        FaultSpec(
            "container_kill",
            "testbed.faults.pod:ContainerKill",
            "SIGKILL one container of a role's pod on Kubernetes (`container`: the role's own, "
            "or `kerberos`, a worker's sidecar); the kubelet restarts it, the heal waits for it.",
            params=P.ContainerKillParams,
            healed_by_step=True,
            loses_task_log=True,  # a Celery worker's own container killed mid-task
            backends=("kubernetes",),
            targets="pod",
        ),
        FaultSpec(
            "dag_drift",
            f"{_F}.dags:DagDrift",
            "One node's copy of a DAG file out of step: an older version, or missing.",
            params=P.DagDriftParams,
            healed_by_step=True,
            backends=("docker",),
            targets="dag_holder",
        ),
    )
}

KINDS: tuple[str, ...] = tuple(REGISTRY)  # in this order in the DSL's messages
# which fields of a `fault` step each kind takes beyond every fault's (the kinds taking any)
FAULT_PARAMS: dict[str, set[str]] = {
    k: set(s.params.model_fields) for k, s in REGISTRY.items() if s.params.model_fields
}
HEALED_BY_STEP: tuple[str, ...] = tuple(k for k, s in REGISTRY.items() if s.healed_by_step)
LOSING_FAULTS: tuple[str, ...] = tuple(k for k, s in REGISTRY.items() if s.loses_task_log)
CHAOS_KINDS: tuple[str, ...] = tuple(k for k, s in REGISTRY.items() if s.chaos)
