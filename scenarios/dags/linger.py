"""A short task whose success callback lingers: the task runs ``conf.seconds`` (default 3) and
reports its success, then its ``on_success_callback`` sleeps ``conf.linger`` seconds (default
20) before the task's process exits, both on the drill's clock. A drill can fault what happens
between the two: the success report and the supervisor's last acts at the process's exit."""

from __future__ import annotations

import math
import os
import time
from datetime import timedelta

import pendulum

try:
    from airflow.sdk import dag, get_current_context, task
except ImportError:  # Airflow 2: the same names, from their Airflow 2 modules
    from airflow.decorators import dag, task
    from airflow.operators.python import get_current_context


def _seconds(name: str, context) -> int:
    scale = float(os.environ.get("TESTBED_TIMESCALE", "1"))
    return math.ceil(int(context["params"][name]) * scale)


def _linger(context) -> None:
    print("TESTBED-LINGER in the success callback", flush=True)
    time.sleep(_seconds("linger", context))


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["testbed"],
    params={"seconds": 3, "linger": 20},
    default_args={"retries": 1, "retry_delay": timedelta(seconds=2)},
)
def linger():
    @task(on_success_callback=_linger)
    def work() -> None:  # no XCom: the success report is the task's only call at its end
        time.sleep(_seconds("seconds", get_current_context()))

    work()


linger()
