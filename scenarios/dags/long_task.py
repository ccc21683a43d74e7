"""A long task for the fault drills: runs ``conf.seconds`` (default 60) seconds, ticking once a
second, with one retry, so that a lost worker's task is retried elsewhere. The seconds are on
the drill's clock: scaled by the cluster's timescale (``TESTBED_TIMESCALE``), like Airflow's
timers, so a task outlives a detection by the same margin at every timescale."""

from __future__ import annotations

import math
import os
import socket
import time
from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["testbed"],
    params={"seconds": 60},
    default_args={"retries": 1, "retry_delay": timedelta(seconds=2)},
)
def long_task():
    @task
    def work() -> str:
        scale = float(os.environ.get("TESTBED_TIMESCALE", "1"))
        seconds = math.ceil(int(get_current_context()["params"]["seconds"]) * scale)
        host = socket.gethostname()
        for i in range(seconds):
            print(f"TESTBED-TICK {i} on {host}", flush=True)
            time.sleep(1)
        return host

    work()


long_task()
