"""Carrying out an upgrade plan (:mod:`testbed.upgrade.plan`) on a running cluster, step by
step, each one recorded as an ``upgrade`` event with its timing: the plan ``testbed
upgrade-plan`` prints is exactly what a drill does.

Actions: ``term`` (one SIGTERM: Celery's warm shutdown), ``wait_idle`` (the worker finished its
tasks and exited), ``stop``, ``kill`` (SIGKILL, the task instances it ran recorded first),
``pause_dags``/``wait_tasks_done``/``unpause_dags`` and ``clear_killed`` (the LocalExecutor's
procedures, :mod:`testbed.upgrade.local`),
``replace``/``start`` (the node's container created again from the new version's image),
``wait_ready``, ``pg_dump``/``pg_restore`` (the metadata DB, inside the
Postgres node), ``db_migrate``/``db_downgrade`` (a one-shot migrator node), the Airflow 2 -> 3
ones (:mod:`testbed.upgrade.major_actions`),
``check_migrations`` and the checks of heads and versions (observations for the checks to
judge). Every wait is bounded and stops when the scenario is cancelled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import docker.errors
import requests

from testbed import runtime
from testbed.core import bounded
from testbed.core.errors import UpgradeFailed
from testbed.services import airflow
from testbed.upgrade import k8s_actions, local, major_actions
from testbed.upgrade import observe as uobs
from testbed.upgrade.plan import BACKUP_NAME, Plan, Step
from testbed.upgrade.plan_docker import (
    HEALTHY_INTERVAL,
    HEALTHY_THRESHOLD,
    HEALTHY_TIMEOUT,
    STOP_GRACE,
)

if TYPE_CHECKING:
    from testbed.cluster import Cluster

PG = "/usr/lib/postgresql/bin"
HEALTH_PATHS = (airflow.HEALTH_PATH, airflow.EXECUTION_WARMUP)  # the api-server's two apps
BACKUP_DIR = "/tmp"  # inside the Postgres node, writable by the postgres user
# A node's planned window: from its first roll action to its readiness (its flips expected).
ROLL_ACTIONS = frozenset(
    {"term", "wait_idle", "wait_exit", "stop", "kill", "replace", "start", "wait_ready"}
    | {"roll_pod", "scale_down", "scale_zero", "wait_gone", "start_pod", "wait_pod"}  # on k8s
)
READY_ACTIONS = frozenset({"wait_ready", "wait_healthy", "roll_pod", "wait_pod"})
# a node taken down: the downtime window opens (on Kubernetes, a Deployment scaled to 0)
DOWN_ACTIONS = frozenset({"term", "stop", "kill", "scale_down", "scale_zero"})
DB_ACTIONS = ("db_migrate", "db_downgrade", "migration_job")  # the last: Kubernetes' Job


@dataclass
class Procedure:
    """One plan being carried out on ``cluster`` towards ``version``."""

    cluster: Cluster
    version: str
    cancelled: threading.Event
    drain_timeout: float = 180.0
    ready_timeout: float = 180.0
    # a migration's bound: the upgrade step's own (96 revisions from 2.x, a long history)
    migrate_timeout: float = 300.0
    before_signal: Callable[[], object] = lambda: None  # e.g. read task instances first
    only: set[str] | None = None  # carry out steps of these nodes only (a partial roll)
    # a node restarted on purpose, from its first roll action to its readiness (e.g. the hang
    # diagnostics' AutoDiagnose.planned: its flips meanwhile are expected)
    planned: Callable[[str], AbstractContextManager] = lambda node: nullcontext()
    timings: dict[str, float] = field(default_factory=dict)
    plan: Plan | None = None  # the plan being carried out (set by run)
    paused: list[str] = field(default_factory=list)  # the DAGs the drain paused
    killed: list[dict] = field(default_factory=list)  # the task instances live at a kill
    failed: Step | None = None  # the step whose action failed, if one did
    rows_before: dict[str, int] = field(default_factory=dict)  # a 2 -> 3 backup's row counts
    termed_at: dict[str, float] = field(default_factory=dict)  # monotonic time of each TERM
    down_since: float | None = None  # when the downtime window opened (a node taken down)
    up_at: float | None = None  # when the last node came back (its readiness)
    clean_before: float | None = None  # 2 -> 3: `airflow db clean` of rows older than this (s)

    def run(self, plan: Plan) -> None:
        self.plan = plan
        windows: dict[str, ExitStack] = {}  # node -> its planned window, open
        try:
            for i, step in enumerate(plan.steps):
                if self._skips(step):
                    continue
                if self.cancelled.is_set():
                    raise UpgradeFailed(f"cancelled before {step.action} {step.node or ''}")
                self._open_window(windows, step)
                if step.action in DOWN_ACTIONS and self.down_since is None and not plan.live:
                    self.down_since = time.monotonic()
                self._one(i, step)
                if step.action in READY_ACTIONS:
                    self.up_at = time.monotonic()
                if step.action in READY_ACTIONS and step.node in windows:
                    windows.pop(step.node).close()
            self.record_window("done")
        finally:
            for window in windows.values():
                window.close()
            if self.paused:  # a drain that never reached its unpause leaves no DAG paused
                self._unpause_left()

    def record_window(self, outcome: str) -> None:
        """The downtime window (from the first node taken down to the last one ready; a
        recovery's: to now, its nodes ready) and the migration's time, as an
        ``upgrade_window`` event; a live roll has none."""
        if self.down_since is None:
            return
        migrated = [t for k, t in self.timings.items() if k.split(":")[1] in DB_ACTIONS]
        up = self.up_at if outcome == "done" and self.up_at else time.monotonic()
        self.cluster.history.append(
            "upgrade_window", outcome=outcome,
            downtime_s=round(up - self.down_since, 3),
            migration_s=migrated[-1] if migrated else None,
        )  # fmt: skip

    def _unpause_left(self) -> None:
        """Unpause what a failed drain paused; a failure here is recorded, never raised (the
        upgrade's own error, if any, is the verdict)."""
        try:
            local.unpause_dags(self, Step("verify", "unpause_dags", None, "after a failure"))
        except Exception as exc:
            self.cluster.history.append("unpause_failed", error=f"{type(exc).__name__}: {exc}")

    def _skips(self, step: Step) -> bool:
        """A partial roll (``only``) carries out the shared steps and its own nodes' only."""
        return self.only is not None and step.node not in (None, *self.only, "postgres", "migrate")

    def _open_window(self, windows: dict[str, ExitStack], step: Step) -> None:
        if step.node and step.action in ROLL_ACTIONS and step.node not in windows:
            windows[step.node] = window = ExitStack()
            window.enter_context(self.planned(step.node))

    def _one(self, i: int, step: Step) -> None:
        h = self.cluster.history
        fields = {"index": i, "phase_of_plan": step.phase, "action": step.action, "node": step.node}
        h.append("upgrade", phase="start", detail=step.detail, **fields)
        t0 = time.monotonic()
        error = None
        try:
            ACTIONS[step.action](self, step)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            self.failed = step
            raise
        finally:
            took = round(time.monotonic() - t0, 3)
            self.timings[f"{i}:{step.action}:{step.node}"] = took
            h.append("upgrade", phase="end", seconds=took, error=error, **fields)

    # -- actions ---------------------------------------------------------------------------
    def term(self, step: Step) -> None:
        """SIGTERM to the node, unless it has exited already (a drain's TERM reads what runs
        there first: ``drained_cleanly`` judges it; a stop's does not)."""
        if _exited(self._state(step.node)):
            return
        if step.phase != "stop":
            self.before_signal()
        self.termed_at[step.node] = time.monotonic()
        self._signal(step.node, "TERM")

    def wait_idle(self, step: Step) -> None:
        """The TERMed worker finished its running tasks and exited (a warm shutdown)."""
        self._wait_state(step.node, _exited, self.drain_timeout)

    def wait_exit(self, step: Step) -> None:
        """The TERMed node exited within :data:`STOP_GRACE` of its TERM; else it is sent SIGKILL
        (recorded as the escalation), as ``docker stop`` does when its timeout runs out."""
        node = step.node
        left = self.termed_at.get(node, time.monotonic()) + STOP_GRACE - time.monotonic()
        try:
            self._wait_state(node, _exited, max(0.0, left))
        except UpgradeFailed:
            if self.cancelled.is_set():
                raise
            self._signal(node, "KILL", escalation=True)
            self._wait_state(node, _exited, 15)

    def _state(self, node: str) -> str:
        c = self.cluster.container(node)
        return bounded.call(lambda: runtime.state(c), 10, f"container state of {node}")

    def _signal(self, node: str, signal: str, **fields: object) -> None:
        """Send and record ``signal``; a node that exits meanwhile (Docker: 409, "is not
        running") is left as it is."""
        try:
            uobs.send_signal(self.cluster, node, signal, **fields)
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise

    def stop(self, step: Step) -> None:
        c = self.cluster.container(step.node)
        bounded.call(lambda: c.stop(timeout=STOP_GRACE), STOP_GRACE + 15, f"stop {step.node}")

    def replace(self, step: Step) -> None:
        """The node's container created anew from the target version's image, and started."""
        major_actions.switch_line(self)  # the first 3.x role of a 2 -> 3 upgrade
        node = step.node
        if node in self.cluster.nodes:
            self.stop(step)  # graceful (SIGTERM, then the grace): a roll never SIGKILLs a node
            self.cluster.remove_node(node)
        self.cluster.set_version(node, self.version)
        self.cluster.start_node(node)

    def wait_ready(self, step: Step) -> None:
        self.cluster.wait_node(step.node, self.ready_timeout)

    def wait_healthy(self, step: Step) -> None:
        """The api-server answers :data:`HEALTHY_THRESHOLD` health checks in a row, each within
        :data:`HEALTHY_TIMEOUT` (a load balancer's healthy threshold); a slow or failed one
        starts the count again."""
        deadline, in_a_row = time.monotonic() + self.ready_timeout, 0
        while True:
            in_a_row = in_a_row + 1 if self._health_ok(step.node) else 0
            if in_a_row >= HEALTHY_THRESHOLD:
                return
            if time.monotonic() > deadline or self.cancelled.is_set():
                raise UpgradeFailed(
                    f"{step.node} did not answer {HEALTHY_THRESHOLD} health checks in a row "
                    f"within {HEALTHY_TIMEOUT:g} s each in {self.ready_timeout:g}s"
                )
            self.cancelled.wait(HEALTHY_INTERVAL)

    def _health_ok(self, node: str) -> bool:
        """Both of the api-server's apps answer in time: the public API's health, and the
        Execution API's (the workers' traffic). Its first request, which builds the Execution
        API's routes, was already made by the node's readiness (``airflow.api_ready``)."""
        try:
            base = airflow.api_url(self.cluster, node)
            return all(_answers_within(f"{base}{path}", HEALTHY_TIMEOUT) for path in HEALTH_PATHS)
        except Exception:  # slow, refused, or the node is gone: not healthy this time
            return False

    def pg_dump(self, step: Step) -> None:
        if self._plan.kind == "major":  # what the history check counts after the upgrade
            major_actions.record_before(self)
        backup(self.cluster, BACKUP_NAME[self._plan.kind])

    def pg_restore(self, step: Step) -> None:
        restore(self.cluster, "upgrade")
        major_actions.rows_of_backup(self)  # back to 2.x: what the history check expects

    def db_migrate(self, step: Step) -> None:
        major_actions.switch_line(self)  # 2 -> 3: the migrator runs with 3.x's configuration
        self._db_command(self.version, None, f"`airflow db migrate` to {self.version}")

    def db_downgrade(self, step: Step) -> None:
        """``airflow db downgrade`` to the older head, run by the newer version's image."""
        plan = self._plan
        cmd = ["airflow", "db", "downgrade", "-r", plan.to_head, "-y"]
        self._db_command(plan.from_version, cmd, f"`airflow db downgrade -r {plan.to_head}`")

    def _db_command(self, version: str, command: list[str] | None, what: str) -> None:
        """An Airflow DB command (``airflow db migrate`` by default) as the one-shot node
        ``migrate`` on ``version``'s image; its exit code must be 0."""
        code = migrate(self.cluster, "migrate", version, self.migrate_timeout, command=command)
        if code != 0:
            raise UpgradeFailed(f"{what} exited {code}")

    @property
    def _plan(self) -> Plan:
        if self.plan is None:
            raise UpgradeFailed("no plan is being carried out")
        return self.plan

    def check_migrations(self, step: Step) -> None:
        uobs.schema(self.cluster)
        uobs.pg_locks(self.cluster)

    def heads(self, step: Step) -> None:
        from testbed.upgrade.versions import schema_info

        for version in {self.cluster.topology.airflow_version, self.version}:
            uobs.record_schema_info(self.cluster.history, schema_info(version))
        uobs.schema(self.cluster)

    def versions(self, step: Step) -> None:
        uobs.schema(self.cluster)
        for node in airflow_nodes(self.cluster):
            uobs.airflow_version(self.cluster, node)

    def _wait_state(self, node: str, ok: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            st = self._state(node)
            if ok(st):
                self.cluster.history.append("container", node=node, state=st)
                return st
            if time.monotonic() > deadline or self.cancelled.is_set():
                raise UpgradeFailed(f"{node} still {st} after {timeout:g}s")
            self.cancelled.wait(0.5)


def _exited(state: str) -> bool:
    return state.startswith("exited")


def _answers_within(url: str, seconds: float) -> bool:
    """200 within ``seconds`` all told (requests' timeout bounds each socket wait, not the
    whole answer)."""
    started = time.monotonic()
    ok = requests.get(url, timeout=seconds).status_code == 200
    return ok and time.monotonic() - started <= seconds


ACTIONS: dict[str, Callable[[Procedure, Step], None]] = {
    "term": Procedure.term,
    "wait_idle": Procedure.wait_idle,
    "wait_exit": Procedure.wait_exit,
    "stop": Procedure.stop,
    "kill": local.kill,
    "pause_dags": local.pause_dags,
    "wait_tasks_done": local.wait_tasks_done,
    "unpause_dags": local.unpause_dags,
    "clear_killed": local.clear_killed,
    "replace": Procedure.replace,
    "start": Procedure.replace,
    "wait_ready": Procedure.wait_ready,
    "wait_healthy": Procedure.wait_healthy,
    "pg_dump": Procedure.pg_dump,
    "pg_restore": Procedure.pg_restore,
    "db_migrate": Procedure.db_migrate,
    "db_downgrade": Procedure.db_downgrade,
    "check_migrations": Procedure.check_migrations,
    "heads_equal": Procedure.heads,
    "heads_differ": Procedure.heads,
    "versions": Procedure.versions,
    **k8s_actions.ACTIONS,
    **major_actions.ACTIONS,
}


UPGRADED_ROLES = {
    "api-server", "webserver", "scheduler", "dag-processor", "triggerer", "celery-worker"
}  # fmt: skip


def airflow_nodes(cluster: Cluster) -> list[str]:
    """The nodes an upgrade rolls (not the infrastructure, migrators or Kerberos sidecars); on
    Kubernetes, the Deployments of the Airflow roles."""
    from testbed.services.airflow import role_of

    return [n for n in (*cluster.nodes, *cluster.topology.pods) if role_of(n) in UPGRADED_ROLES]


# -- the database: backup, restore, migrate ------------------------------------------------------
def _pg(cluster: Cluster, cmd: list[str], what: str, timeout: float = 120) -> str:
    c = cluster.container("postgres")
    r = runtime.exec_run(c, ["runuser", "-u", "postgres", "--", *cmd], timeout=timeout)
    if r.exit_code != 0:
        raise UpgradeFailed(f"{what} exited {r.exit_code}: {r.output.strip()[-300:]}")
    return r.output


def backup(cluster: Cluster, name: str) -> None:
    """``pg_dump`` of the metadata DB into the Postgres node (custom format)."""
    path = f"{BACKUP_DIR}/backup-{name}.dump"
    t0 = time.monotonic()
    _pg(cluster, [f"{PG}/pg_dump", "-h", "/tmp", "-U", "postgres", "-Fc", "-f", path, "airflow"],
        "pg_dump")  # fmt: skip
    cluster.history.append("backup", name=name, path=path, seconds=round(time.monotonic() - t0, 3))


def has_backup(cluster: Cluster, name: str) -> bool:
    c = cluster.container("postgres")
    r = runtime.exec_run(c, ["test", "-s", f"{BACKUP_DIR}/backup-{name}.dump"], timeout=15)
    return r.exit_code == 0


def backup_head(cluster: Cluster, name: str) -> str | None:
    """The schema revision backup ``name`` holds (its ``alembic_version`` row), read from the
    dump; None when it has none or cannot be read."""
    cmd = [f"{PG}/pg_restore", "--data-only", "-t", "alembic_version", "-f", "-",
           f"{BACKUP_DIR}/backup-{name}.dump"]  # fmt: skip
    try:
        out = _pg(cluster, cmd, "pg_restore of alembic_version", timeout=30)
    except UpgradeFailed:
        return None
    rows = out.split("FROM stdin;", 1)[-1].split("\\.", 1)[0].split()
    return rows[0] if len(rows) == 1 else None


def restore(cluster: Cluster, name: str) -> None:
    """Replace the metadata DB with backup ``name`` (every Airflow node must be stopped)."""
    path = f"{BACKUP_DIR}/backup-{name}.dump"
    t0 = time.monotonic()
    psql = [f"{PG}/psql", "-h", "/tmp", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c"]
    _pg(cluster, [*psql, "DROP DATABASE IF EXISTS airflow WITH (FORCE)"], "drop database")
    _pg(cluster, [*psql, "CREATE DATABASE airflow OWNER airflow"], "create database")
    _pg(cluster, [f"{PG}/pg_restore", "-h", "/tmp", "-U", "postgres", "-d", "airflow",
                  "--no-owner", "--role=airflow", path], "pg_restore")  # fmt: skip
    cluster.history.append("restore", name=name, path=path, seconds=round(time.monotonic() - t0, 3))


def start_migrate(
    cluster: Cluster, node: str, version: str, command: list[str] | None = None
) -> None:
    """Start ``airflow db migrate`` of ``version`` (or ``command``, e.g. ``airflow db
    downgrade``) as the one-shot node ``node``."""
    cluster.set_version(node, version)
    if node in cluster.nodes:
        cluster.remove_node(node)
    cluster.start_spec(airflow.migrate_spec(cluster, node, command))
    cluster.history.append(
        "migrate", phase="start", node=node, version=version, command=" ".join(command or [])
    )


def wait_migrate(cluster: Cluster, node: str, timeout: float) -> int:
    """Wait until the migrator exits; record its exit code, time and last lines; return it."""
    c = cluster.container(node)
    t0 = time.monotonic()
    try:
        code = bounded.call(lambda: c.wait()["StatusCode"], timeout, f"{node}: airflow db migrate")
    except bounded.NoAnswer:
        code = None
    tail = runtime.logs_tail(c, 30)
    cluster.history.append(
        "migrate", phase="end", node=node, exit_code=code,
        seconds=round(time.monotonic() - t0, 3), tail=tail[-15:],
    )  # fmt: skip
    return -1 if code is None else code


def migrate(
    cluster: Cluster, node: str, version: str, timeout: float, command: list[str] | None = None
) -> int:
    start_migrate(cluster, node, version, command)
    return wait_migrate(cluster, node, timeout)
