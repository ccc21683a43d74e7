"""A DAG written for Airflow 2 that Airflow 3 no longer imports: ``airflow.operators.dummy``
is gone in Airflow 3 (ruff's AIR302: ``EmptyOperator``, from the standard provider, takes its
place). It imports on 2.11.2; the 2 -> 3 upgrade's pre-flight must catch it before anything
stops (``upgrade_2_to_3_preflight``)."""

from __future__ import annotations

import pendulum
from airflow import DAG
from airflow.operators.dummy import DummyOperator

with DAG(
    "legacy_report",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["testbed"],
):
    DummyOperator(task_id="noop")
