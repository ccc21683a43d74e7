"""A report task that needs an extra package (pyfiglet, from requirements.txt) and a helper
module from a subfolder of the DAG folder (common/naming.py)."""

from __future__ import annotations

import socket

import pendulum
from airflow.sdk import dag, get_current_context, task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["own-deployment"],
)
def banner_report():
    @task
    def render() -> str:
        import pyfiglet  # the extra package: imported in the task, as a real DAG would
        from common.naming import report_name

        name = report_name(get_current_context()["run_id"])
        print(pyfiglet.figlet_format("report"), flush=True)
        print(f"OWN-DEPLOYMENT rendered {name} on {socket.gethostname()}", flush=True)
        return name

    render()


banner_report()
