"""A long task for the fault drills: runs ``conf.seconds`` (default 60) seconds, ticking once a
second, with one retry, so that a lost worker's task is retried elsewhere. The seconds are on
the drill's clock: scaled by the cluster's timescale (``TESTBED_TIMESCALE``), like Airflow's
timers, so a task outlives a detection by the same margin at every timescale.

``conf.retry_seconds`` (default 0: as long as the first): how long a later try runs, so a drill
that waits for the retry to succeed waits for the recovery, not for the task's length again.

``conf.memory_mb`` (default 0): the first try holds that much memory, touched page by page, one
tick in (the memory drills' load; a retry holds none, so it shows what the recovery does)."""

from __future__ import annotations

import math
import os
import socket
import time
from datetime import timedelta

import pendulum

try:
    from airflow.sdk import dag, get_current_context, task
except ImportError:  # Airflow 2: the same names, from their Airflow 2 modules
    from airflow.decorators import dag, task
    from airflow.operators.python import get_current_context


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["testbed"],
    params={"seconds": 60, "retry_seconds": 0, "memory_mb": 0},
    default_args={"retries": 1, "retry_delay": timedelta(seconds=2)},
)
def long_task():
    @task
    def work() -> str:
        context = get_current_context()
        first_try = context["ti"].try_number == 1
        seconds = _seconds(context["params"], first_try)
        held, host = [], socket.gethostname()
        for i in range(seconds):
            print(f"TESTBED-TICK {i} on {host}", flush=True)
            if i == 1 and first_try and int(context["params"]["memory_mb"]):
                held.append(_memory(int(context["params"]["memory_mb"])))
            time.sleep(1)
        return host

    work()


def _seconds(params: dict, first_try: bool) -> int:
    """This try's length on the drill's clock: ``seconds``, or ``retry_seconds`` after the first."""
    given = params["seconds"] if first_try else (params.get("retry_seconds") or params["seconds"])
    return math.ceil(int(given) * float(os.environ.get("TESTBED_TIMESCALE", "1")))


def _memory(mb: int) -> bytearray:
    """``mb`` MiB, every page written (so the kernel must really provide it)."""
    print(f"TESTBED-MEMORY holding {mb} MiB", flush=True)
    block = bytearray(mb * 2**20)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    return block


long_task()
