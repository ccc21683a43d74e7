"""A daily DAG of the kind a team runs on Airflow 2, written so that it runs on Airflow 3 too:
the names from ``airflow.sdk`` where it exists, else from their Airflow 2 modules (replace it
with your own DAGs to rehearse your upgrade: docs/airflow3-upgrade.md)."""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2: the same names, from their Airflow 2 modules
    from airflow.decorators import dag, task


@dag(
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["example"],
)
def my_daily_dag():
    @task
    def extract() -> list[int]:
        return [1, 2, 3]

    @task
    def load(rows: list[int]) -> int:
        print(f"loaded {len(rows)} rows")
        return len(rows)

    load(extract())


my_daily_dag()
