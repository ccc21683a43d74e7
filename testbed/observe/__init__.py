"""Probes: one bounded look at the cluster, recorded in the history as an observation.

A probe that gets no answer within its timeout records ``error="timeout"`` (Jepsen's unknown
outcome): an observation, never a crash (:mod:`~testbed.observe.core`). The probes, by subject:

- :mod:`~testbed.observe.health`: the API's and the schedulers' health, ``airflow jobs check``,
  the configuration in force;
- :mod:`~testbed.observe.tasks`: task instances, scheduler jobs, ``log`` table events;
- :mod:`~testbed.observe.logs`: remote task-log lookups;
- :mod:`~testbed.observe.kerberos`: the Kerberos probes and their gatherers (:data:`GATHERERS`);
- :mod:`~testbed.observe.observer`: the background :class:`Observer` loop.

The bounds (``PROBE_TIMEOUT``, ``DEADLINE_SLACK``) and the task-instance ``KEEPALIVE`` are
read where they are defined (``core``, ``tasks``) and deliberately not re-exported here: set
them there.
"""

from testbed.observe import core, health, kerberos, logs, observer, tasks
from testbed.observe.core import describe_error, observe
from testbed.observe.health import (
    CONFIG_SCRIPT,
    JOB_TYPES,
    NoAPIAnswer,
    api_health,
    config_in_force,
    jobs_check,
    scheduler_health,
)
from testbed.observe.kerberos import (
    GATHERERS,
    KERBEROS_THROTTLE,
    SERVICE_LOG_GATHERERS,
    XCOM_SQL,
    gather_kerberos_tasks,
    gather_kerberos_tickets,
    gather_keytab_scans,
    gather_service_log,
    kerberos_results,
    kerberos_ticket,
    keytab_scan,
    service_log,
)
from testbed.observe.logs import KERBEROS_LOG_LINE, failed_task_logs
from testbed.observe.observer import Observer
from testbed.observe.tasks import TI_KEYS, TI_SQL, log_events, scheduler_jobs, task_instances

__all__ = [
    "CONFIG_SCRIPT",
    "GATHERERS",
    "JOB_TYPES",
    "KERBEROS_LOG_LINE",
    "KERBEROS_THROTTLE",
    "SERVICE_LOG_GATHERERS",
    "TI_KEYS",
    "TI_SQL",
    "XCOM_SQL",
    "NoAPIAnswer",
    "Observer",
    "api_health",
    "config_in_force",
    "core",
    "describe_error",
    "failed_task_logs",
    "gather_kerberos_tasks",
    "gather_kerberos_tickets",
    "gather_keytab_scans",
    "gather_service_log",
    "health",
    "jobs_check",
    "kerberos",
    "kerberos_results",
    "kerberos_ticket",
    "keytab_scan",
    "log_events",
    "logs",
    "observe",
    "observer",
    "scheduler_health",
    "scheduler_jobs",
    "service_log",
    "task_instances",
    "tasks",
]
