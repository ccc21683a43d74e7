"""The names the scenario DSL uses for checks: each with its function, its parameter model,
and the probes the engine must run before evaluating it (checks themselves stay pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from testbed.checks import (
    concurrency,
    config,
    diagnostics,
    drift,
    health,
    kerberos,
    local,
    logs,
    node_log,
    outcome,
    processes,
    tasks,
    upgrade,
)
from testbed.checks.result import CheckResult
from testbed.checks.view import View
from testbed.core.errors import ScenarioError


@dataclass(frozen=True)
class CheckSpec:
    name: str
    fn: Callable[[View, BaseModel], CheckResult]
    params: type[BaseModel]
    needs: tuple[str, ...] = ()  # extra probes: "remote_log", "scheduler_job", "log_event",
    # "schema", "pg_locks" (testbed.upgrade.observe); "kerberos_task", "kerberos_ticket",
    # "keytab_scan", "service_log" (testbed.observe.kerberos); "processes"
    # (testbed.observe.processes); "node_log" (testbed.observe.node_log); "node_config"
    # (testbed.observe.node_config); "task_log" (testbed.observe.logs)

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip().splitlines()[0] if self.fn.__doc__ else ""

    def evaluate(self, events: list[dict], params: BaseModel, since: float | None = None):
        return self.fn(View(events, since=since), params)


REGISTRY: dict[str, CheckSpec] = {
    s.name: s
    for s in (
        CheckSpec("health_flipped", health.health_flipped, health.AfterFaultParams),
        CheckSpec("health_recovered", health.health_recovered, health.AfterFaultParams),
        CheckSpec("health_stable", health.health_stable, health.HealthParams),
        CheckSpec("healthy", health.healthy, health.HealthParams),
        CheckSpec("probe_answered", health.probe_answered, health.AnsweredParams),
        CheckSpec("task_adopted", tasks.task_adopted, tasks.AdoptedParams, ("scheduler_job",)),
        CheckSpec("task_retried", tasks.task_retried, tasks.RetriedParams, ("log_event",)),
        CheckSpec("no_task_lost", tasks.no_task_lost, tasks.NoLossParams),
        CheckSpec("remote_log", logs.remote_log, logs.RemoteLogParams, ("remote_log",)),
        CheckSpec("remote_logs_all", logs.remote_logs_all, logs.AllLogsParams, ("remote_log",)),
        CheckSpec(
            "process_running", processes.process_running, processes.ProcessParams, ("processes",)
        ),
        CheckSpec("logged", node_log.logged, node_log.LoggedParams, ("node_log",)),
        CheckSpec("config_in_force", config.config_in_force, config.ConfigParams),
        CheckSpec("config_drift", drift.config_drift, drift.DriftParams, ("node_config",)),
        CheckSpec("task_outcome", outcome.task_outcome, outcome.OutcomeParams, ("task_log",)),
        CheckSpec("running_at_once", concurrency.running_at_once, concurrency.ConcurrencyParams),
        CheckSpec("stack_shows", diagnostics.stack_shows, diagnostics.StackParams),
        CheckSpec("schema_head", upgrade.schema_head, upgrade.SchemaHeadParams, ("schema",)),
        CheckSpec(
            "no_migration_lock", upgrade.no_migration_lock, upgrade.LockParams, ("pg_locks",)
        ),
        CheckSpec("versions_in_force", upgrade.versions_in_force, upgrade.VersionsParams),
        CheckSpec("component_refused", upgrade.component_refused, upgrade.RefusedParams),
        CheckSpec("drained_cleanly", upgrade.drained_cleanly, upgrade.DrainedParams),
        CheckSpec("killed_tasks", local.killed_tasks, local.KilledParams),
        CheckSpec("exited", upgrade.exited, upgrade.ExitedParams),
        CheckSpec("migrators_overlapped", upgrade.migrators_overlapped, upgrade.OverlapParams),
        CheckSpec(
            "kerberos_authenticated",
            kerberos.kerberos_authenticated,
            kerberos.AuthParams,
            ("kerberos_task",),
        ),
        CheckSpec(
            "kerberos_refused",
            kerberos.kerberos_refused,
            kerberos.RefusedParams,
            ("kerberos_task", "service_log"),
        ),
        CheckSpec("keytab_absent", kerberos.keytab_absent, kerberos.NodesParams, ("keytab_scan",)),
        CheckSpec(
            "worker_cache_read_only",
            kerberos.worker_cache_read_only,
            kerberos.NodesParams,
            ("keytab_scan",),
        ),
        CheckSpec(
            "ticket_refreshed",
            kerberos.ticket_refreshed,
            kerberos.TicketParams,
            ("kerberos_ticket",),
        ),
        CheckSpec(
            "ticket_valid", kerberos.ticket_valid, kerberos.ValidParams, ("kerberos_ticket",)
        ),
        CheckSpec(
            "node_stayed_up",
            kerberos.node_stayed_up,
            kerberos.StayedUpParams,
            ("kerberos_ticket",),
        ),
        CheckSpec(
            "node_restarted",
            kerberos.node_restarted,
            kerberos.StayedUpParams,
            ("kerberos_ticket",),
        ),
    )
}


def get(name: str) -> CheckSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ScenarioError(
            f"unknown check {name!r}; allowed: {', '.join(sorted(REGISTRY))}"
        ) from None
