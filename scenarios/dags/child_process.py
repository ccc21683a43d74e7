"""A task that starts a child process and waits on it (as a BashOperator's shell, a virtualenv
or a ``docker run`` does), for the drills about what happens to a task's children when its
process is killed. The child is ``sh`` looping on ``sleep 1`` with ``testbed-child`` as its
name (``$0``), so a process check finds it by its command line; the task waits ``conf.seconds``
(default 120, on the drill's clock) and then ends its child. An orphan of an earlier run is
ended first, so each run judges its own child. No retries: a second try would start a second
child."""

from __future__ import annotations

import math
import os
import subprocess

import pendulum

try:
    from airflow.sdk import dag, get_current_context, task
except ImportError:  # Airflow 2: the same names, from their Airflow 2 modules
    from airflow.decorators import dag, task
    from airflow.operators.python import get_current_context

CHILD = ["sh", "-c", "while :; do sleep 1; done", "testbed-child"]


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["testbed"],
    params={"seconds": 120},
    default_args={"retries": 0},
)
def child_process():
    @task
    def spawn() -> int:
        scale = float(os.environ.get("TESTBED_TIMESCALE", "1"))
        seconds = math.ceil(int(get_current_context()["params"]["seconds"]) * scale)
        subprocess.run(["pkill", "-f", CHILD[-1]], check=False)  # an earlier run's orphan
        child = subprocess.Popen(CHILD)
        print(f"TESTBED-CHILD started pid {child.pid}", flush=True)
        try:
            return child.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            child.terminate()
            return child.wait()

    spawn()


child_process()
