"""Cross-step validation, after the schema: names refer to what exists at that point of the
scenario (runs triggered earlier, faults injected earlier, nodes of the topology or added,
links routed through Toxiproxy, DAGs in the DAG folder). Returns ``(field path, message)``s.
Each step kind has its validator in :data:`VALIDATORS` (by ``action``); they share the state of
the scenario so far (:class:`_State`)."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testbed import dagscan
from testbed.backend_limits import HYBRID
from testbed.dag_sync import GIT_SERVER
from testbed.faults import SKEWABLE
from testbed.faults.process_roles import AIRFLOW_PROCESSES, runs_on
from testbed.images.catalog import major
from testbed.scenario import validate_k8s as k8s_rules
from testbed.scenario import validate_upgrade as upgrade_rules
from testbed.scenario.model import (
    AddNode,
    Backup,
    Expect,
    Fault,
    Heal,
    Migrate,
    RemoveNode,
    Restore,
    Scenario,
    StopWorkload,
    Trigger,
    Wait,
    WaitNode,
    Workload,
)
from testbed.topology import (
    INFRA,
    K8S_NODE,
    K8S_NODE_PROCESSES,
    KERBEROS_INFRA,
    PG_KRB,
    SIDECAR_SUFFIX,
    holds_dags,
)

HOST_OF = "host_of:"  # a fault target: the node a task ran on, e.g. host_of:long.work
HYBRID_DAG = "hybrid_task"  # the testbed's DAG with a task per executor (scenarios/dags)
_ADDABLE = re.compile(r"^(scheduler|triggerer|dag-processor|api-server)-\d+$|^worker-\d+$")
_ADDABLE_2 = re.compile(r"^(scheduler|triggerer|dag-processor|webserver)-\d+$|^worker-\d+$")


class _State:
    def __init__(self, s: Scenario) -> None:
        self.topology = s.topology.build()
        self.nodes = set(self.topology.nodes)
        self.links = {link.label for link in self.topology.links()}
        self.runs: set[str] = set()
        self.faults: set[str] = set()
        self.signalling: set[str] = set()  # faults that send a TERM-like signal (stop, kill TERM)
        self.removed: dict[str, str] = {}  # remove-fault name -> the node it removed
        self.backups: set[str] = set()
        self.workloads: set[str] = set()
        self.added: set[str] = set()
        self.sidecars = {n for n in self.nodes if n.endswith(SIDECAR_SUFFIX)}
        self.not_airflow = {*INFRA, *KERBEROS_INFRA, PG_KRB, GIT_SERVER}
        self.version = self.topology.airflow_version  # after the last whole upgrade
        self.upgraded_from: str | None = None  # the 2.x a 2 -> 3 step's backup holds
        self.seeded: set[str] = set()  # the DAGs a seed_history step has seeded


def cross_check(s: Scenario, dags: set[str]) -> list[tuple[str, str]]:
    st, errors = _State(s), []
    for i, step in enumerate(s.steps):
        where = f"steps.{i}.{step.action}"
        for field, msg in _step_errors(step, st, dags):
            errors.append((f"{where}.{field}" if field else where, msg))
    if not any(isinstance(step, Expect) and not step.finding for step in s.steps):
        errors.append(("steps", NO_EXPECTATION))
    return errors


# A drill that judges nothing passes whatever the cluster did (the automatic "overrides in
# force" only says the drill ran as configured).
NO_EXPECTATION = (
    "no expectation of its own: add at least one `expect` step that is not `finding: true` "
    "(e.g. {check: no_task_lost}), so the drill can fail"
)


def _step_errors(step, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    if step.action in st.topology.limits.steps_not_built:
        return [("", f"{step.action} is not built for backend {st.topology.backend} yet")]
    validator = VALIDATORS.get(step.action)  # `chaos` is expanded before this: nothing to check
    return validator(step, st, dags) if validator else []


def _wait(step: Wait, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    return [] if step.run in st.runs else [("run", _unknown("run", step.run, st.runs))]


def _heal(step: Heal, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    if step.fault not in st.faults:
        return [("fault", _unknown("fault", step.fault, st.faults))]
    if step.fault in st.removed:  # healing a remove boots the node again
        st.nodes.add(st.removed.pop(step.fault))
    return []


def _migrate(step: Migrate, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    st.nodes.add(step.name)
    return []


def _wait_node(step: WaitNode, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    return [] if step.node in st.nodes else [("node", _unknown("node", step.node, st.nodes))]


def _backup(step: Backup, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    st.backups.add(step.name)
    return []


def _restore(step: Restore, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    return [] if step.name in st.backups else [("name", _unknown("backup", step.name, st.backups))]


def _workload(step: Workload, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    out = (
        []
        if step.dag in dags
        else [("dag", f"unknown DAG {step.dag!r}; DAGs: {', '.join(sorted(dags))}")]
    )
    if step.name in st.workloads:
        out.append(("name", f"workload name {step.name!r} is used twice"))
    st.workloads.add(step.name)
    return out


def _remove_node(step: RemoveNode, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    if step.node not in st.added:
        return [("node", _unknown("node added by this scenario", step.node, st.added))]
    st.nodes.discard(step.node)
    st.added.discard(step.node)
    return []


def _stop_workload(step: StopWorkload, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    if step.name not in st.workloads:
        return [("name", _unknown("workload", step.name, st.workloads))]
    st.workloads.discard(step.name)
    return []


def _push_dags(step, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    """A deploy needs the git server; the DAGs its files define exist from this step on."""
    if st.topology.dag_sync not in ("git", "bundle"):
        return [("", "needs a git server: set topology.dag_sync to git or bundle")]
    for src in step.files.values():
        if src.endswith(".py") and Path(src).is_file():
            dags.update(dagscan.file_ids(Path(src)))
    return []


def _unknown(what: str, name: str, known: set[str]) -> str:
    return f"unknown {what} {name!r} at this step; known: {', '.join(sorted(known)) or 'none'}"


def _trigger(step: Trigger, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    out = []
    if step.name in st.runs:
        out.append(("name", f"run name {step.name!r} is used twice"))
    if step.dag not in dags:
        out.append(("dag", f"unknown DAG {step.dag!r}; DAGs: {', '.join(sorted(dags))}"))
    elif step.dag == HYBRID_DAG and st.topology.dags is None and st.topology.executor != HYBRID:
        why = "its file defines it only where both executors are configured"
        out.append(("dag", f"{HYBRID_DAG}: {why} (topology executor: {HYBRID!r})"))
    st.runs.add(step.name)
    return out


def _fault(step: Fault, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    out = []
    if step.name in st.faults:
        out.append(("name", f"fault name {step.name!r} is used twice"))
    st.faults.add(step.name)
    if step.sends_term():
        st.signalling.add(step.name)
    out += _backend_fault(step, st) or _fault_target(step, st)
    peer = step.params().get("peer")
    if peer is not None and peer not in st.nodes:
        out.append(("peer", _unknown("node", peer, st.nodes)))
    out += _kerberos_fault(step, st)
    out += _k8s_node_fault(step, st)
    out += _when(step, st)
    if step.kind == "remove":
        st.nodes.discard(step.target)
        st.removed[step.name] = step.target
    return out


def _when(step: Fault, st: _State) -> list[tuple[str, str]]:
    """A condition names a run triggered before it, or a node there at this step."""
    when = step.when
    if when is None:
        return []
    if when.task and when.task.run not in st.runs:
        return [("when.task.run", _unknown("run", when.task.run, st.runs))]
    if when.log and when.log.node not in st.nodes:
        return [("when.log.node", _unknown("node", when.log.node, st.nodes))]
    if when.probe and (refused := upgrade_rules.no_health_server(when.probe.probe, st)):
        return [("when.probe.probe", refused[0][1])]
    if when.schema_ and when.schema_.left != st.version:
        return [("when.schema.left", f"the cluster runs {st.version} at this step: a "
                 f"migration leaves {st.version}'s head, not {when.schema_.left}'s")]  # fmt: skip
    if when.schema_ and step.target == "migrate" and step.kind not in MIGRATOR_FAULTS:
        return [("kind", f"the migrator takes {' or '.join(MIGRATOR_FAULTS)} faults (a one-shot "
                 "node: nothing restarts or re-creates it; a frozen one would hold the step "
                 "to its end)")]  # fmt: skip
    target = when.probe.target if when.probe else None
    if target is not None and target not in st.nodes:
        return [("when.probe.target", _unknown("node", target, st.nodes))]
    return []


def _backend_fault(step: Fault, st: _State) -> list[tuple[str, str]]:
    """A kind the backend does not run (``FaultSpec.backends``, ``BackendLimits.faults_only``)."""
    if step.spec.backends and st.topology.backend not in step.spec.backends:
        needs = " or ".join(step.spec.backends)
        return [("kind", f"a {step.kind} fault needs `topology: {{backend: {needs}}}`")]
    refused = st.topology.limits.refuses_fault(step.kind)
    return [("kind", refused)] if refused else []


def _fault_target(step: Fault, st: _State) -> list[tuple[str, str]]:
    """A pod role (pod_delete), the node a task ran on, a link (or a glob of links), a node."""
    if step.spec.targets == "pod":
        return _pod_target(step, st)
    if step.target.startswith(HOST_OF):
        return _host_of_run(step, st)
    if step.spec.targets == "database":
        if step.target != "postgres":
            return [("target", f"a {step.kind} fault targets the metadata database: postgres")]
    elif step.spec.targets == "link":
        if not fnmatch.filter(st.links, step.target):
            return [("target", f"no link {step.target!r}; links: {', '.join(sorted(st.links))}")]
    elif step.target == "migrate" and step.when is not None and step.when.schema_ is not None:
        return []  # an upgrade step's migrator, there once the schema moves
    elif step.target not in st.nodes:
        hint = " (on Kubernetes the Airflow roles are pods: kind pod_delete)" * (
            step.target in st.topology.pods
        )
        return [("target", _unknown("node", step.target, st.nodes) + hint)]
    elif step.spec.targets == "dag_holder" and st.topology.dag_sync == "bundle":
        return [("target", f"with dag_sync: bundle no node holds DAG files ({step.kind})")]
    elif step.spec.targets == "dag_holder" and st.topology.dag_sync == "git":
        return [
            (
                "kind",
                f"with dag_sync: git the node's next pull undoes a {step.kind}: hang its "
                "sync (process: dag-sync) and push_dags instead",
            )
        ]
    elif step.target == GIT_SERVER and step.spec.recreates_node:
        return [
            (
                "kind",
                f"a {step.kind} makes {GIT_SERVER} anew, from the DAGs as booted (every "
                "push lost): stop, kill or hang it",
            )
        ]
    elif step.spec.targets == "dag_holder" and not holds_dags(step.target, st.topology.local):
        holders = ", ".join(sorted(n for n in st.nodes if holds_dags(n, st.topology.local)))
        return [("target", f"a {step.kind} fault targets a node holding DAG files: {holders}")]
    elif step.spec.targets == "airflow_node" and step.target in st.not_airflow | st.sidecars:
        airflow = ", ".join(sorted(st.nodes - st.not_airflow - st.sidecars))
        return [("target", f"a {step.kind} fault targets a node running Airflow: {airflow}")]
    return []


def _pod_target(step: Fault, st: _State) -> list[tuple[str, str]]:
    """A pod role, or (``host_of:``) the Celery worker pod a task ran in."""
    if not step.target.startswith(HOST_OF):
        if step.target not in st.topology.pods:
            return [("target", _unknown("pod role", step.target, set(st.topology.pods)))]
        if step.kind == "container_kill":
            return k8s_rules.container_errors(step.target, step.container, st.topology)
        return []
    if step.kind == "container_kill":
        return [("target", f"{step.kind} names a role (e.g. worker-1), not {step.target!r}")]
    if not st.topology.celery:
        why = "a task pod is no Deployment's: kill its node (kind kill, target host_of:...)"
        return [("target", f"{step.kind} of {step.target}: {why}")]
    return _host_of_run(step, st)


def _host_of_run(step: Fault, st: _State) -> list[tuple[str, str]]:
    """``host_of:RUN.TASK`` names a run triggered before it."""
    run = step.target[len(HOST_OF) :].partition(".")[0]
    if run not in st.runs:
        return [("target", _unknown("run", run, st.runs) + f" (in {step.target!r})")]
    return []


def _k8s_node_fault(step: Fault, st: _State) -> list[tuple[str, str]]:
    """Never made anew: the control plane's node (its CA, etcd), a container pods reach by IP."""
    if step.spec.recreates_node and step.target == K8S_NODE:
        return [("target", f"{K8S_NODE} holds the cluster's CA and etcd: kill, stop or hang it")]
    if st.topology.kubernetes and step.spec.recreates_node:
        return k8s_rules.address_kept(step.kind, step.target) + _named_processes(step, st)
    return _named_processes(step, st)


