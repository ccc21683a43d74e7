"""The config-drift drills' DAG: a secret Variable written once and read back by ``conf.count``
mapped tasks spread over the workers.

With ``conf.write`` the ``write`` task stores a fresh random value in the Variable
``testbed_fernet`` through the Execution API (the api-server encrypts it with *its* fernet key),
and its fingerprint in ``testbed_fernet_fingerprint``; without it, the stored ones stay. Each
``read`` task reads both through the Execution API and fails unless the value's fingerprint is
the one written: a task succeeds only if it read the true value. A failed read's log says what
it saw ("not found", another value). No retries: a read refused is a failed task.
"""

from __future__ import annotations

import hashlib
import secrets
import socket

import pendulum

try:
    from airflow.sdk import Variable, dag, task
except ImportError:  # Airflow 2: the same names, from their Airflow 2 modules
    from airflow.decorators import dag, task
    from airflow.models import Variable

SECRET = "testbed_fernet"
FINGERPRINT = "testbed_fernet_fingerprint"


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["testbed"],
    params={"write": False, "count": 4, "seconds": 3},
    default_args={"retries": 0},
)
def fernet_variable():
    @task
    def write(params=None) -> list[int]:
        if params["write"]:
            value = secrets.token_urlsafe(24)
            Variable.set(SECRET, value)
            Variable.set(FINGERPRINT, _fingerprint(value))
        return list(range(int(params["count"])))

    @task
    def read(i: int, params=None) -> dict:
        import time

        time.sleep(float(params["seconds"]))  # hold a slot: the reads spread over the workers
        host = socket.gethostname()
        seen = _fingerprint(Variable.get(SECRET))  # raises if it cannot be read
        wanted = Variable.get(FINGERPRINT)
        print(f"TESTBED-FERNET read {i} on {host}: fingerprint {seen}, written {wanted}")
        if seen != wanted:
            raise ValueError(f"{SECRET} read as another value on {host} ({seen} != {wanted})")
        return {"hostname": host, "fingerprint": seen}

    read.expand(i=write())


fernet_variable()
