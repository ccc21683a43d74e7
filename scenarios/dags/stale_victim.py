"""Two DAGs for the drill about a DAG going stale while a row lock is held: ``victim_probe``
always, and ``stale_victim`` only while the Airflow Variable ``testbed_victim`` is not ``off``
(read when the file is parsed). ``victim_probe``'s task sets it off, so the next parse no
longer defines ``stale_victim``, and the dag-processor's periodic scan marks it stale: an
``UPDATE`` of its row in ``dag``. Reading the Variable never fails the parse (a file with an
import error takes another path)."""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import Variable, dag, task
except ImportError:  # Airflow 2: the same names, from their Airflow 2 modules
    from airflow.decorators import dag, task
    from airflow.models import Variable

SWITCH = "testbed_victim"
START = pendulum.datetime(2024, 1, 1, tz="UTC")


@dag(schedule=None, start_date=START, catchup=False, tags=["testbed"])
def victim_probe():
    @task
    def switch_off() -> str:
        Variable.set(SWITCH, "off")
        return "off"

    switch_off()


victim_probe()


def _victim_wanted() -> bool:
    try:
        return Variable.get(SWITCH, default="on") != "off"
    except Exception:  # noqa: BLE001 - the parse must not fail: keep the DAG
        return True


if _victim_wanted():

    @dag(dag_id="stale_victim", schedule=None, start_date=START, catchup=False, tags=["testbed"])
    def stale_victim():
        @task
        def noop() -> None:
            return None

        noop()

    stale_victim()
