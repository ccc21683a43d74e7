"""A classic-style ETL DAG (``with DAG(...)`` and operators): extract runs ``conf.seconds``
seconds (default 20) and has two retries, so a worker lost under it is survivable."""

from __future__ import annotations

import socket
import time
from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG


def extract(params=None) -> int:
    seconds = int((params or {}).get("seconds", 20))
    for i in range(seconds):
        print(f"OWN-DEPLOYMENT extract tick {i} on {socket.gethostname()}", flush=True)
        time.sleep(1)
    return seconds


def load(ti=None) -> None:
    rows = ti.xcom_pull(task_ids="extract")
    print(f"OWN-DEPLOYMENT loaded {rows} rows on {socket.gethostname()}", flush=True)


with DAG(
    dag_id="nightly_etl",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"seconds": 20},
    default_args={"retries": 2, "retry_delay": timedelta(seconds=2)},
    tags=["own-deployment"],
):
    PythonOperator(task_id="extract", python_callable=extract) >> PythonOperator(
        task_id="load", python_callable=load
    )
