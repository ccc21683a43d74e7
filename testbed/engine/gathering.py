"""Gathering for checks: the on-demand probes a check needs (``CheckSpec.needs``, its ``probe``
parameter) run just before it is evaluated, beyond what the background observer records; and the
expectation's look itself (gather, evaluate, again until it holds or its window ends; recorded).

:class:`Gatherer` reads task instances afresh, then e.g. scheduler jobs, ``log`` table events,
remote task logs, the upgrade checks' schema, advisory locks, versions and node logs, and the
probes registered by name (:data:`GATHERERS`, e.g. the Kerberos ones).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pydantic import BaseModel

from testbed import observe
from testbed.autodiagnose import AutoDiagnose
from testbed.checks import CheckResult, CheckSpec, View
from testbed.cluster import Cluster
from testbed.engine.observing import finished_attempts
from testbed.logwatch import Attempt, LogWatch
from testbed.observe import logs, node_config, node_log, processes
from testbed.upgrade import observe as upgrade_observe
from testbed.upgrade import procedure
from testbed.upgrade.versions import schema_info

GATHER_MIN = 10.0  # seconds an expectation's on-demand probes may start within, at least
# What the engine runs before evaluating a check that declares one of these needs (CheckSpec)
GATHERERS = {
    **observe.GATHERERS,
    **observe.SERVICE_LOG_GATHERERS,
    **processes.GATHERERS,
    **node_log.GATHERERS,
    **node_config.GATHERERS,
    **logs.GATHERERS,
}


class Gatherer:
    """The probes of one scenario's checks (each version's schema info recorded once)."""

    def __init__(
        self,
        cluster: Cluster,
        cancelled: threading.Event,
        runs: Callable[[], dict[str, tuple[str, str]]],
        autodiag: AutoDiagnose,
        logs: LogWatch,
        observe_runs: Callable[[], None],
    ) -> None:
        """``runs``: the runner's triggered runs now; ``observe_runs``: reads the task
        instances of every run not settled yet."""
        self.cluster, self.history, self._runs = cluster, cluster.history, runs
        self.cancelled = cancelled  # set on an overrun or Ctrl-C: a judging loop stops
        self.autodiag, self.logs, self._observe_runs = autodiag, logs, observe_runs
        self._schemas_recorded: set[str] = set()

    def judge(
        self,
        spec: CheckSpec,
        params: BaseModel,
        *,
        within: float | None = None,
        during: float | None = None,
        poll: float = 1.0,
    ) -> CheckResult:
        """Gather and evaluate the check every ``poll`` s: ``within``, until it holds, fails for
        good (``CheckResult.settled``) or T passed; ``during``, over the whole window (then
        judged over it)."""
        start = time.monotonic()
        end = start + (during if during is not None else within or 0)
        last_gather = max(end, start + GATHER_MIN)  # a check "now" still gets one full look
        if during is not None:
            while time.monotonic() < end and not self.cancelled.is_set():
                self.gather(spec, params, last_gather)  # on-demand probes: the whole window
                self.cancelled.wait(min(poll, max(0.0, end - time.monotonic())))
            return spec.evaluate(self.history.snapshot(), params, since=start)
        while True:
            self.gather(spec, params, last_gather)
            result = spec.evaluate(self.history.snapshot(), params)
            if result.ok or result.settled or time.monotonic() >= end or self.cancelled.is_set():
                return result
            self.cancelled.wait(poll)

    def record(
        self,
        name: str,
        spec: CheckSpec,
        params: BaseModel,
        finding: bool,
        result: CheckResult | None = None,
    ) -> CheckResult:
        """Evaluate (unless given) and record one expectation."""
        if result is None:
            result = spec.evaluate(self.history.snapshot(), params)
        self.history.append(
            "expectation",
            name=name,
            check=spec.name,
            ok=result.ok,
            finding=finding,
            settled=result.settled,
            detail=result.detail,
            measurements=result.measurements,
            params=params.model_dump(),
        )
        return result

    def gather(self, spec: CheckSpec, params: BaseModel, deadline: float | None = None) -> None:
        """Run the probes a check needs beyond the observer's (see ``CheckSpec.needs``); task
        instances are read afresh first, so a check never judges a stale row. No new probe
        starts after ``deadline`` (monotonic), and each probe is bounded on its own."""
        self._observe_runs()
        probe, target = getattr(params, "probe", None), getattr(params, "target", None)
        if probe == "jobs_check":  # an exec: only when asked for
            self.autodiag.saw(observe.jobs_check(self.cluster, target or "scheduler"))
        elif (
            probe == "scheduler_health"
            and target not in (None, "scheduler")
            and self.cluster.topology.scheduler_health_served
        ):
            observe.scheduler_health(self.cluster, target)  # e.g. a replacement scheduler-2
        if "scheduler_job" in spec.needs:
            observe.scheduler_jobs(self.cluster)
        self._gather_upgrade(spec, params)
        if "log_event" in spec.needs:
            for dag_id, run_id in list(self._runs().values()):
                observe.log_events(self.cluster, dag_id, run_id, "")
        if "remote_log" in spec.needs:  # past the deadline the check judges what was seen
            self.logs.observe(self._attempts(params), deadline)
        for need in spec.needs:  # probes registered by name (e.g. the Kerberos ones)
            if need in GATHERERS:
                GATHERERS[need](self.cluster, dict(self._runs()), params)

    def _gather_upgrade(self, spec: CheckSpec, params: BaseModel) -> None:
        """The probes of the upgrade checks: schema, advisory locks, versions, a node's log."""
        if "schema" in spec.needs:
            for version in {
                getattr(params, "version", None),
                getattr(params, "from_version", None),
            }:
                self._schema_info(version)
            upgrade_observe.schema(self.cluster)
        if "pg_locks" in spec.needs:
            upgrade_observe.pg_locks(self.cluster)
        node = getattr(params, "node", None)
        if spec.name == "versions_in_force":
            picked = getattr(params, "nodes", None)
            for n in picked or procedure.airflow_nodes(self.cluster):
                upgrade_observe.airflow_version(self.cluster, n)
        if spec.name in ("component_refused", "exited") and node in self.cluster.nodes:
            upgrade_observe.container_log(self.cluster, node, lines=400)

    def _schema_info(self, version: str | None) -> None:
        """Record what ``version``'s own code says its schema is (once per scenario)."""
        if version and version not in self._schemas_recorded:
            upgrade_observe.record_schema_info(self.history, schema_info(version))
            self._schemas_recorded.add(version)

    def _attempts(self, params: BaseModel) -> list[Attempt]:
        """The attempts whose remote logs a check needs: one, those of a run, or (no ``run``
        given: ``remote_logs_all`` over every run) those of every run."""
        run = getattr(params, "run", None)
        runs = self._runs()
        if run is None and not getattr(params, "task", None):
            view = View(self.history.snapshot())
            return [a for name in list(runs) for a in self._run_attempts(view, name)]
        if run not in runs:
            return []
        dag_id, run_id = runs[run]
        if getattr(params, "task", None):
            return [(dag_id, run_id, params.task, params.try_number, params.map_index)]
        return self._run_attempts(View(self.history.snapshot()), run)

    def _run_attempts(self, view: View, run: str) -> list[Attempt]:
        """Every attempt of every finished task instance of ``run`` (gather read them just
        now)."""
        return finished_attempts([s[-1]["value"] for s in view.task_series(run).values()])