def _named_processes(step: Fault, st: _State) -> list[tuple[str, str]]:
    """``process`` names an Airflow process of the target's role (a Docker node) or a program
    of a Kubernetes node (the control plane's only on ``k8s-node``); ``cmdline`` any node."""
    process = step.params().get("process")
    if not process:
        return []
    if process in AIRFLOW_PROCESSES:
        return _airflow_process(step, st, process)
    if not step.target.startswith(K8S_NODE):
        return [("process", f"{process!r} runs in a Kubernetes node ({K8S_NODE}...)")]
    if step.target != K8S_NODE and process not in K8S_NODE_PROCESSES:
        on = ", ".join(K8S_NODE_PROCESSES)
        return [("process", f"{step.target} runs only {on}; the control plane is on {K8S_NODE}")]
    return []


def _airflow_process(step: Fault, st: _State, process: str) -> list[tuple[str, str]]:
    roles = AIRFLOW_PROCESSES[process].roles
    if st.topology.backend != "docker":
        return [("process", f"{process!r} is found in Docker nodes; on Kubernetes use pod_delete")]
    if AIRFLOW_PROCESSES[process].git_sync and st.topology.dag_sync != "git":
        return [("process", f"{process!r} runs only with topology dag_sync: git")]
    if AIRFLOW_PROCESSES[process].git_sync and step.kind != "hang":
        return [
            (
                "kind",
                f"a {step.kind} of {process!r} never comes back until the node starts "
                "again; hang it (the heal resumes it)",
            )
        ]
    local, node = st.topology.local, step.target
    if node.startswith(HOST_OF):  # a task's node: a worker, or (LocalExecutor) the scheduler
        node = "scheduler" if local else "worker-1"
    if runs_on(process, node, local):
        return []
    where = ", ".join(f"{r} nodes" for r in roles)
    return [("process", f"{process!r} runs in {where}, not in {step.target!r}")]


