"""The scenario steps of an upgrade drill, for the engine's Runner: ``upgrade`` (the
guide's procedure, :mod:`testbed.upgrade.procedure`), ``migrate`` (a one-shot migrator node),
``wait_node``, ``backup``/``restore`` of the metadata DB, and the background ``workload``.

Each runs inside the runner's step scope (recorded, bounded by the main thread like any step).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from testbed import runtime
from testbed.core import bounded
from testbed.core.errors import TestbedError, UpgradeFailed
from testbed.upgrade import history_seed, procedure
from testbed.upgrade.plan import BACKUP_NAME, Local, Rollback, plan_between
from testbed.upgrade.plan_major import is_major_back as major_back
from testbed.upgrade.recover import recover
from testbed.upgrade.versions import schema_info
from testbed.workload import Workload

if TYPE_CHECKING:
    from testbed.api import AirflowAPI
    from testbed.cluster import Cluster


class UpgradeStepFailed(TestbedError):
    """An upgrade step could not be carried out as asked."""


def _refused(proc: procedure.Procedure, plan, check: str) -> None:
    """Carry out a plan the drill expects ``check`` (one of its steps' actions) to refuse: the
    refusal is recorded and the step holds; the upgrade going through, or failing at another
    step, fails it. A migration that failed (``db_migrate``) is recovered from: the backup
    restored and the old version started again (:mod:`testbed.upgrade.recover`)."""
    try:
        proc.run(plan)
    except UpgradeFailed as exc:
        if proc.failed is None or proc.failed.action != check:
            raise
        proc.cluster.history.append("upgrade_refused", action=check, error=str(exc)[:500])
        if check == "db_migrate":  # half-migrated: the backup is the way back
            recover(proc)
        return
    raise UpgradeStepFailed(
        f"the upgrade was expected to be refused by its {check}; it went through"
    )


class Upgrades:
    """The upgrade steps of one scenario, held by the engine's :class:`~testbed.engine.Runner`
    (whose step verbs of the same names forward here): each runs in the runner's step scope
    (``step``) against its cluster and history."""

    def __init__(
        self,
        cluster: Cluster,
        cancelled: threading.Event,
        step: Callable[..., AbstractContextManager],
        *,
        api: Callable[[], AirflowAPI],
        runs: Callable[[], dict[str, tuple[str, str]]],
        workloads: dict[str, Workload],
        observe_runs: Callable[[], None],
        unsettle: Callable[[], None],
        planned: Callable[[str], AbstractContextManager],
    ) -> None:
        """``step(action, name, **fields)``: the runner's step scope; ``api`` and ``runs``: its
        API client and triggered runs now; ``observe_runs``: reads every unsettled run's task
        instances; ``unsettle``: has every run read again (after a restore); ``planned(node)``:
        the window a node is restarted on purpose in (see Procedure.planned)."""
        self.cluster, self.history, self.cancelled = cluster, cluster.history, cancelled
        self._step, self._api, self._runs, self.workloads = step, api, runs, workloads
        self._observe_runs, self.unsettle, self._planned = observe_runs, unsettle, planned

    def upgrade(
        self,
        to: str,
        nodes: list[str] | None = None,
        strategy: str = "auto",
        drain_timeout: float = 180.0,
        timeout: float = 900.0,
        rollback: Rollback = "restore",
        local: Local | None = None,
        refused_by: str | None = None,
        db_clean: float | None = None,
    ) -> None:
        if self.cluster.topology.local:  # the LocalExecutor: its scheduler's tasks drained
            local = local or "drain"
        with self._step(
            "upgrade", to, nodes=nodes, strategy=strategy, rollback=rollback, local=local
        ):
            everyone = procedure.airflow_nodes(self.cluster)
            picked = nodes or everyone
            start = self.cluster.version_of(picked[0])
            on_pods = bool(self.cluster.topology.pods)  # Kubernetes: Deployments rolled
            plan, _, _ = plan_between(
                start, to, schema_info, nodes=everyone, rollback=rollback, local=local,
                kubernetes=on_pods,
            )  # fmt: skip
            self.history.append("upgrade_plan", plan=plan.to_json())
            if on_pods and plan.kind != "none" and not plan.steps:
                raise UpgradeStepFailed(f"{start} -> {to}: {plan.summary}; {plan.reasons[-1]}")
            if on_pods and plan.steps:  # its Secrets name the new image before any pod rolls
                self.cluster.reusable = False
            if strategy == "rolling" and not plan.live:
                raise UpgradeStepFailed(f"{start} -> {to}: {plan.summary}")
            if nodes and not plan.live:
                raise UpgradeStepFailed(f"{start} -> {to} needs every node: {plan.summary}")
            restores = plan.kind == "rollback" and rollback == "restore"
            if restores and not procedure.has_backup(self.cluster, BACKUP_NAME["downtime"]):
                raise UpgradeStepFailed(
                    f"{start} -> {to}: no backup from before an upgrade to restore (an "
                    "`upgrade` step across a schema change takes one); use `rollback: downgrade`"
                )
            if restores:  # the one backup name: the last upgrade across a schema change's
                self._backup_is_from(plan.to_head, start, to)
            if refused_by and all(s.action != refused_by for s in plan.steps):
                raise UpgradeStepFailed(
                    f"{start} -> {to}: expected to be refused by its {refused_by}, but its plan "
                    f"({plan.kind}) has no {refused_by} step: {plan.summary}"
                )
            if (plan.kind == "major" or major_back(start, to)) and local:
                raise UpgradeStepFailed(
                    f"{start} -> {to}: crossing Airflow 2 and 3 on a LocalExecutor cluster is "
                    "not built yet (the Celery one is)"
                )
            if plan.kind in ("downtime", "rollback", "major"):
                self.cluster.reusable = False  # the schema changed: no reset brings it back
            proc = procedure.Procedure(
                self.cluster,
                to,
                self.cancelled,
                drain_timeout=drain_timeout,
                ready_timeout=min(180.0, timeout),
                # a failed migration's recovery needs time of its own within the step's
                migrate_timeout=timeout if refused_by != "db_migrate" else timeout / 2,
                before_signal=self._observe_runs,
                only=set(nodes) if nodes else None,
                planned=self._planned,
                clean_before=db_clean,
            )
            try:
                if refused_by is None:
                    proc.run(plan)
                else:
                    _refused(proc, plan, refused_by)
            finally:
                restored = refused_by == "db_migrate"  # a failed migration's recovery
                if restored or any(s.action in ("pg_restore", "clear_killed") for s in plan.steps):
                    # a restored database may hold older task states; a cleared task runs again
                    self.unsettle()

    def _backup_is_from(self, head: str, start: str, to: str) -> None:
        """A rollback by restore brings back the backup the last upgrade across a schema change
        took (one name: a later one overwrites it); it must hold ``to``'s schema, or ``to``
        would start on a database of another version (e.g. 2 -> 3.3.2 -> 3.1.8)."""
        held = procedure.backup_head(self.cluster, BACKUP_NAME["major"])
        if held != head:
            raise UpgradeStepFailed(
                f"{start} -> {to}: the backup {BACKUP_NAME['major']!r} holds schema {held}, not "
                f"{to}'s head {head}: restoring it would not bring {to} back (it is from the "
                "last upgrade across a schema change)"
            )

    def migrate(self, name: str, to: str, wait: bool = True, timeout: float = 300) -> int:
        with self._step("migrate", name, to=to, wait=wait):
            self.cluster.reusable = False
            procedure.start_migrate(self.cluster, name, to)
            if not wait:
                return 0
            return procedure.wait_migrate(self.cluster, name, timeout)

    def wait_node(self, node: str, state: str, timeout: float) -> None:
        with self._step("wait_node", node, state=state, timeout=timeout):
            deadline = time.monotonic() + timeout
            c = self.cluster.container(node)
            if state == "ready":
                self.cluster.wait_node(node, timeout)
                return
            seen = None
            while time.monotonic() < deadline and not self.cancelled.is_set():
                seen = bounded.call(lambda: runtime.state(c), 10, f"container state of {node}")
                if seen.startswith(state):
                    self.history.append("container", node=node, state=seen)
                    if node.startswith("migrate") and state == "exited":
                        procedure.wait_migrate(self.cluster, node, 5)  # its record: code, tail
                    return
                self.cancelled.wait(0.5)
            raise UpgradeStepFailed(f"node {node} is {seen}, not {state}, after {timeout:g}s")

    def backup(self, name: str) -> None:
        with self._step("backup", name):
            procedure.backup(self.cluster, name)

    def seed_history(
        self, dag: str, runs: int, tasks: int, age: float, timeout: float = 600
    ) -> None:
        with self._step("seed_history", dag, runs=runs, tasks=tasks, age=age):
            self.cluster.reusable = False
            # the transaction's deadline (the server's too) ends before the step's bound does
            history_seed.seed(self.cluster, dag, runs, tasks, age, timeout=max(10, timeout - 15))

    def restore(self, name: str) -> None:
        with self._step("restore", name):
            self.cluster.reusable = False
            procedure.restore(self.cluster, name)
            self.unsettle()

    def workload(self, name: str, dag: str, every: float, conf: dict[str, Any]) -> None:
        with self._step("workload", name, dag=dag, every=every):
            self._api().wait_for_dag(dag, timeout=60)

            def on_run(run_name: str, dag_id: str, run_id: str) -> None:
                self._runs()[run_name] = (dag_id, run_id)

            self.workloads[name] = Workload(
                name, dag, every, conf, lambda d, c: self._api().trigger(d, c), self.history.append,
                on_run,
            ).start()  # fmt: skip

    def stop_workload(self, name: str) -> None:
        with self._step("stop_workload", name):
            self.workloads.pop(name).stop()
