"""The smoke drill's DAG: one task that prints a marker and the worker it ran on."""

from __future__ import annotations

import socket

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
)
def smoke():
    @task
    def hello() -> str:
        host = socket.gethostname()
        print(f"TESTBED-SMOKE-MARKER ran on {host}")
        return host

    hello()


smoke()