def _kerberos_fault(step: Fault, st: _State) -> list[tuple[str, str]]:
    """The Kerberos kinds (the registry's ``needs_kerberos``) need the Kerberos pieces and a
    target they apply to (its ``targets``); Airflow options (``config``) only apply to a node
    that runs Airflow."""
    if step.spec.needs_kerberos and not st.topology.kerberos:
        return [("kind", f"a {step.kind} fault needs `topology: {{kerberos: true}}`")]
    if step.spec.targets == "keytab_holder" and step.target not in (PG_KRB, *st.sidecars):
        holders = ", ".join([PG_KRB, *sorted(st.sidecars)])
        return [("target", f"{step.kind} targets the node holding a keytab: {holders}")]
    if step.spec.targets == "skewable" and step.target not in SKEWABLE:
        return [
            (
                "target",
                f"{step.kind} applies to {', '.join(SKEWABLE)} (a services-image node that a "
                f"fresh container re-creates whole), not {step.target!r}",
            )
        ]
    if step.params().get("config") and step.target in st.not_airflow:
        return [("config", f"{step.target!r} does not run Airflow; 'config' sets Airflow options")]
    if step.params().get("secrets") and step.target in st.not_airflow | st.sidecars:
        return [
            (
                "secrets",
                f"{step.target!r} holds no Airflow secret; 'secrets' is for a node "
                "running an Airflow component",
            )
        ]
    return []


