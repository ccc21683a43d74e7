"""The Kerberos drills' DAG: ``conf.count`` mapped tasks, each connecting to the kerberized
Postgres (connection ``pg_krb``: GSSAPI only, no password) with the ticket its worker's sidecar
refreshes, and returning what the *server* says about that session (``pg_stat_gssapi``: was it
GSS-authenticated, encrypted, as which principal) beside the worker's host name. The checks
compare that principal with the host the metadata database says ran the task.

No retries: a drill must see a task fail when its worker's ticket is gone. A failure's log keeps
libpq's GSSAPI error (e.g. "Cannot contact any KDC", "Ticket expired")."""

from __future__ import annotations

import os
import socket
import time

import pendulum

try:
    from airflow.sdk import Connection, dag, task
except ImportError:  # Airflow 2: the same names, from their Airflow 2 modules
    from airflow.decorators import dag, task
    from airflow.models import Connection

GSSAPI_SQL = (
    "select gss_authenticated, principal, encrypted, current_user "
    "from pg_stat_gssapi where pid = pg_backend_pid()"
)


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["testbed", "kerberos"],
    params={"count": 8, "seconds": 3},
    default_args={"retries": 0},
)
def kerberized():
    @task
    def items(params=None) -> list[int]:
        return list(range(int(params["count"])))

    @task
    def whoami(i: int, params=None) -> dict:
        import psycopg2

        time.sleep(float(params["seconds"]))  # hold a slot: the runs spread over the workers
        host = socket.gethostname()
        print(f"TESTBED-KRB {i} on {host} KRB5CCNAME={os.environ.get('KRB5CCNAME')}")
        c = Connection.get("pg_krb")
        conn = psycopg2.connect(
            host=c.host, port=c.port, dbname=c.schema, user=c.login, **c.extra_dejson
        )
        try:
            with conn.cursor() as cur:
                cur.execute(GSSAPI_SQL)
                gss, principal, encrypted, user = cur.fetchone()
        finally:
            conn.close()
        names = ("KRB5_KTNAME", "KRB5_CLIENT_KTNAME")
        keytab_env = {k: os.environ[k] for k in names if k in os.environ}
        seen = {
            "hostname": host,
            "gss_authenticated": gss,
            "principal": principal,
            "encrypted": encrypted,
            "user": user,
            "krb5ccname": os.environ.get("KRB5CCNAME"),
            # what the task's own environment names as a keytab, and whether such a file exists
            "keytab_env": keytab_env,
            "keytab_env_exists": any(
                os.path.exists(v.removeprefix("FILE:")) for v in keytab_env.values()
            ),
        }
        print(f"TESTBED-KRB pg_stat_gssapi {seen}")
        return seen

    whoami.expand(i=items())


kerberized()
