"""A later version of scenarios/dags/drift_probe.py (after deploys/drift_probe.py), as a
second deploy pushes it: the same DAG, a newer VERSION."""

from __future__ import annotations

import socket
import time

import pendulum
from airflow.sdk import dag, task

VERSION = "4"  # the version after that (dag_bundle_versioned deploys it before an outage)


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
