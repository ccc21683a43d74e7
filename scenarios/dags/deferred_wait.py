"""A deferred task for the triggerer drills: ``wait`` defers itself to the triggerer until
``conf.seconds`` (default 60; on the drill's clock, scaled by ``TESTBED_TIMESCALE``) after it
started, then ends on a worker. While it is deferred only a triggerer runs it: a triggerer that
stalls holds it."""

from __future__ import annotations

import math
import os
import socket
from datetime import timedelta

import pendulum

try:
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger
    from airflow.sdk import BaseOperator, dag
except ImportError:  # Airflow 2: the same names, from their Airflow 2 modules
    from airflow.decorators import dag
    from airflow.models import BaseOperator
    from airflow.triggers.temporal import DateTimeTrigger


class WaitDeferred(BaseOperator):
    """Defer to a DateTimeTrigger ``seconds`` from now; resume on a worker when it fires."""

    def execute(self, context):
        scale = float(os.environ.get("TESTBED_TIMESCALE", "1"))
        seconds = math.ceil(int(context["params"]["seconds"]) * scale)
        moment = pendulum.now("UTC").add(seconds=seconds)
        print(f"TESTBED-DEFER until {moment.isoformat()} from {socket.gethostname()}", flush=True)
        self.defer(trigger=DateTimeTrigger(moment=moment), method_name="resume")

    def resume(self, context, event=None):
        print(f"TESTBED-RESUMED on {socket.gethostname()}", flush=True)


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["testbed"],
    params={"seconds": 60},
    default_args={"retries": 0, "retry_delay": timedelta(seconds=2)},
)
def deferred_wait():
    WaitDeferred(task_id="wait")


deferred_wait()
