"""A long task with no retry (``conf.seconds``, default 60, on the drill's clock like
``long_task``): what happens to a task killed with the process that ran it when nothing retries
it (the LocalExecutor's scheduler kill: the guide says to clear such tasks by hand). When it runs
again anyway (a new scheduler resets it), ``conf.retry_seconds`` (default 0: as long as the
first) is that try's length, as in ``long_task``."""

from __future__ import annotations

import math
import os
import socket
import time

import pendulum

try:
    from airflow.sdk import dag, get_current_context, task
except ImportError:  # Airflow 2: the same names, from their Airflow 2 modules
    from airflow.decorators import dag, task
    from airflow.operators.python import get_current_context


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["testbed"],
    params={"seconds": 60, "retry_seconds": 0},
    default_args={"retries": 0},
)
def no_retry():
    @task
    def work() -> str:
        context = get_current_context()
        params, later = context["params"], context["ti"].try_number > 1
        given = params.get("retry_seconds") if later else 0
        scale = float(os.environ.get("TESTBED_TIMESCALE", "1"))
        seconds = math.ceil(int(given or params["seconds"]) * scale)
        host = socket.gethostname()
        for i in range(seconds):
            print(f"TESTBED-TICK {i} on {host} try {context['ti'].try_number}", flush=True)
            time.sleep(1)
        return host

    work()


no_retry()
