"""A long-lived deployment's history, seeded into an Airflow 2 metadata database so that an
upgrade's migration meets the row counts a team's does: ``runs`` finished runs of one DAG,
one an hour going back from ``age`` ago, each with ``tasks`` successful task instances and an
XCom per task instance (Airflow 2's JSON-serialized value). The rows are what Airflow 2 writes
for a finished scheduled run; Airflow's 3.0 migrations rewrite ``task_instance`` (a UUID key)
and ``xcom`` (values as JSON), which is why the upgrade guide says old rows make them slow.

SQL over one connection from the host, one transaction; recorded as a ``history_seeded`` event
with the rows each table got and the seconds it took.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from testbed.services import postgres

if TYPE_CHECKING:
    from testbed.cluster import Cluster

RUN_PREFIX = "seeded__"  # the seeded runs' run_id prefix

DAG_RUNS = """
insert into dag_run (dag_id, queued_at, execution_date, start_date, end_date, state, run_id,
                     external_trigger, run_type, data_interval_start, data_interval_end,
                     log_template_id, updated_at, clear_number)
select %(dag)s, ts, ts, ts, ts + interval '1 minute', 'success',
       %(prefix)s || to_char(ts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS'),
       false, 'scheduled', ts - interval '1 hour', ts, (select max(id) from log_template),
       ts + interval '1 minute', 0
from (select now() - %(age)s * interval '1 second' - g * interval '1 hour' as ts
      from generate_series(%(runs)s - 1, 0, -1) g) s  -- oldest first: ids follow time
"""
TASK_INSTANCES = """
insert into task_instance (task_id, dag_id, run_id, map_index, start_date, end_date, duration,
                           state, try_number, max_tries, hostname, unixname, pool, pool_slots,
                           queue, priority_weight, operator, executor, updated_at)
select 'task_' || t, r.dag_id, r.run_id, -1, r.start_date, r.end_date, 60, 'success', 1, 0,
       'worker-1', 'airflow', 'default_pool', 1, 'default', 1, 'PythonOperator', null, r.end_date
from dag_run r cross join generate_series(1, %(tasks)s) t
where r.dag_id = %(dag)s and r.run_id like %(like)s
"""
XCOMS = """
insert into xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp)
select r.id, ti.task_id, -1, 'return_value', r.dag_id, r.run_id,
       convert_to('{"rows": ' || r.id || '}', 'UTF8'), r.end_date
from task_instance ti join dag_run r on r.dag_id = ti.dag_id and r.run_id = ti.run_id
where r.dag_id = %(dag)s and r.run_id like %(like)s
"""


def seed(
    cluster: Cluster, dag: str, runs: int, tasks: int, age_s: float, *, timeout: float
) -> dict[str, int]:
    """Insert the history in at most ``timeout`` s; return the rows each table got."""
    params = {"dag": dag, "runs": runs, "tasks": tasks, "age": age_s, "prefix": RUN_PREFIX,
              "like": RUN_PREFIX.replace("_", r"\_") + "%"}  # fmt: skip
    t0 = time.monotonic()
    added = postgres.transaction(
        cluster, [("dag_run", DAG_RUNS), ("task_instance", TASK_INSTANCES), ("xcom", XCOMS)],
        params, timeout=timeout,
    )  # fmt: skip
    cluster.history.append(
        "history_seeded", dag=dag, rows=added, seconds=round(time.monotonic() - t0, 3)
    )
    return added
