"""One long task per executor of a hybrid deployment (``[core] executor =
CeleryExecutor,KubernetesExecutor``, what the chart's CeleryKubernetesExecutor became in
Airflow 3): ``on_celery`` runs on a Celery worker (the first executor, the default),
``on_kubernetes`` in a pod of its own (``executor="KubernetesExecutor"``). Each runs
``conf.seconds`` (default 60) seconds on the drill's clock (``TESTBED_TIMESCALE``), with one
retry; ``conf.kubernetes_seconds``, when given, is ``on_kubernetes``'s own (a task pod that must
outlive a Celery task).

Defined only where both executors are configured: elsewhere a task naming an executor that is
not configured makes the file an import error."""

from __future__ import annotations

import math
import os
import socket
import time
from datetime import timedelta

import pendulum
from airflow.configuration import conf

try:
    from airflow.sdk import dag, get_current_context, task
except ImportError:  # Airflow 2: the same names, from their Airflow 2 modules
    from airflow.decorators import dag, task
    from airflow.operators.python import get_current_context

EXECUTORS = {e.strip() for e in conf.get("core", "executor").split(",")}


def _run(param: str = "seconds") -> str:
    params = get_current_context()["params"]
    seconds = int(params.get(param) or params["seconds"])
    scale = float(os.environ.get("TESTBED_TIMESCALE", "1"))
    host = socket.gethostname()
    for i in range(math.ceil(seconds * scale)):
        print(f"TESTBED-TICK {i} on {host}", flush=True)
        time.sleep(1)
    return host


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["testbed"],
    params={"seconds": 60, "kubernetes_seconds": 0},
    default_args={"retries": 1, "retry_delay": timedelta(seconds=2)},
)
def hybrid_task():
    @task
    def on_celery() -> str:
        return _run()

    @task(executor="KubernetesExecutor")
    def on_kubernetes() -> str:
        return _run("kubernetes_seconds")

    on_celery()
    on_kubernetes()


if {"CeleryExecutor", "KubernetesExecutor"} <= EXECUTORS:
    hybrid_task()