def _add_node(step: AddNode, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    if step.node in st.nodes:
        return [("node", f"node {step.node!r} already exists")]
    addable = _ADDABLE_2 if major(st.version) == 2 else _ADDABLE
    if not addable.match(step.node):
        return [("node", f"cannot add {step.node!r}; use e.g. scheduler-2, triggerer-2, worker-3")]
    st.nodes.add(step.node)
    st.added.add(step.node)
    return []


def _expect(step: Expect, st: _State, dags: set[str]) -> list[tuple[str, str]]:
    p, out = step.model_extra or {}, []
    if "run" in p and p["run"] not in st.runs:
        out.append(("run", _unknown("run", p["run"], st.runs)))
    for run in p.get("runs") or []:
        if run not in st.runs:
            out.append(("runs", _unknown("run", run, st.runs)))
    for field in ("after", "fault"):
        if isinstance(p.get(field), str) and p[field] not in st.faults:
            out.append((field, _unknown("fault", p[field], st.faults)))
    if step.check == "drained_cleanly" and p.get("fault") in st.faults - st.signalling:
        out.append(
            (
                "fault",
                f"{p['fault']!r} sends no TERM: use a stop, a kill with signal, "
                "or a pod_delete with grace",
            )
        )
    out += k8s_rules.deployment_as_host(step.check, p, st.topology.pods)
    probe = p.get("probe", "scheduler_health" if step.check == "probe_answered" else None)
    out += upgrade_rules.no_health_server(probe, st)
    nodes = ("node",) if step.check in ("process_running", *POD_READERS) else ()
    for field in ("by", "target", *nodes):
        pods = set(st.topology.pods) if step.check in POD_READERS and field == "node" else set()
        known = st.nodes | pods  # a role's pod on Kubernetes wrote its output too
        if p.get(field) is not None and p[field] not in known:
            out.append((field, _unknown("node", p[field], known)))
    return out


# no hang: a frozen migrator is noticed only when the migration's own bound runs out, and the
# recovery removes it (a hang's heal has no container to thaw)
MIGRATOR_FAULTS = ("kill", "stop")  # what a one-shot migrator can take as a node
# The checks whose ``node`` may be a role's pod on Kubernetes: what it wrote, where it was stuck.
POD_READERS = ("logged", "stack_shows")
# What each step kind is checked against across steps (by ``action``); each reads and updates
# the scenario's state at that step (runs, faults, nodes, backups, workloads so far).
VALIDATORS: dict[str, Callable[[Any, _State, set[str]], list[tuple[str, str]]]] = {
    "trigger": _trigger,
    "wait": _wait,
    "fault": _fault,
    "heal": _heal,
    "add_node": _add_node,
    "expect": _expect,
    "upgrade": upgrade_rules.check,
    "migrate": _migrate,
    "wait_node": _wait_node,
    "backup": _backup,
    "restore": _restore,
    "seed_history": upgrade_rules.seed_history,
    "workload": _workload,
    "remove_node": _remove_node,
    "stop_workload": _stop_workload,
    "push_dags": _push_dags,
}
