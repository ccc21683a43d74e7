"""A DAG that runs on Airflow 2 and 3 alike (its names from ``airflow.sdk``, or on Airflow 2
from their Airflow 2 modules): the deployment's work that must go on running."""

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
def nightly():
    @task
    def load() -> str:
        return socket.gethostname()

    load()


nightly()
