"""The DAG-drift drills' DAG: ``conf.count`` mapped tasks spread over the workers, each failing
unless the code it runs is this file's ``VERSION`` (``conf.expect``, default the current one).
A node holding an older copy of this file (``scenarios/stale/drift_probe.py``) runs that copy's
code: its tasks fail, saying which version they ran and where. No retries."""

from __future__ import annotations

import socket
import time

import pendulum

try:
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2: the same names, from their Airflow 2 modules
    from airflow.decorators import dag, task

VERSION = "2"


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["testbed"],
    params={"count": 6, "seconds": 3, "expect": VERSION},
    default_args={"retries": 0},
)
def drift_probe():
    @task
    def items(params=None) -> list[int]:
        return list(range(int(params["count"])))

    @task
    def which(i: int, params=None) -> str:
        time.sleep(float(params["seconds"]))  # hold a slot: the tasks spread over the workers
        host = socket.gethostname()
        print(f"TESTBED-DRIFT {i} on {host}: drift_probe version {VERSION}")
        wanted = params["expect"]
        if wanted != VERSION:
            raise ValueError(f"ran version {VERSION} of drift_probe on {host}, not {wanted}")
        return host

    which.expand(i=items())


drift_probe()
