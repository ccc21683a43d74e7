"""Many short tasks in one run (``conf.count`` mapped tasks, default 8): the "no task lost"
drills trigger a few of these while a link is down. Retries (6, 10 s apart) cover a broker
outage of about a minute: a task the scheduler cannot hand to Celery is failed and retried
(a 30 s Redis outage measured here used 3 of them)."""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import pendulum

try:
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2: the same names, from their Airflow 2 modules
    from airflow.decorators import dag, task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["testbed"],
    params={"count": 8, "seconds": 2},
    default_args={"retries": 6, "retry_delay": timedelta(seconds=10)},
)
def many_tasks():
    @task
    def items(params=None) -> list[int]:
        return list(range(int(params["count"])))

    @task
    def one(i: int, params=None) -> str:
        time.sleep(int(params["seconds"]))
        return f"{i} on {socket.gethostname()}"

    one.expand(i=items())


many_tasks()
